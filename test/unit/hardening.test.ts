import {spawnSync} from 'node:child_process';
import {
	chmodSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readFileSync,
	readdirSync,
	rmSync,
	utimesSync,
	writeFileSync,
} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {PassThrough} from 'node:stream';
import ssh2 from 'ssh2';
import {afterEach, describe, expect, it} from 'vitest';
import {clusterForRun} from '../../source/session/open.js';
import {runPlan} from '../../source/session/run.js';
import {joinNegativeValues} from '../../source/main.js';
import {resolveSpec} from '../../source/spec.js';
import {generateKeyPair, fingerprint, saveKeyPair} from '../../source/ssh/keys.js';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {newJournal} from '../../source/store/journal.js';
import {preflightStep} from '../../steps/preflight.js';
import type {Step} from '../../steps/types.js';
import {runMain} from './run-main.js';

/**
 * Issue 16's bad inputs and damaged state, each through the command line as
 * a user meets it: a clear error naming what is wrong and what to do, exit 2,
 * and nothing created or overwritten.
 */

const homes: string[] = [];
afterEach(() => {
	for (const home of homes.splice(0)) {
		chmodSync(home, 0o700);
		rmSync(home, {recursive: true, force: true});
	}
});

function newHome(): string {
	const home = mkdtempSync(path.join(tmpdir(), 'sb-hard-'));
	homes.push(home);
	return home;
}

function run(argv: string[], home: string, env: NodeJS.ProcessEnv = {}) {
	return runMain(argv, {SWARMBEE_HOME: home, ...env});
}

/** Every file under a folder with its contents: what must not change. */
function snapshot(dir: string): Record<string, string> {
	if (!existsSync(dir)) return {};
	return Object.fromEntries(
		readdirSync(dir, {recursive: true, encoding: 'utf8'})
			.sort()
			.filter(name => !name.endsWith('/') && existsSync(path.join(dir, name)) && !statIsDir(path.join(dir, name)))
			.map(name => [name, readFileSync(path.join(dir, name), 'utf8')]),
	);
}

function statIsDir(file: string): boolean {
	try {
		readdirSync(file);
		return true;
	} catch {
		return false;
	}
}

/** A saved cluster with a journal, as `up` leaves one (no machines behind it). */
function savedCluster(home: string, name: string, edit: (journal: ReturnType<typeof newJournal>) => void = () => {}) {
	const store = new ClusterStore(home);
	store.saveSpec(resolveSpec({name, workers: 1, database: 'none'}));
	const journal = newJournal(name, 'local', 'owner-1');
	journal.state = 'ready';
	edit(journal);
	writeFileSync(store.paths(name).journal, `${JSON.stringify(journal, null, 2)}\n`);
	return store;
}

describe('1. cluster names are checked by every command before any path is built', () => {
	it.each([
		['status', ['--once']],
		['down', ['--yes']],
		['down', ['--yes', '--force']],
		['tunnel', []],
		['stack', []],
		['scale', ['--workers', '2', '--yes']],
		['plan', []],
		['up', ['--yes']],
	])('%s ../../elsewhere/clusters/victim %j', async (command, flags) => {
		// A cluster whose state lives outside this SWARMBEE_HOME.
		const home = newHome();
		const elsewhere = newHome();
		savedCluster(elsewhere, 'victim');
		const before = snapshot(elsewhere);
		const result = await run(
			[command, `../../${path.basename(elsewhere)}/clusters/victim`, ...flags],
			path.join(home, 'home'),
		);
		expect(result.code).toBe(2);
		expect(result.err).toContain('is not a valid cluster name');
		expect(result.err).toContain('use 1-40 lowercase letters, digits and hyphens');
		expect(snapshot(elsewhere)).toEqual(before);
		expect(existsSync(path.join(home, 'home'))).toBe(false);
	});

	it('ls skips folders no cluster could be named after', async () => {
		const home = newHome();
		savedCluster(home, 'demo');
		mkdirSync(path.join(home, 'clusters', 'Not_A_Cluster'));
		writeFileSync(path.join(home, 'clusters', 'Not_A_Cluster', 'journal.json'), '{}');
		const result = await run(['ls', '--json'], home);
		expect(result.code).toBe(0);
		expect(JSON.parse(result.out).clusters.map((c: {name: string}) => c.name)).toEqual(['demo']);
	});
});

describe('6. bad input is refused cleanly, before anything is created', () => {
	it('a playbook that is not valid YAML: named with its line, before any machine, and not saved', async () => {
		const home = newHome();
		const playbook = path.join(home, 'broken.yml');
		writeFileSync(playbook, '- hosts: all\n  tasks:\n    - name: one\n     debug: [\n');
		const result = await run(['up', 'demo', '--playbook', playbook, '--yes', '--database', 'none'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`playbook: ${playbook} is not valid YAML (line 4, column 1)`);
		expect(result.err).toContain('an Ansible playbook: a YAML list of plays');
		expect(existsSync(path.join(home, 'clusters'))).toBe(false);
		// plan checks the same, and so does a run that resumes a cluster whose remembered playbook was broken since.
		expect((await run(['plan', 'demo', '--playbook', playbook], home)).err).toContain('is not valid YAML');
		const store = savedCluster(home, 'kept');
		writeFileSync(
			store.paths('kept').spec,
			JSON.stringify({...JSON.parse(readFileSync(store.paths('kept').spec, 'utf8')), playbook}),
		);
		const resumed = await run(['up', 'kept', '--yes'], home);
		expect(resumed.code).toBe(2);
		expect(resumed.err).toContain(`the playbook saved with kept, ${playbook}, is not valid YAML`);
	});

	it('a playbook that is YAML but no list of plays', async () => {
		const home = newHome();
		const playbook = path.join(home, 'tasks.yml');
		writeFileSync(playbook, '- name: a task, not a play\n  ansible.builtin.debug: {msg: hi}\n');
		const result = await run(['up', 'demo', '--playbook', playbook, '--yes'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`${playbook}: play 1 has no hosts`);
		writeFileSync(playbook, 'hosts: all\n');
		expect((await run(['up', 'demo', '--playbook', playbook, '--yes'], home)).err).toContain(
			'is YAML, but not a list of plays',
		);
	});

	it('a new playbook is remembered only once a run with it succeeded', async () => {
		const home = newHome();
		const store = new ClusterStore(home);
		const playbook = path.join(home, 'mine.yml');
		writeFileSync(playbook, '- hosts: all\n  tasks: []\n');
		const spec = resolveSpec({name: 'demo', workers: 1, database: 'none', playbook});
		const io = {stdout: new PassThrough(), stderr: new PassThrough(), interactive: false, env: {SWARMBEE_HOME: home}};
		const preflight: Step = {...preflightStep, run: async () => ({changed: false, summary: 'ok'})};
		const failing: Step = {
			id: 'provision',
			title: 'Provision',
			run: async () => {
				throw new Error('playbook mine.yml failed on queenbee');
			},
		};
		const passing: Step = {id: 'provision', title: 'Provision', run: async () => ({changed: true, summary: 'ok'})};
		const runWith = async (steps: Step[]) => {
			const session = await clusterForRun(spec, store.loadSpec('demo'), io, {lock: 'up demo'});
			try {
				const plan = {
					command: 'up',
					resume: 'swarmbee up demo',
					output: 'plain' as const,
					cluster: {done: 'ready' as const},
				};
				return (await runPlan(session, {...plan, steps}, io)).code;
			} finally {
				await session.close();
			}
		};
		expect(await runWith([preflight, failing])).toBe(1);
		expect(store.loadSpec('demo')).not.toHaveProperty('playbook');
		expect(await runWith([preflight, passing])).toBe(0);
		expect(store.loadSpec('demo')?.playbook).toBe(playbook);
	});

	it('profiles.json that is not JSON: named, with what to do; an unknown profile creates no file', async () => {
		const home = newHome();
		const missing = await run(['up', 'demo', '--profile', 'nope', '--yes'], home);
		expect(missing.code).toBe(2);
		expect(missing.err).toContain('there is no profile named nope');
		expect(readdirSync(home)).toEqual([]);
		writeFileSync(path.join(home, 'profiles.json'), '{"profiles": {"p": ');
		const broken = await run(['up', 'demo', '--profile', 'p', '--yes'], home);
		expect(broken.code).toBe(2);
		expect(broken.err).toContain(`error: ${path.join(home, 'profiles.json')} does not hold profiles swarmbee can read`);
		expect(broken.err).toContain('move it away');
		expect(readFileSync(path.join(home, 'profiles.json'), 'utf8')).toBe('{"profiles": {"p": ');
	});

	it('a state folder swarmbee cannot write: which folder and what to do, not "ENOENT … mkdir"', () => {
		const home = newHome();
		const readOnly = path.join(home, 'read-only');
		mkdirSync(readOnly);
		chmodSync(home, 0o755);
		chmodSync(readOnly, 0o555);
		// As root every folder is writable: then the same command runs as nobody.
		const asRoot = process.getuid?.() === 0;
		const cli = path.resolve(import.meta.dirname, '../../dist/source/cli.js');
		const argv = ['up', 'demo', '--database', 'none', '--yes', '--plain'];
		const result = asRoot
			? spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, ...argv], {
					env: {SWARMBEE_HOME: readOnly, PATH: process.env['PATH']},
					encoding: 'utf8',
				})
			: spawnSync(process.execPath, [cli, ...argv], {
					env: {SWARMBEE_HOME: readOnly, PATH: process.env['PATH']},
					encoding: 'utf8',
				});
		expect(result.status).toBe(2);
		expect(result.stderr).toContain(
			`error: swarmbee cannot write its state in ${path.join(readOnly, 'clusters', 'demo')}: permission denied (EACCES)`,
		);
		expect(result.stderr).toContain('or point SWARMBEE_HOME at a folder you can write');
		expect(readdirSync(readOnly)).toEqual([]);
	});

	it('DIGITALOCEAN_API_URL that is not a URL', async () => {
		const home = newHome();
		const result = await run(['plan', 'demo', '--provider', 'digitalocean'], home, {
			DIGITALOCEAN_ACCESS_TOKEN: 'sbtest_token_0123456789',
			DIGITALOCEAN_API_URL: 'not a url',
		});
		expect(result.code).toBe(2);
		expect(result.err).toContain('error: DIGITALOCEAN_API_URL is "not a url", which is not a URL');
		expect(result.err).toContain("unset DIGITALOCEAN_API_URL for DigitalOcean's API (https://api.digitalocean.com)");
		expect(result.err).not.toContain('sbtest_token');
	});

	it('--workers -1 is a worker count that is wrong, not an ambiguous option', async () => {
		const home = newHome();
		const up = await run(['up', 'demo', '--workers', '-1', '--yes'], home);
		expect(up.code).toBe(2);
		expect(up.err).toContain('workers: -1 is not a worker count swarmbee can build');
		expect(up.err).not.toContain('ambiguous');
		savedCluster(home, 'small');
		const scale = await run(['scale', 'small', '--workers', '-2', '--yes'], home);
		expect(scale.err).toContain('workers: -2 is not a worker count');
		const tunnel = await run(['tunnel', 'small', '--admin-port', '-1'], home);
		expect(tunnel.err).toContain('--admin-port -1 is not a TCP port');
		// What follows `--` belongs to a command on the node, and is left as it was given.
		expect(
			joinNegativeValues(['demo', '--lines', '-5', '--', 'tail', '--lines', '-5'], {lines: {type: 'string'}}),
		).toEqual(['demo', '--lines=-5', '--', 'tail', '--lines', '-5']);
	});

	it('the same local port for the admin panel and the driver', async () => {
		const home = newHome();
		savedCluster(home, 'demo');
		const result = await run(['tunnel', 'demo', '--admin-port', '9000', '--driver-port', '9000'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain('error: --admin-port and --driver-port are both 9000');
		expect(result.err).not.toContain('in use');
	});
});

describe('6. every state file read tolerates damage', () => {
	it('one truncated journal: ls lists the healthy clusters and names the damaged one with what to do', async () => {
		const home = newHome();
		savedCluster(home, 'alpha');
		const store = savedCluster(home, 'broken');
		savedCluster(home, 'zeta');
		const journal = readFileSync(store.paths('broken').journal, 'utf8');
		writeFileSync(store.paths('broken').journal, journal.slice(0, 40));
		const result = await run(['ls'], home);
		expect(result.code).toBe(1);
		expect(result.out).toMatch(/^NAME +PROVIDER +NODES +STATE +UPDATED\nalpha .*\nzeta /);
		expect(result.err).toContain(
			`error: cluster broken cannot be read: ${store.paths('broken').journal} is not valid JSON (cut short or edited?)`,
		);
		expect(result.err).toContain(`mv ${store.paths('broken').journal} ${store.paths('broken').journal}.damaged`);
		expect(result.err).toContain('swarmbee down broken --force');
		const json = JSON.parse((await run(['ls', '--json'], home)).out);
		expect(json.clusters.map((c: {name: string}) => c.name)).toEqual(['alpha', 'zeta']);
		expect(json.damaged).toEqual([expect.objectContaining({name: 'broken', file: store.paths('broken').journal})]);
		// The damaged file is left as it was; status on a healthy one still works as far as reading goes.
		expect(readFileSync(store.paths('broken').journal, 'utf8')).toBe(journal.slice(0, 40));
		expect((await run(['status', 'nothing', '--once'], home)).err).toContain('known clusters: alpha, zeta');
	});

	it.each([
		['spec.json', 'null', 'does not hold a JSON object (it holds null)'],
		['spec.json', '', 'is empty (a write cut short?)'],
		['spec.json', '{"name": "demo", "workers": "many"}', 'does not describe a cluster swarmbee can build'],
		['journal.json', 'null', 'does not hold a JSON object (it holds null)'],
		['journal.json', '{}', 'is not a journal swarmbee can use: its version is undefined, not 1'],
		[
			'journal.json',
			'{"version": 1, "cluster": "demo", "owner": "o", "provider": "local", "state": "ready", "createdAt": "", "updatedAt": "", "steps": {}, "nodes": [{"name": "queenbee"}]}',
			'is not a journal swarmbee can use: node 1 lacks its name, index or state',
		],
	])('%s holding %j: status names the file', async (file, contents, says) => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		writeFileSync(path.join(store.paths('demo').dir, file), contents);
		const result = await run(['status', 'demo', '--once'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${path.join(store.paths('demo').dir, file)} ${says}`);
		expect(result.err).not.toContain('no cluster named demo');
		expect(result.err).toContain('swarmbee never overwrites a state file it cannot read');
		// up refuses the same way, and leaves the file as it is.
		expect((await run(['up', 'demo', '--yes'], home)).code).toBe(2);
		expect(readFileSync(path.join(store.paths('demo').dir, file), 'utf8')).toBe(contents);
	});

	it('a cluster key that is not a key: named, and not replaced by a new one', async () => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		saveKeyPair(store.paths('demo').clusterKey, generateKeyPair('swarmbee-demo'));
		writeFileSync(store.paths('demo').clusterKey, '-----BEGIN OPENSSH PRIVATE KEY-----\ncut short');
		const result = await run(['status', 'demo', '--once'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${store.paths('demo').clusterKey} is not an SSH private key swarmbee can use`);
		expect(result.err).toContain('restore id_ed25519');
		expect((await run(['up', 'demo', '--yes'], home)).err).toContain('is not an SSH private key swarmbee can use');
		expect(readFileSync(store.paths('demo').clusterKey, 'utf8')).toContain('cut short');
	});

	it('an emptied database password file is damage, not a reason to make a new password', async () => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		mkdirSync(store.paths('demo').keysDir, {recursive: true});
		writeFileSync(store.paths('demo').rethinkdbPassword, '\n', {mode: 0o600});
		const result = await run(['status', 'demo', '--once'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(
			`error: ${store.paths('demo').rethinkdbPassword} is empty, but it held the RethinkDB admin password`,
		);
		expect(readFileSync(store.paths('demo').rethinkdbPassword, 'utf8')).toBe('\n');
	});

	it('a lock left empty by a process killed while taking it is taken over once stale', () => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		writeFileSync(store.paths('demo').lock, '');
		expect(() => store.lock('demo', 'up demo')).toThrow(/being locked by another swarmbee right now/);
		const old = new Date(Date.now() - 60_000);
		utimesSync(store.paths('demo').lock, old, old);
		store.lock('demo', 'up demo')();
	});
});

/** An SSH server on this machine that answers with a host key the cluster's journal does not hold. */
async function impostor(): Promise<{port: number; close: () => Promise<void>}> {
	const server = new ssh2.Server({hostKeys: [generateKeyPair('impostor').privateKey]}, client => {
		client.on('authentication', context => context.accept());
		client.on('error', () => {});
	});
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	return {
		port: (server.address() as net.AddressInfo).port,
		close: () => new Promise(resolve => server.close(() => resolve())),
	};
}

async function freePort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	const {port} = server.address() as net.AddressInfo;
	await new Promise(resolve => server.close(resolve));
	return port;
}

describe('5. tunnel to a node whose host key is not the one swarmbee knows', () => {
	it('exits non-zero with the mismatch instead of holding a closed tunnel', async () => {
		const home = newHome();
		const ssh = await impostor();
		try {
			const hostKey = generateKeyPair('queenbee.demo');
			const store = savedCluster(home, 'demo', journal => {
				journal.database = {image: 'rethinkdb', stackHash: 'h', secret: 's', deployedAt: ''};
				journal.nodes = [
					{
						name: 'queenbee',
						index: 0,
						role: 'manager',
						state: 'running',
						publicAddress: '127.0.0.1',
						privateAddress: '127.0.0.1',
						ssh: {host: '127.0.0.1', port: ssh.port, user: 'root'},
						hostKey: {publicKey: hostKey.publicKey, fingerprint: fingerprint(hostKey.publicKey)},
					},
				];
			});
			saveKeyPair(store.paths('demo').clusterKey, generateKeyPair('swarmbee-demo'));
			const started = Date.now();
			const result = await run(
				['tunnel', 'demo', '--admin-port', String(await freePort()), '--driver-port', String(await freePort())],
				home,
			);
			expect(result.code).toBe(1);
			expect(result.err).toContain(`queenbee (127.0.0.1:${ssh.port}) offered host key SHA256:`);
			expect(result.err).toContain(`but swarmbee installed ${fingerprint(hostKey.publicKey)}`);
			expect(result.out).toMatch(/closed \(queenbee .* offered host key/);
			expect(Date.now() - started).toBeLessThan(10_000);
		} finally {
			await ssh.close();
		}
	});
});
