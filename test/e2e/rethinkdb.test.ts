import {execFileSync} from 'node:child_process';
import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import r from 'rethinkdb';
import {afterAll, afterEach, beforeAll, beforeEach, describe, expect, it} from 'vitest';
import {parse} from 'yaml';
import {connectDriver} from '../../source/database/rethinkdb.js';
import {shq} from '../../source/shell.js';
import type {Journal} from '../../source/store/journal.js';
import {consoleCookie, consoleQuery, openTunnel, pinTable, status, waitFor} from './database.js';
import {cli, describeWithEngine, dockerIn, labelled, newHome, purge, rethinkdbImage, uniqueName} from './helpers.js';
import {describeWrites, startWriter, verifyWrites, type LiveWriter} from './live-writer.js';

/**
 * RethinkDB across the hosts, with the real RethinkDB 2.4.4 server (its
 * image built from ../shared/rethinkdb): the stack (one pinned dnsrr server
 * per node, joined over the database's own overlay), the admin password,
 * identity across a restart, memory under the limit, health through an SSH
 * forward, the tunnel and its reconnects, what answers where (public side,
 * the application overlay), and scale both ways.
 */

const NODES = ['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3'];

describeWithEngine('RethinkDB 2.4.4 on every node, its tunnel, and scale', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-rdb');
	const container = (node: string) => `swarmbee-${name}-${node}`;
	let image: string;
	let password: string;
	let journal: Journal;

	beforeAll(async () => {
		image = await rethinkdbImage();
	});
	afterAll(() => {
		purge(name);
		remove();
	});

	it('a 1+3 cluster (three managers) reports 4 of 4 servers connected', async () => {
		const result = await cli(
			['up', name, '--workers', '3', '--managers', '3', '--rethinkdb-image', image, '--yes', '--plain'],
			home,
		);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toMatch(/✔ RethinkDB \([^)]+\): 4 of 4 servers connected/);
		const now = await status(name, home);
		expect(now.rethinkdb).toEqual({connected: 4, expected: 4, missing: [], issues: [], tables: []});
		// --managers 3: workerbee-1 and workerbee-2 joined as managers.
		expect(now.swarm).toEqual({managers: 3, workers: 1, ready: 4});
		expect(now.nodes.map(n => n.role)).toEqual(['manager', 'manager', 'manager', 'worker']);
		password = readFileSync(path.join(home, 'clusters', name, 'keys', 'rethinkdb-admin-password'), 'utf8').trim();
		journal = JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
		expect(journal.swarm?.databaseOverlay).toMatchObject({name: 'swarmbee-db'});
	});

	it('the admin password: only in its 0600 file and the Docker secret, never in a service, a process list or a log', async () => {
		const stack = (await cli(['stack', name], home)).stdout;
		expect(stack).not.toContain(password);
		const inspect = dockerIn(container('queenbee'), 'docker service inspect $(docker service ls -q)');
		expect(inspect).toContain('rethinkdb-admin.conf');
		expect(inspect).not.toContain(password);
		// Every process on this machine, the nested servers included (the nodes' PID namespaces are children of ours).
		expect(execFileSync('ps', ['-eo', 'args'], {encoding: 'utf8'})).not.toContain(password);
		for (const node of NODES) {
			const logs = dockerIn(container('queenbee'), `docker service logs --raw swarmbee_rdb-${node} 2>&1`);
			expect(logs).toMatch(/Server ready/);
			expect(logs).not.toContain(password);
		}
		const logsDir = path.join(home, 'clusters', name, 'logs');
		for (const node of readdirSync(logsDir))
			expect(readFileSync(path.join(logsDir, node, 'provision.log'), 'utf8')).not.toContain(password);
		expect(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')).not.toContain(password);
	});

	it('nothing of the database is reachable from the public network', () => {
		const nodeImage = execFileSync('docker', ['inspect', '--format', '{{.Config.Image}}', container('queenbee')], {
			encoding: 'utf8',
		}).trim();
		// For every node: its public address, and the addresses its database task has on the
		// node's own bridges, which a neighbour could try to route to through the node.
		const plan = NODES.map(node => {
			const via = execFileSync(
				'docker',
				[
					'inspect',
					'--format',
					`{{(index .NetworkSettings.Networks "swarmbee-${name}-public").IPAddress}}`,
					container(node),
				],
				{encoding: 'utf8'},
			).trim();
			const inner = dockerIn(
				container(node),
				"docker network inspect docker_gwbridge --format '{{range .Containers}}{{.IPv4Address}} {{end}}'",
			)
				.split(/\s+/)
				.filter(Boolean)
				.map(a => a.split('/')[0]!);
			expect(inner.length).toBeGreaterThan(0);
			return {via, targets: [via, ...inner]};
		});
		const script = `
import json, socket, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
def probe(target):
    address, port = target
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((address, port)); return f'OPEN {address}:{port}'
    except OSError:
        return None
    finally:
        s.close()
for hop in json.loads(sys.argv[1]):
    subprocess.run(['ip', 'route', 'replace', '172.16.0.0/12', 'via', hop['via']], check=True)
    with ThreadPoolExecutor(32) as pool:
        for found in pool.map(probe, [(t, p) for t in hop['targets'] for p in (8080, 28015, 29015)]):
            if found: print(found, 'via', hop['via'])
print('done')
`;
		const output = execFileSync(
			'docker',
			[
				'run',
				'--rm',
				'--cap-add',
				'NET_ADMIN',
				'--network',
				`swarmbee-${name}-public`,
				'--entrypoint',
				'python3',
				nodeImage,
				'-c',
				script,
				JSON.stringify(plan),
			],
			{encoding: 'utf8'},
		);
		expect(output.trim()).toBe('done');
	});

	it('a container an application attaches to the overlay reaches the driver port by name, and neither the console nor the cluster port', () => {
		// The servers' addresses: on the application overlay (by name), on the database network, on each node's docker_gwbridge.
		const appAddresses = NODES.map(node =>
			dockerIn(
				container('queenbee'),
				`docker run --rm --network swarmbee ${image} getent ahostsv4 rdb-${node} | awk '{ print $1; exit }'`,
			),
		);
		const dbHosts = [2, 3, 4, 5, 6].map(n => journal.swarm!.databaseOverlay!.subnet.replace(/\d+\/\d+$/, String(n)));
		const gwAddresses = dockerIn(
			container('workerbee-3'),
			"docker network inspect docker_gwbridge --format '{{range .Containers}}{{.IPv4Address}} {{end}}'",
		)
			.split(/\s+/)
			.filter(Boolean)
			.map(a => a.split('/')[0]!);
		// "Answers" means the server itself spoke its protocol: this test bed accepts TCP to unrouted addresses, so a bare connect proves nothing.
		const check = (targets: string[], ports: number[]) =>
			[
				'speaks() {',
				'  exec 3<>"/dev/tcp/$1/$2" || return 1',
				'  case $2 in',
				"  28015) printf '\\xc3\\xbd\\xc2\\x34' >&3; head -c 80 <&3 | grep -q server_version ;;",
				"  29015) head -c 17 <&3 | grep -q 'RethinkDB cluster' ;;",
				"  8080) printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3 | grep -q 'RethinkDB Administration Console' ;;",
				'  esac',
				'}',
				'export -f speaks',
				// All at once: a silent address holds its probe for the whole timeout.
				`for t in ${targets.join(' ')}; do for p in ${ports.join(' ')}; do`,
				'  { if timeout 5 bash -c \'speaks "$0" "$1"\' "$t" "$p" 2>/dev/null; then echo "answers $t:$p"; else echo "silent $t:$p"; fi; } &',
				'done; done',
				'wait',
			].join('\n');
		const fromNeighbour = (targets: string[], ports: number[]) =>
			dockerIn(
				container('workerbee-3'),
				`docker run --rm --network swarmbee ${image} bash -c ${shq(check(targets, ports))}`,
			).split('\n');
		const names = NODES.map(node => `rdb-${node}`);
		const byName = fromNeighbour(names, [28015, 8080, 29015]);
		for (const target of names) {
			expect(byName).toContain(`answers ${target}:28015`);
			expect(byName).toContain(`silent ${target}:8080`);
			expect(byName).toContain(`silent ${target}:29015`);
		}
		// The same by address: the servers' overlay addresses, their node-local ones and the database network's first hosts.
		const byAddress = fromNeighbour([...appAddresses, ...gwAddresses, ...dbHosts], [8080, 29015]);
		expect(byAddress).toHaveLength((appAddresses.length + gwAddresses.length + dbHosts.length) * 2);
		expect(byAddress.filter(line => line.startsWith('answers'))).toEqual([]);
		// And the check can hear a server speak: from the node itself, the console answers on its docker_gwbridge address (the tunnel's way in).
		const fromNode = dockerIn(container('workerbee-3'), `bash -c ${shq(check(gwAddresses, [8080]))}`).split('\n');
		expect(fromNode.filter(line => line.startsWith('answers'))).toHaveLength(1);
	});

	describe('through the tunnel', () => {
		let tunnel: Awaited<ReturnType<typeof openTunnel>>;
		let connection: r.Connection;
		beforeAll(async () => {
			tunnel = await openTunnel(name, home);
			connection = await connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password});
		});
		afterAll(async () => {
			await connection?.close().catch(() => {});
			await tunnel?.close();
		});

		it("serves the real admin console and its query endpoint; the driver counts 4 servers, each on the database network under the stack's name", async () => {
			// The console opens with the token the tunnel printed (its guard: see console.test.ts).
			const cookie = await consoleCookie(tunnel.consoleUrl);
			const page = await (await fetch(`http://127.0.0.1:${tunnel.adminPort}/`, {headers: {cookie}})).text();
			expect(page).toContain('<title>RethinkDB Administration Console');
			// r.db('rethinkdb').table('server_status').count(), as the console's page sends it.
			expect(
				await consoleQuery(tunnel.adminPort, [43, [[15, [[14, ['rethinkdb']], 'server_status']]]], cookie),
			).toMatchObject({
				t: 1,
				r: [4],
			});

			expect(await r.db('rethinkdb').table('server_status').count().run(connection)).toBe(4);
			const servers = (await (
				await r
					.db('rethinkdb')
					.table('server_status')
					.pluck('name', {network: ['canonical_addresses']} as never)
					.run(connection)
			).toArray()) as Array<{name: string; network: {canonical_addresses: Array<{host: string; port: number}>}}>;
			const stack = parse((await cli(['stack', name], home)).stdout) as {services: Record<string, {command: string[]}>};
			const named = Object.values(stack.services).map(s => s.command[4]);
			expect(servers.map(s => s.name).sort()).toEqual([...named].sort());
			expect(named.sort()).toEqual(['queenbee', 'workerbee_1', 'workerbee_2', 'workerbee_3']);
			const [base, bits] = journal.swarm!.databaseOverlay!.subnet.split('/') as [string, string];
			const prefix = base
				.split('.')
				.slice(0, Number(bits) / 8)
				.join('.');
			for (const server of servers) {
				expect(server.network.canonical_addresses).toHaveLength(1);
				expect(server.network.canonical_addresses[0]!.host.startsWith(`${prefix}.`)).toBe(true);
				expect(server.network.canonical_addresses[0]!.port).toBe(29015);
			}
		});

		it('refuses a wrong password with ReqlAuthError', async () => {
			// connectDriver: the npm driver with its orphaned connect timer disarmed (see the real-server suite).
			await expect(
				connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password: `${password}x`, timeoutSeconds: 5}),
			).rejects.toMatchObject({name: 'ReqlAuthError'});
		});

		it('a server whose process dies comes back, in the new container Swarm starts, as the same server with its data', async () => {
			await r.dbCreate('e2e').run(connection);
			await r.db('e2e').tableCreate('kept').run(connection);
			// Only on workerbee-2's server, so the data can only come back from its volume.
			await pinTable(connection, 'e2e', 'kept', 'workerbee_2');
			await r
				.db('e2e')
				.table('kept')
				.insert(Array.from({length: 1000}, (_, n) => ({n})))
				.run(connection);
			const identity = async () =>
				(
					(await (
						await r
							.db('rethinkdb')
							.table('server_status')
							.filter({name: 'workerbee_2'})
							.pluck('id', {process: ['time_started']} as never)
							.run(connection)
					).toArray()) as Array<{id: string; process: {time_started: Date}}>
				)[0];
			const before = (await identity())!;
			const task = dockerIn(
				container('workerbee-2'),
				'docker ps -q --filter label=com.docker.swarm.service.name=swarmbee_rdb-workerbee-2',
			);
			// The server process dies (as in a crash): Swarm never restarts a task's container in place
			// (a `docker restart` races the worker dropping the overlay attachment), it starts a new
			// task on the same node, with the same volume, under the restart policy.
			// An application keeps writing into the table whose only server dies.
			const writer = startWriter({
				connect: () => connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password}),
				db: 'e2e',
				tables: ['kept'],
				pauseMs: 10,
			});
			await writer.advance(20);
			const killed = Date.now();
			// What happened, in seconds after the kill: each new driver error, and the driver connection closing.
			const seenErrors: string[] = [];
			(connection as unknown as NodeJS.EventEmitter).once('close', () =>
				seenErrors.push(`${(Date.now() - killed) / 1000} s: the driver connection closed`),
			);
			dockerIn(container('workerbee-2'), `docker kill ${task}`);
			const after = await waitFor(
				async () => {
					const seen = await identity().catch(error => {
						const said = `${(error as Error).name}: ${(error as Error).message}`;
						if (!seenErrors.some(line => line.endsWith(said)))
							seenErrors.push(`${(Date.now() - killed) / 1000} s: ${said}`);
						throw error;
					});
					return seen && seen.process.time_started.getTime() !== before.process.time_started.getTime()
						? seen
						: undefined;
				},
				90_000,
				() => {
					const tasks = (service: string) =>
						dockerIn(
							container('queenbee'),
							`docker service ps swarmbee_rdb-${service} --no-trunc --format "{{.CurrentState}} {{.Error}}"`,
						);
					return `workerbee_2 did not come back (${seenErrors.join('; ') || 'no error'}; tunnel: ${JSON.stringify(tunnel.updates.at(-1))}; its stderr: ${tunnel.stderr || 'none'}; tasks: ${tasks('workerbee-2')}; queenbee's: ${tasks('queenbee')})`;
				},
			);
			expect(after.id).toBe(before.id);
			const replacement = dockerIn(
				container('workerbee-2'),
				'docker ps -q --filter label=com.docker.swarm.service.name=swarmbee_rdb-workerbee-2',
			);
			expect(replacement).not.toBe(task);
			await r.db('e2e').table('kept').wait().run(connection);
			await writer.advance(20);
			const writes = await writer.stop();
			console.log(`workerbee_2's server process killed:\n${describeWrites(writes)}`);
			const check = await verifyWrites(
				() => connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password}),
				writes,
			);
			expect(check.lost, describeWrites(writes)).toEqual([]);
			expect(check.found).toBe(check.acked);
			expect(
				await r
					.db('e2e')
					.table('kept')
					.filter(row => row.hasFields('n'))
					.count()
					.run(connection),
			).toBe(1000);
		});

		it('under a write load (50,000 documents of 1 KiB) a server stays under its memory limit and is not OOM-killed', async () => {
			await r.db('e2e').tableCreate('load').run(connection);
			await pinTable(connection, 'e2e', 'load', 'workerbee_1');
			const node = container('workerbee-1');
			const task = dockerIn(node, 'docker ps -q --filter label=com.docker.swarm.service.name=swarmbee_rdb-workerbee-1');
			const limit = Number(dockerIn(node, `docker inspect --format '{{.HostConfig.Memory}}' ${task}`));
			expect(limit).toBe(450 * 1024 * 1024);
			const usage = () =>
				Number(
					dockerIn(
						node,
						`cat /sys/fs/cgroup/memory/docker/$(docker inspect --format '{{.Id}}' ${task})/memory.usage_in_bytes 2>/dev/null || docker stats --no-stream --format '{{.MemUsage}}' ${task} | awk '{ print $1 }' | numfmt --from=iec-i`,
					),
				);
			let peak = 0;
			let sampling = true;
			const sampler = (async () => {
				while (sampling) {
					peak = Math.max(peak, usage());
					await sleep(500);
				}
			})();
			const pad = 'x'.repeat(1024);
			for (let batch = 0; batch < 100; batch++) {
				await r
					.db('e2e')
					.table('load')
					.insert(Array.from({length: 500}, (_, n) => ({n: batch * 500 + n, pad})))
					.run(connection);
			}
			sampling = false;
			await sampler;
			expect(await r.db('e2e').table('load').count().run(connection)).toBe(50_000);
			const state = JSON.parse(dockerIn(node, `docker inspect --format '{{json .State}}' ${task}`)) as {
				OOMKilled: boolean;
				Running: boolean;
				Restarting: boolean;
			};
			expect(state).toMatchObject({OOMKilled: false, Running: true, Restarting: false});
			expect(dockerIn(node, 'docker ps -q --filter label=com.docker.swarm.service.name=swarmbee_rdb-workerbee-1')).toBe(
				task,
			);
			expect(peak).toBeGreaterThan(0);
			expect(peak).toBeLessThan(limit);
			console.log(
				`workerbee_1 under 50,000 × 1 KiB inserts: peak memory ${(peak / 1024 / 1024).toFixed(0)} MiB of ${limit / 1024 / 1024} MiB (cache ${Math.floor(450 * 0.45)} MB)`,
			);
		});

		it('status --json lists the user tables with their replicas and readiness', async () => {
			const now = await status(name, home);
			expect(now.rethinkdb?.tables).toEqual([
				// Made after up with one replica each: below the cluster's 3 until the next up or scale places them.
				{
					db: 'e2e',
					table: 'kept',
					shards: 1,
					replicas: 1,
					servers: ['workerbee_2'],
					primaries: ['workerbee_2'],
					readiness: 'ready',
					underReplicated: true,
				},
				{
					db: 'e2e',
					table: 'load',
					shards: 1,
					replicas: 1,
					servers: ['workerbee_1'],
					primaries: ['workerbee_1'],
					readiness: 'ready',
					underReplicated: true,
				},
			]);
		});

		it('the tunnel reopens within 10 s after sshd restarts on its node', async () => {
			// Restart sshd on the tunnelled node, hard: the tunnel's session dies with it.
			const node = tunnel.updates.at(-1)!.tunnels[0]!.target.node!;
			const before = tunnel.updates.length;
			const restarted = Date.now();
			dockerIn(container(node), 'pkill -x sshd; sleep 0.2; /usr/sbin/sshd');
			await waitFor(
				() => (tunnel.updates.slice(before).some(u => u.tunnels[0]?.state === 'reconnecting') ? true : undefined),
				20_000,
				() => 'never reconnecting',
			);
			await waitFor(
				() => (tunnel.updates.slice(before).some(u => u.tunnels[0]?.state === 'open') ? true : undefined),
				10_000,
				() => 'not open again',
			);
			expect(Date.now() - restarted).toBeLessThan(10_000);
			const cookie = await consoleCookie(tunnel.consoleUrl);
			expect(await (await fetch(`http://127.0.0.1:${tunnel.adminPort}/`, {headers: {cookie}})).text()).toContain(
				'RethinkDB Administration Console',
			);
			// The driver connection went down with the SSH session; a new one goes through the reopened tunnel.
			const again = await connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password});
			try {
				// The rows written before the restart (the live writer's own have no `n`).
				expect(
					await r
						.db('e2e')
						.table('kept')
						.filter(row => row.hasFields('n'))
						.count()
						.run(again),
				).toBe(1000);
				// The scale tests below exercise nodes coming and going; the tables' own fate in a scale has its own suite.
				await r.dbDrop('e2e').run(again);
			} finally {
				await again.close();
			}
		});
	});

	describe('scale under a live writer', () => {
		let tunnel: Awaited<ReturnType<typeof openTunnel>>;
		let writer: LiveWriter;
		const connect = () => connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password});
		beforeAll(async () => {
			tunnel = await openTunnel(name, home);
			const c = await connect();
			try {
				await r.dbCreate('app').run(c);
				await r
					.db('app')
					.tableCreate('writes', {replicas: 3} as never)
					.run(c);
				await r.db('app').table('writes').wait().run(c);
			} finally {
				await c.close();
			}
		});
		afterAll(async () => {
			await tunnel?.close();
		});
		beforeEach(async () => {
			writer = startWriter({connect, db: 'app', tables: ['writes'], pauseMs: 10});
			await writer.advance(20);
		});
		afterEach(async ({task}) => {
			const writes = await writer.stop();
			console.log(`${task.name}:\n${describeWrites(writes)}`);
			const check = await verifyWrites(connect, writes);
			expect(check.lost, describeWrites(writes)).toEqual([]);
			expect(check.found).toBe(check.acked);
		});

		it('scale --workers 4 adds a node and its server: 5 of 5 connected', async () => {
			const result = await cli(['scale', name, '--workers', '4', '--yes', '--plain'], home);
			expect(result.stderr).toBe('');
			expect(result.exitCode).toBe(0);
			const now = await status(name, home);
			expect(now.nodes.map(n => n.name)).toEqual([...NODES, 'workerbee-4']);
			expect(now.swarm).toEqual({managers: 3, workers: 2, ready: 5});
			expect(now.rethinkdb).toMatchObject({connected: 5, expected: 5, missing: []});
		});

		it('scale --workers 2 removes the last nodes: 3 of 3 connected, no orphaned node', async () => {
			const result = await cli(['scale', name, '--workers', '2', '--yes', '--plain'], home);
			expect(result.stderr).toBe('');
			expect(result.exitCode).toBe(0);
			const now = await status(name, home);
			expect(now.nodes.map(n => n.name)).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
			expect(now.swarm).toEqual({managers: 3, workers: 0, ready: 3});
			expect(now.rethinkdb).toMatchObject({connected: 3, expected: 3, missing: []});
			expect(labelled(name).containers).toEqual([
				container('queenbee'),
				container('workerbee-1'),
				container('workerbee-2'),
			]);
			expect(labelled(name).volumes).toHaveLength(3);
			const members = dockerIn(container('queenbee'), "docker node ls --format '{{.Hostname}}'").split('\n').sort();
			expect(members).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
			const services = dockerIn(container('queenbee'), "docker service ls --format '{{.Name}}'").split('\n').sort();
			expect(services).toEqual(['swarmbee_rdb-queenbee', 'swarmbee_rdb-workerbee-1', 'swarmbee_rdb-workerbee-2']);
		});
	});

	it("queenbee's node restarted by hand (docker restart): its server, the first one, finds the others again at their addresses", async () => {
		const serverContainer = () =>
			dockerIn(
				container('queenbee'),
				'docker ps -q --filter label=com.docker.swarm.service.name=swarmbee_rdb-queenbee',
			);
		const logOf = (id: string) => dockerIn(container('queenbee'), `docker logs ${id} 2>&1`);
		const before = serverContainer();
		execFileSync('docker', ['restart', container('queenbee')]);
		const restarted = Date.now();
		// Swarm starts a new task (a new container) for the server; it counts once that one is connected to both others.
		const log = await waitFor(
			async () => {
				// (Throws while the node's dockerd is still starting: waitFor asks again.)
				const id = serverContainer();
				if (!id || id === before) return undefined;
				const said = logOf(id);
				if (!/Connected to server "workerbee_1"/.test(said) || !/Connected to server "workerbee_2"/.test(said))
					return undefined;
				return (await status(name, home)).rethinkdb?.connected === 3 ? said : undefined;
			},
			240_000,
			() => {
				const id = serverContainer();
				return `queenbee's new server did not connect to the others; its log: ${id ? logOf(id).split('\n').slice(-6).join(' | ') : 'no container'}`;
			},
		);
		// It joined the others. A first server that joined nobody (its node had not learnt their names yet) stayed
		// alone; on this three-manager cluster the names may resolve at once (a run waited 0 s), so the wait itself
		// is shown by the unit test of the script and by day two's restarts on a one-manager cluster.
		expect(log).toMatch(/joining: --join \S+:29015/);
		const now = await status(name, home);
		expect(now.rethinkdb).toMatchObject({connected: 3, expected: 3, missing: []});
		console.log(
			`queenbee restarted: its server connected to both others ${((Date.now() - restarted) / 1000).toFixed(0)} s after docker restart (it waited ${log.split('\n').filter(l => l.startsWith('restarted with data')).length * 2} s for their names)`,
		);
	});

	it('cleans up', async () => {
		expect((await cli(['down', name, '--yes'], home)).exitCode).toBe(0);
	});
});
