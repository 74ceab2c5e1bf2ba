import {type ChildProcess, spawn, spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import r from 'rethinkdb';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

/**
 * The RethinkDB stand-in (test/fixtures/rethinkdb-standin), several processes on 127.0.0.1,
 * checked with the real npm `rethinkdb` driver. This tests the stand-in itself, so the
 * tests that use it know what it does; it proves nothing about RethinkDB (see its README).
 */

const root = path.resolve(import.meta.dirname, '../..');
const SERVER = path.join(root, 'test/fixtures/rethinkdb-standin/server.mjs');
const DRIVER = path.join(root, 'node_modules/rethinkdb/rethinkdb.js');
const PASSWORD = 'hunter2-standin';

interface ServerStatusRow {
	id: string;
	name: string;
	network: {
		cluster_port: number;
		reql_port: number;
		http_admin_port: number | string;
		connected_to: Record<string, boolean>;
		canonical_addresses: Array<{host: string; port: number}>;
		time_connected: Date;
	};
	process: {argv: string[]; cache_size_mb: number; pid: number; time_started: Date; version: string};
}

interface IssueRow {
	id: string;
	type: string;
	critical: boolean;
	info: Record<string, unknown>;
	description: string;
}

interface StandIn {
	name: string;
	offset: number;
	directory: string;
	child: ChildProcess;
	output: () => string;
	exited: Promise<number | null>;
}

const started: StandIn[] = [];
const directories: string[] = [];
const ports = (offset: number) => ({driver: 28_015 + offset, cluster: 29_015 + offset, http: 8080 + offset});

async function portFree(port: number): Promise<boolean> {
	const server = net.createServer();
	return new Promise(resolve => {
		server.once('error', () => resolve(false));
		server.listen({host: '127.0.0.1', port}, () => server.close(() => resolve(true)));
	});
}

/** Port offsets whose three ports are free now, spaced so no two servers' ports overlap. */
async function freeOffsets(count: number): Promise<number[]> {
	for (let attempt = 0; attempt < 50; attempt++) {
		const base = 1000 + (Math.floor(Math.random() * 900) * 2);
		const offsets = Array.from({length: count}, (_, i) => base + i);
		const all = offsets.flatMap(offset => Object.values(ports(offset)));
		if ((await Promise.all(all.map(portFree))).every(Boolean)) return offsets;
	}
	throw new Error('no free port offsets on 127.0.0.1');
}

function newDirectory(): string {
	const parent = mkdtempSync(path.join(tmpdir(), 'swarmbee-standin-'));
	directories.push(parent);
	return path.join(parent, 'rethinkdb_data');
}

function start(name: string, offset: number, directory: string, args: string[]): StandIn {
	const child = spawn(process.execPath, [SERVER, '--port-offset', String(offset), '--directory', directory, '--canonical-address', '127.0.0.1', ...args], {stdio: ['ignore', 'pipe', 'pipe']});
	let output = '';
	child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
	child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
	const exited = new Promise<number | null>(resolve => child.once('exit', code => resolve(code)));
	const standIn = {name, offset, directory, child, output: () => output, exited};
	started.push(standIn);
	return standIn;
}

/** Polls until `probe` returns something other than undefined/false (never a fixed sleep). */
async function waitUntil<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 8000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	for (;;) {
		try {
			const value = await probe();
			if (value !== undefined && value !== false) return value;
		} catch (error) {
			last = error;
		}
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
		await sleep(25);
	}
}

/** Only ever with the right password: a refused handshake would crash this process later (see connectInChild). */
async function withConnection<T>(offset: number, work: (connection: r.Connection) => Promise<T>, password = PASSWORD): Promise<T> {
	const connection = await r.connect({host: '127.0.0.1', port: ports(offset).driver, user: 'admin', password, timeout: 5});
	try {
		return await work(connection);
	} finally {
		await connection.close();
	}
}

const serverStatus = async (offset: number) => withConnection(offset, async c => (await r.db('rethinkdb').table('server_status').run(c)).toArray<ServerStatusRow>());
const currentIssues = async (offset: number) => withConnection(offset, async c => (await r.db('rethinkdb').table('current_issues').run(c)).toArray<IssueRow>());

/** True once `offset`'s server sees exactly `names`, each connected to all the others, and no issues. */
async function converged(offset: number, names: string[]): Promise<boolean> {
	const rows = await serverStatus(offset);
	if (JSON.stringify(rows.map(row => row.name).sort()) !== JSON.stringify([...names].sort())) return false;
	const mesh = rows.every(row => names.filter(n => n !== row.name).every(n => row.network.connected_to[n] === true));
	return mesh && (await currentIssues(offset)).length === 0;
}

/** Runs the driver in a child process: a failed handshake leaves a timer in the driver that later crashes its process (rethinkdb#6290). */
function connectInChild(port: number, user: string, password: string, exitAfter: boolean): {status: number | null; stdout: string; stderr: string} {
	const script = `
import r from ${JSON.stringify(DRIVER)};
try {
	await r.connect({host: '127.0.0.1', port: ${port}, user: ${JSON.stringify(user)}, password: ${JSON.stringify(password)}, timeout: 1});
	console.log(JSON.stringify({ok: true}));
} catch (error) {
	console.log(JSON.stringify({name: error.name, message: error.message}));
}
${exitAfter ? 'process.exit(0);' : ''}`;
	const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8', timeout: 10_000});
	return {status: result.status, stdout: result.stdout, stderr: result.stderr};
}

describe('RethinkDB stand-in, with the real npm rethinkdb driver', () => {
	let offsets: number[];
	let a: StandIn;
	let b: StandIn;
	let c: StandIn;

	beforeAll(async () => {
		offsets = await freeOffsets(6);
		// rdb_1 sets the password; rdb_2 joins it, rdb_3 joins rdb_2 only and must find rdb_1 itself.
		a = start('rdb_1', offsets[0]!, newDirectory(), ['--server-name', 'rdb_1', '--initial-password', PASSWORD, '--cache-size', '256']);
		b = start('rdb_2', offsets[1]!, newDirectory(), ['--server-name', 'rdb_2', '--initial-password', 'auto', '--join', `127.0.0.1:${ports(offsets[0]!).cluster}`]);
		c = start('rdb_3', offsets[2]!, newDirectory(), ['--server-name', 'rdb_3', '--initial-password', 'auto', '--join', `localhost:${ports(offsets[1]!).cluster}`]);
		for (const server of [a, b, c]) await waitUntil(`${server.name} to see a full mesh of 3`, () => converged(server.offset, ['rdb_1', 'rdb_2', 'rdb_3']));
	}, 15_000);

	afterAll(async () => {
		for (const server of started) {
			if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
		}
		await Promise.all(started.map(server => server.exited));
		for (const directory of directories) rmSync(directory, {recursive: true, force: true});
	});

	it('server_status: three servers, each connected to the other two, at the canonical addresses given', async () => {
		const rows = await serverStatus(offsets[0]!);
		expect(rows.map(row => row.name)).toEqual(['rdb_1', 'rdb_2', 'rdb_3']);
		for (const [i, row] of rows.entries()) {
			const own = ports(offsets[i]!);
			expect(row.network.canonical_addresses).toEqual([{host: '127.0.0.1', port: own.cluster}]);
			expect(row.network).toMatchObject({cluster_port: own.cluster, reql_port: own.driver, http_admin_port: own.http});
			expect(Object.keys(row.network.connected_to).sort()).toEqual(['rdb_1', 'rdb_2', 'rdb_3'].filter(n => n !== row.name));
			expect(row.process.version).toBe('rethinkdb 2.4.4 (stand-in)');
			expect(row.process.pid).toBe(started[i]!.child.pid);
			expect(row.process.time_started).toBeInstanceOf(Date);
		}
		expect(rows[0]!.process.cache_size_mb).toBe(256);
		expect(rows[0]!.process.argv).toEqual(expect.arrayContaining(['rethinkdb', '--server-name', 'rdb_1']));
		expect(await currentIssues(offsets[0]!)).toEqual([]);
	});

	it('answers the health check query shapes: nested pluck, count, filter, getField, r.expr, server()', async () => {
		await withConnection(offsets[1]!, async connection => {
			const table = r.db('rethinkdb').table('server_status');
			// @types/rethinkdb types pluck with strings only; the driver sends nested selectors fine.
			const selector = {network: ['connected_to', 'canonical_addresses']} as unknown as string;
			const plucked = await (await table.pluck('name', selector).run(connection)).toArray<Record<string, unknown>>();
			expect(plucked).toHaveLength(3);
			for (const row of plucked) expect(Object.keys(row).sort()).toEqual(['name', 'network']);
			expect(await table.count().run(connection)).toBe(3);
			expect(await (await table.filter({name: 'rdb_3'}).getField('name').run(connection)).toArray()).toEqual(['rdb_3']);
			expect(await (await table.filter(r.row('network')('reql_port').eq(ports(offsets[0]!).driver)).map(row => row('name')).run(connection)).toArray()).toEqual(['rdb_1']);
			expect(await r.db('rethinkdb').table('current_issues').filter({critical: true}).count().run(connection)).toBe(0);
			expect(await r.expr({a: [1, 2], b: null}).run(connection)).toEqual({a: [1, 2], b: null});
			expect(await connection.server()).toMatchObject({name: 'rdb_2', proxy: false});
		});
	});

	it('refuses what it does not implement, with an error that says so', async () => {
		await withConnection(offsets[0]!, async connection => {
			await expect(r.dbList().run(connection)).rejects.toMatchObject({name: 'ReqlQueryLogicError', msg: expect.stringMatching(/stand-in does not implement the ReQL term DB_LIST \(59\)/)});
			await expect(r.db('rethinkdb').table('table_status').run(connection)).rejects.toMatchObject({msg: expect.stringMatching(/stand-in does not serve the system table `rethinkdb.table_status`/)});
			await expect(r.db('test').table('t').run(connection)).rejects.toMatchObject({name: 'ReqlOpFailedError', msg: 'Database `test` does not exist.'});
		});
	});

	it('joiners started with --initial-password auto took the cluster password; a wrong one or an unknown user is refused', () => {
		// rdb_2 and rdb_3 answered PASSWORD above. Wrong credentials, in a child process:
		expect(JSON.parse(connectInChild(ports(offsets[2]!).driver, 'admin', 'wrong', true).stdout)).toEqual({name: 'ReqlAuthError', message: 'Wrong password'});
		expect(JSON.parse(connectInChild(ports(offsets[2]!).driver, 'bob', PASSWORD, true).stdout)).toEqual({name: 'ReqlAuthError', message: 'Unknown user'});
	});

	it('a refused handshake leaves the npm driver a timer that crashes a process still running (rethinkdb#6290, driver-side)', () => {
		const result = connectInChild(ports(offsets[0]!).driver, 'admin', 'wrong', false);
		expect(result.stdout).toContain('ReqlAuthError');
		expect(result.status).not.toBe(0);
		expect(result.stderr).toContain('ReqlTimeoutError');
	});

	it('the HTTP page is titled as the stand-in and says "Servers: 3 connected"; /health agrees', async () => {
		const page = await (await fetch(`http://127.0.0.1:${ports(offsets[0]!).http}/`)).text();
		expect(page).toContain('<title>swarmbee RethinkDB stand-in');
		expect(page).toContain('Servers: 3 connected');
		expect(page).toContain('rdb_3');
		const health = await (await fetch(`http://127.0.0.1:${ports(offsets[0]!).http}/health`)).json() as {servers_connected: number; critical_issues: number};
		expect(health).toMatchObject({servers_connected: 3, critical_issues: 0});
	});

	it('a second server named rdb_2 shows up as a critical server_name_collision, and goes away with it', async () => {
		const twin = start('rdb_2 twin', offsets[3]!, newDirectory(), ['--server-name', 'rdb_2', '--initial-password', 'auto', '--join', `127.0.0.1:${ports(offsets[0]!).cluster}`]);
		const collision = await waitUntil('a name collision issue', async () => (await currentIssues(offsets[0]!)).find(issue => issue.type === 'server_name_collision'));
		const ids = (await serverStatus(offsets[0]!)).filter(row => row.name === 'rdb_2').map(row => row.id).sort();
		expect(ids).toHaveLength(2);
		expect(collision).toMatchObject({critical: true, info: {name: 'rdb_2', ids}});
		twin.child.kill('SIGTERM');
		expect(await twin.exited).toBe(0);
		await waitUntil('the collision to clear', () => converged(offsets[0]!, ['rdb_1', 'rdb_2', 'rdb_3']));
	});

	it('a killed server leaves server_status; restarted on its directory it keeps its id and name, and warns about --server-name', async () => {
		const before = (await serverStatus(offsets[0]!)).find(row => row.name === 'rdb_3')!;
		c.child.kill('SIGKILL');
		await c.exited;
		const without = await waitUntil('rdb_3 to drop out', async () => {
			const rows = await serverStatus(offsets[0]!);
			return rows.length === 2 ? rows : undefined;
		});
		expect(without.map(row => row.name)).toEqual(['rdb_1', 'rdb_2']);
		expect(without[0]!.network.connected_to).toMatchObject({rdb_2: true, rdb_3: false});

		c = start('rdb_3 again', offsets[2]!, c.directory, ['--server-name', 'renamed_3', '--join', `127.0.0.1:${ports(offsets[0]!).cluster}`]);
		await waitUntil('rdb_3 to be back in a full mesh', () => converged(offsets[0]!, ['rdb_1', 'rdb_2', 'rdb_3']));
		const after = (await serverStatus(offsets[2]!)).find(row => row.network.cluster_port === ports(offsets[2]!).cluster)!;
		expect(after).toMatchObject({id: before.id, name: 'rdb_3'});
		expect(c.output()).toContain('WARNING: ignoring --server-name because this server already has a name.');
	});

	it('a joiner without a password is kept out of the password-protected cluster', async () => {
		const bare = start('no password', offsets[4]!, newDirectory(), ['--server-name', 'bare', '--join', `127.0.0.1:${ports(offsets[0]!).cluster}`]);
		await waitUntil('rdb_1 to refuse it', () => a.output().includes('Rejected a connection from server "bare"'));
		expect(bare.output()).not.toContain('Server ready');
		expect(await portFree(ports(offsets[4]!).driver)).toBe(true);
		bare.child.kill('SIGTERM');
		expect(await bare.exited).toBe(0);
	});

	it('a --join target that is the server itself is dropped, and it boots alone', async () => {
		const own = ports(offsets[5]!).cluster;
		const alone = start('alone', offsets[5]!, newDirectory(), ['--server-name', 'alone', '--join', `127.0.0.1:${own}`, '--no-http-admin']);
		await waitUntil('it to be ready', () => alone.output().includes('Server ready, "alone"'));
		expect(alone.output()).toContain('Attempted to join self, peer ignored');
		// Started without --initial-password, its admin password is empty.
		const rows = await withConnection(offsets[5]!, async connection => (await r.db('rethinkdb').table('server_status').run(connection)).toArray<ServerStatusRow>(), '');
		expect(rows.map(row => row.name)).toEqual(['alone']);
		alone.child.kill('SIGTERM');
		expect(await alone.exited).toBe(0);
	});

	it('exits non-zero on a --join name that does not resolve, and on options rethinkdb would refuse', async () => {
		const lost = start('unresolvable', offsets[4]!, newDirectory(), ['--join', 'no-such-host.invalid:29015']);
		expect(await lost.exited).not.toBe(0);
		expect(lost.output()).toContain('getaddrinfo() failed for hostname \'no-such-host.invalid\'');
		for (const [args, message] of [
			[['--bind=all'], 'Unrecognized option \'--bind=all\'.'],
			[['--cluster-tls-key', 'k'], 'does not implement'],
			[['--server-name', 'not-valid'], 'Use A-Za-z0-9_ only'],
		] as const) {
			const result = spawnSync(process.execPath, [SERVER, ...args], {encoding: 'utf8'});
			expect(result.status).toBe(1);
			expect(result.stderr).toContain(message);
		}
	});
});
