import {execFileSync} from 'node:child_process';
import {createHash, randomBytes} from 'node:crypto';
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {execa} from 'execa';
import r from 'rethinkdb';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {shq} from '../../source/shell.js';
import {clusterPassword, connectThrough, openTunnel} from './database.js';
import {CLI, cli, describeWithEngine, dockerIn, newHome, purge, rethinkdbImage, uniqueName} from './helpers.js';

/**
 * An application on the cluster, end to end with the real RethinkDB 2.4.4:
 * the example app (examples/hello) built on this machine, `load`ed onto a
 * 1+2 cluster's nodes, `deploy`ed with three replicas, its own database user
 * (password a Swarm secret) and a secret of its own, rotated while a client
 * calls it; its rows read back with the admin password; `undeploy` leaves
 * them. Every bad stack file is refused before anything changes.
 */

const EXAMPLE = path.resolve(import.meta.dirname, '../../examples/hello');
const NODES = ['queenbee', 'workerbee-1', 'workerbee-2'];

describeWithEngine('apps: load, deploy, its own database user and secrets, undeploy', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-apps');
	const tag = `swarmbee-${name}-hello:1`;
	const node = (n: string) => `swarmbee-${name}-${n}`;
	const manager = node('queenbee');
	const files = path.join(home, 'files');
	let admin: string;
	const firstKey = randomBytes(32).toString('base64');
	const secondKey = randomBytes(32).toString('base64');
	const written: string[] = [];
	let rowsBefore = 0;

	/** swarmbee with its standard input from `input` (a secret's value), as a user pipes it in. */
	const cliWithInput = async (args: string[], input: string) => {
		const result = await execa('node', [CLI, ...args], {reject: false, env: {SWARMBEE_HOME: home}, input});
		return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)};
	};
	const deploy = (file: string, ...more: string[]) =>
		cli(['deploy', name, file, ...more, '--plain'], home, {HELLO_IMAGE: tag});
	const appServices = () =>
		dockerIn(manager, "docker service ls --format '{{.Name}}'")
			.split('\n')
			.filter(s => s && !s.startsWith('swarmbee_'));
	/** A task of the app's service on whichever node has one (a container id there). */
	const appTask = (): {node: string; id: string} => {
		for (const n of NODES) {
			const id = dockerIn(node(n), 'docker ps -q --filter label=com.docker.swarm.service.name=hello_web').split(
				'\n',
			)[0];
			if (id) return {node: node(n), id};
		}
		throw new Error('no task of hello_web runs on any node');
	};
	/** Runs Node in a throwaway container of the app's image on the overlay, as another service would. */
	const onOverlay = (script: string) =>
		dockerIn(manager, `docker run --rm --network swarmbee ${shq(tag)} node -e ${shq(script)}`);

	beforeAll(async () => {
		mkdirSync(files, {recursive: true});
		// The example's Dockerfile copies the driver from node_modules (it builds offline from debian:bookworm).
		if (!existsSync(path.join(EXAMPLE, 'node_modules', 'rethinkdb')))
			execFileSync('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], {cwd: EXAMPLE, stdio: 'ignore'});
		execFileSync('docker', ['build', '-q', '-t', tag, EXAMPLE], {stdio: 'ignore'});
		const image = await rethinkdbImage();
		const up = await cli(
			['up', name, '--workers', '2', '--managers', '1', '--rethinkdb-image', image, '--yes', '--plain'],
			home,
		);
		expect(up.stderr).toBe('');
		expect(up.exitCode).toBe(0);
		admin = clusterPassword(home, name);
	});
	afterAll(() => {
		purge(name);
		try {
			execFileSync('docker', ['rmi', tag], {stdio: 'ignore'});
		} catch {
			// Already gone.
		}
		remove();
	});

	it('every bad stack file and app name is refused with its line and fix, before anything changes', async () => {
		const bad = (folder: string, text: string) => {
			mkdirSync(path.join(files, folder), {recursive: true});
			const file = path.join(files, folder, 'stack.yml');
			writeFileSync(file, text);
			return file;
		};
		const cases: Array<{file: string; args?: string[]; says: RegExp[]}> = [
			{file: bad('yaml', 'services:\n  web:\n    image: a\n   ports: [1\n'), says: [/stack\.yml:\d+: not valid YAML/]},
			{
				file: bad(
					'ports',
					`services:\n  web:\n    image: ${tag}\n    ports:\n      - "28015:8000"\n      - "80:8000"\n`,
				),
				says: [/stack\.yml:5: web: port 28015 is the database’s driver port/, /port 80 is the edge’s/],
			},
			{
				file: bad('rights', `services:\n  web:\n    image: ${tag}\n    privileged: true\n    network_mode: host\n`),
				says: [/stack\.yml:4: web: privileged/, /stack\.yml:5: web: network_mode: host/],
			},
			{
				file: bad(
					'socket',
					`services:\n  web:\n    image: ${tag}\n    volumes:\n      - /var/run/docker.sock:/var/run/docker.sock\n`,
				),
				args: ['--allow-host-access'],
				says: [/mounts \/var\/run\/docker\.sock/],
			},
			{
				file: bad('hostmount', `services:\n  web:\n    image: ${tag}\n    volumes:\n      - /etc:/host-etc\n`),
				says: [/--allow-host-access/],
			},
			{
				file: bad('secret', `services:\n  web:\n    image: ${tag}\n    secrets: [api_key]\nsecrets:\n  api_key: {}\n`),
				says: [/secret api_key has no value on e2e-apps-\w+ yet/, /swarmbee secret e2e-apps-\w+ set secret api_key/],
			},
			{
				file: bad('image', 'services:\n  web:\n    image: swarmbee-no-such-image:7\n'),
				says: [/image swarmbee-no-such-image:7 is neither on this machine’s engine nor on the nodes/],
			},
			{
				file: bad('taken', `services:\n  web:\n    image: ${tag}\n`),
				args: ['--app', 'swarmbee'],
				says: [/swarmbee is taken/],
			},
		];
		for (const {file, args = [], says} of cases) {
			const result = await deploy(file, ...args);
			expect(result.exitCode, `${file}: ${result.stdout}${result.stderr}`).toBe(2);
			for (const pattern of says) expect(result.stderr).toMatch(pattern);
		}
		// Nothing was made: no service, no secret, no network of an app, no database user or database.
		expect(appServices()).toEqual([]);
		expect(dockerIn(manager, "docker secret ls --filter label=swarmbee.app --format '{{.Name}}'")).toBe('');
		expect(dockerIn(manager, "docker network ls --filter label=com.docker.stack.namespace --format '{{.Name}}'")).toBe(
			'',
		);
		const tunnel = await openTunnel(name, home);
		try {
			const connection = await connectThrough(tunnel, admin);
			const users = await (await r.db('rethinkdb').table('users').getField('id').run(connection)).toArray();
			expect(users).toEqual(['admin']);
			expect(await r.dbList().run(connection)).not.toContain('yaml');
			await connection.close();
		} finally {
			await tunnel.close();
		}
	});

	it('load puts the image built here onto every node, and only where it is missing', async () => {
		const id = execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tag], {encoding: 'utf8'}).trim();
		const first = await cli(['load', name, tag, '--plain'], home);
		expect(first.stderr).toBe('');
		expect(first.exitCode).toBe(0);
		expect(first.stdout).toContain(`${tag}: loaded onto ${NODES.join(', ')}`);
		for (const n of NODES) expect(dockerIn(node(n), `docker image inspect -f '{{.Id}}' ${shq(tag)}`)).toBe(id);
		const again = await cli(['load', name, tag, '--plain'], home);
		expect(again.exitCode).toBe(0);
		expect(again.stdout).toContain(`${tag}: on all 3 nodes already`);
		const missing = await cli(['load', name, 'swarmbee-no-such-image:7', '--plain'], home);
		expect(missing.exitCode).toBe(2);
		expect(missing.stderr).toMatch(/swarmbee-no-such-image:7/);
	});

	it('secret set reads the value from a file or standard input, never shows it', async () => {
		const keyFile = path.join(files, 'session-key');
		writeFileSync(keyFile, firstKey, {mode: 0o600});
		const set = await cli(['secret', name, 'set', 'hello', 'session_key', '--from-file', keyFile, '--json'], home);
		expect(set.exitCode).toBe(0);
		expect(set.stdout + set.stderr).not.toContain(firstKey);
		const ls = await cli(['secret', name, 'ls', 'hello', '--json'], home);
		expect(ls.exitCode).toBe(0);
		expect(ls.stdout).not.toContain(firstKey);
		expect(JSON.parse(ls.stdout).secrets).toEqual([expect.objectContaining({key: 'session_key'})]);
		// From argv there is no way to give it: the extra word is refused.
		const argv = await cli(['secret', name, 'set', 'hello', 'session_key', firstKey], home);
		expect(argv.exitCode).toBe(2);
		expect(argv.stderr).not.toContain(firstKey);
	});

	it('deploy: three replicas ready, each answers on the overlay, and the rows it writes are in its database', async () => {
		const result = await deploy(path.join(EXAMPLE, 'stack.yml'));
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toMatch(
			/✔ The app’s database user \([^)]+\): user hello created with read, write and config on database hello only/,
		);
		expect(result.stdout).toMatch(/✔ Every replica ready \([^)]+\): web 3\/3/);
		const apps = JSON.parse((await cli(['apps', name, '--json'], home)).stdout);
		expect(apps.apps).toEqual([
			expect.objectContaining({
				name: 'hello',
				services: [expect.objectContaining({service: 'web', running: 3, desired: 3})],
			}),
		]);

		// Every replica by its own address (the service's DNS lists the three tasks), then rows written through it.
		const answers = JSON.parse(
			onOverlay(`
const dns = require('node:dns/promises'); const http = require('node:http');
const call = (host, method, path, body) => new Promise((resolve, reject) => {
	const request = http.request({host, port: 8000, method, path, headers: {'content-type': 'application/json'}}, response => {
		let text = ''; response.on('data', c => (text += c)); response.on('end', () => resolve({status: response.statusCode, body: JSON.parse(text)}));
	});
	request.on('error', reject); request.end(body);
});
(async () => {
	const addresses = (await dns.lookup('hello_web', {all: true, family: 4})).map(a => a.address);
	const whoami = []; for (const a of addresses) whoami.push(await call(a, 'GET', '/whoami'));
	const written = []; for (let i = 0; i < 9; i++) written.push(await call(addresses[i % addresses.length], 'POST', '/items', JSON.stringify({text: 'row ' + i})));
	console.log(JSON.stringify({addresses, whoami, written}));
})().catch(e => { console.error(e); process.exit(1); });`),
		) as {
			addresses: string[];
			whoami: Array<{status: number; body: {host: string}}>;
			written: Array<{status: number; body: {id: string}}>;
		};
		expect(answers.addresses).toHaveLength(3);
		expect(answers.whoami.map(a => a.status)).toEqual([200, 200, 200]);
		expect(new Set(answers.whoami.map(a => a.body.host)).size).toBe(3);
		expect(answers.written.map(w => w.status)).toEqual(Array(9).fill(201));
		written.push(...answers.written.map(w => w.body.id));

		const tunnel = await openTunnel(name, home);
		try {
			const connection = await connectThrough(tunnel, admin);
			const rows = await (
				await r
					.db('hello')
					.table('items')
					.getAll(...written)
					.run(connection)
			).toArray();
			expect(rows.map(row => (row as {id: string}).id).sort()).toEqual([...written].sort());
			rowsBefore = await r.db('hello').table('items').count().run(connection);
			// Another database, for the app's user to be refused.
			await r.dbCreate('other').run(connection);
			await r.db('other').tableCreate('private').run(connection);
			await r.db('other').table('private').insert({secret: 'not the app’s'}).run(connection);
			await connection.close();
		} finally {
			await tunnel.close();
		}
	});

	it('its user reads and writes its own database only: another database and rethinkdb.users are ReqlPermissionError', () => {
		const task = appTask();
		const script = `
const fs = require('node:fs'); const r = require('rethinkdb');
(async () => {
	const connection = await r.connect({host: process.env.RETHINKDB_HOST, port: Number(process.env.RETHINKDB_PORT),
		db: process.env.RETHINKDB_DB, user: process.env.RETHINKDB_USER, password: fs.readFileSync(process.env.RETHINKDB_PASSWORD_FILE, 'utf8').trim()});
	const attempt = async query => { try { await query.run(connection); return 'allowed'; } catch (e) { return e.name; } };
	console.log(JSON.stringify({
		user: process.env.RETHINKDB_USER, db: process.env.RETHINKDB_DB,
		own: await r.table('items').count().run(connection),
		users: await attempt(r.db('rethinkdb').table('users')),
		other: await attempt(r.db('other').table('private')),
		createDb: await attempt(r.dbCreate('mine')),
	}));
	await connection.close();
})().catch(e => { console.error(e.message); process.exit(1); });`;
		const seen = JSON.parse(dockerIn(task.node, `docker exec -w /app ${task.id} node -e ${shq(script)}`));
		expect(seen).toEqual({
			user: 'hello',
			db: 'hello',
			own: rowsBefore,
			users: 'ReqlPermissionError',
			other: 'ReqlPermissionError',
			createDb: 'ReqlPermissionError',
		});
	});

	it('the admin password and the app’s are in no service, environment, log or stack file', async () => {
		const task = appTask();
		const appPassword = dockerIn(task.node, `docker exec ${task.id} cat /run/secrets/rethinkdb_password`).trim();
		expect(appPassword.length).toBeGreaterThanOrEqual(20);
		expect(appPassword).not.toBe(admin);
		const inspect = dockerIn(manager, 'docker service inspect hello_web');
		const env = dockerIn(task.node, `docker inspect ${task.id}`);
		const processEnv = dockerIn(task.node, `docker exec ${task.id} sh -c 'cat /proc/1/environ | tr "\\0" "\\n"'`);
		const logs = dockerIn(manager, 'docker service logs --raw hello_web 2>&1');
		const stack = readFileSync(path.join(home, 'clusters', name, 'apps', 'hello.yml'), 'utf8');
		const remote = dockerIn(manager, 'cat /root/.swarmbee/apps/hello.yml');
		for (const text of [inspect, env, processEnv, logs, stack, remote]) {
			expect(text).not.toContain(admin);
			expect(text).not.toContain(appPassword);
			expect(text).not.toContain(firstKey);
		}
		expect(processEnv).toContain('RETHINKDB_PASSWORD_FILE=/run/secrets/rethinkdb_password');
		expect(execFileSync('ps', ['-eo', 'args'], {encoding: 'utf8'})).not.toContain(appPassword);
	});

	it('secret set again rotates the key while a client calls in a loop: 0 failed calls, the new value served', async () => {
		const keyId = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 12);
		const client = `hello-client-${name}`;
		dockerIn(manager, `docker run -d --name ${client} --network swarmbee ${shq(tag)} node client.js hello_web /key-id`);
		try {
			const rotated = await cliWithInput(['secret', name, 'set', 'hello', 'session_key', '--plain'], secondKey);
			expect(rotated.stderr).toBe('');
			expect(rotated.exitCode).toBe(0);
			expect(rotated.stdout).toMatch(/web now uses the new value/);
			expect(rotated.stdout).not.toContain(secondKey);
		} finally {
			dockerIn(manager, `docker stop ${client} >/dev/null`);
		}
		const counts = JSON.parse(dockerIn(manager, `docker logs ${client}; docker rm ${client} >/dev/null`)) as {
			calls: number;
			failed: number;
			failures: unknown[];
			seen: Record<string, number>;
			last: string;
		};
		expect(counts.failures).toEqual([]);
		expect(counts.failed).toBe(0);
		expect(counts.calls).toBeGreaterThan(20);
		expect(counts.seen[`1/${keyId(firstKey)}`]).toBeGreaterThan(0);
		expect(counts.last).toBe(`1/${keyId(secondKey)}`);
		expect(dockerIn(manager, 'docker service inspect hello_web')).not.toContain(secondKey);
	});

	it('undeploy removes the services and keeps the database, its rows and its user', async () => {
		const result = await cli(['undeploy', name, 'hello', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toMatch(/1 service removed \(web\)/);
		expect(result.stdout).toMatch(/hello's database, user and secrets are kept/);
		expect(appServices()).toEqual([]);
		const tunnel = await openTunnel(name, home);
		try {
			const connection = await connectThrough(tunnel, admin);
			expect(await r.db('hello').table('items').count().run(connection)).toBe(rowsBefore);
			const rows = await (
				await r
					.db('hello')
					.table('items')
					.getAll(...written)
					.run(connection)
			).toArray();
			expect(rows).toHaveLength(written.length);
			expect(await (await r.db('rethinkdb').table('users').getField('id').run(connection)).toArray()).toContain(
				'hello',
			);
			await connection.close();
		} finally {
			await tunnel.close();
		}
		const gone = await cli(['undeploy', name, 'hello', '--plain'], home);
		expect(gone.exitCode).toBe(2);
		expect(gone.stderr).toMatch(/has no app hello deployed/);
	});
});
