/**
 * Tunnel benchmark: the RethinkDB driver port through `swarmbee tunnel`,
 * through swarmbee's own database session (`openDatabase`, what `status`,
 * the dashboard and `backup` use, in the bench's own process) and through a
 * plain OpenSSH forward (`ssh -L`) to the same server address, side by side
 * in one run on one cluster.
 *
 *     npm run build && node dist/bench/tunnel.js [--workers 1] [--queries 1000] [--reads 2000] [--documents 50000] [--rounds 2] [--keep]
 *     node dist/bench/tunnel.js --cluster NAME   # an existing cluster in $SWARMBEE_HOME, left as it is
 *
 * It brings up a local 1+N cluster with the real RethinkDB 2.4.4 (unless
 * `--cluster`), fills `bench_tunnel.read` server-side with `--documents`
 * documents of about 1 KiB, then per round and per path (the order turns
 * each round, so a machine that drifts favours none):
 *
 * - `--queries` sequential trivial queries (`r.expr(i)`): p50 and p99 in ms;
 * - `--reads` sequential single reads by id (random ids): reads per second;
 * - a bulk insert of `--documents` documents of 1 KiB in batches of 500,
 *   into a new table each time: documents per second;
 * - a full-table read of `bench_tunnel.read` with a cursor: MB/s (the JSON
 *   size as the server serializes it).
 *
 * OpenSSH gets the cluster's key from its state folder and a known_hosts
 * made from the journal's host keys (StrictHostKeyChecking yes, no user
 * config). The best round of each path is reported, with each path's ratio to
 * OpenSSH's and the targets: p50 ≤ 1.3×, reads/s and insert docs/s ≥ 0.8×,
 * full-table MB/s ≥ 0.9× (exit code 1 when one is missed).
 */
import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {execa, type ResultPromise} from 'execa';
import r from 'rethinkdb';
import {connectDriver, type DatabaseSession, databaseNodes, openDatabase} from '../source/database/rethinkdb.js';
import {DRIVER_PORT} from '../source/database/stack.js';
import {sshTarget} from '../source/nodes/targets.js';
import {DockerCli} from '../source/docker/cli.js';
import {ensureRethinkdbImage} from '../source/docker/rethinkdb-image.js';
import {SshPool} from '../source/ssh/pool.js';
import {swarmbeeHome} from '../source/paths.js';
import {ClusterStore} from '../source/store/cluster-store.js';
import type {TunnelStatus} from '../source/tunnel/types.js';
import {cli, flag} from './common.js';
import {defined} from '../source/errors.js';
import {firstNode, nodeNamed} from '../source/store/nodes.js';
import type {NodeRecord} from '../source/store/journal.js';

const HELP = `Usage: node dist/bench/tunnel.js [options]

The RethinkDB driver port through swarmbee tunnel, through swarmbee's own
database session (openDatabase) and through an OpenSSH -L forward to the same
server, side by side in one run on one cluster.

Options:
  --workers N      workers of the local cluster it brings up (default 1: a 1+1)
  --cluster NAME   use this existing cluster in $SWARMBEE_HOME instead (kept as it is)
  --queries N      sequential trivial queries per path and round (default 1000)
  --reads N        sequential single reads by id per path and round (default 2000)
  --documents N    documents of 1 KiB in the read table and in each bulk insert (default 50000)
  --rounds N       rounds; each path's best is reported (default 2)
  --keep           leave the cluster it brought up (prints how to remove it)
  --help           this text

Targets (against OpenSSH, same run): p50 <= 1.3x, reads/s and insert docs/s >= 0.8x,
full-table MB/s >= 0.9x; the exit code is 1 when one is missed.
`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
	process.stdout.write(HELP);
	process.exit(0);
}

const existing = (() => {
	const at = process.argv.indexOf('--cluster');
	return at > 0 ? process.argv[at + 1] : undefined;
})();
const workers = flag('workers', 1);
const queries = flag('queries', 1000);
const reads = flag('reads', 2000);
const documents = flag('documents', 50_000);
const rounds = flag('rounds', 2);
const keep = process.argv.includes('--keep');
for (const [name, value] of Object.entries({workers, queries, reads, documents, rounds}))
	if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} takes a whole number of at least 1`);

const name = existing ?? `bench-tunnel-${process.pid}`;
const home = existing ? swarmbeeHome() : mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-'));
const work = mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-tunnel-'));
const env = {SWARMBEE_HOME: home};
const DB = 'bench_tunnel';
const BATCH = 500;

type Path = 'tunnel' | 'session' | 'openssh';
interface Figures {
	p50Ms: number;
	p99Ms: number;
	readsPerS: number;
	insertDocsPerS: number;
	readMBperS: number;
}

async function freePort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	const port = (server.address() as net.AddressInfo).port;
	await new Promise(resolve => server.close(resolve));
	return port;
}

async function until<T>(what: () => Promise<T | undefined> | T | undefined, timeoutMs: number, why: () => string) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await Promise.resolve()
			.then(what)
			.catch(() => undefined);
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`timed out: ${why()}`);
		await sleep(200);
	}
}

/** Where SSH reaches a node, which the journal records once the machine is up. */
function sshOf(node: NodeRecord): NonNullable<NodeRecord['ssh']> {
	return defined(node.ssh, `${node.name} has no SSH address in the journal`);
}

function percentile(sorted: number[], p: number): number {
	return defined(
		sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))],
		'a percentile of no samples',
	);
}

/** A document of about 1 KiB: random hex, so nothing on the way compresses it away. */
function document(id: number): {id: number; n: number; pad: string} {
	let pad = '';
	while (pad.length < 1000) pad += Math.random().toString(16).slice(2);
	return {id, n: id, pad: pad.slice(0, 1000)};
}

async function measure(connection: r.Connection, label: string, round: number): Promise<Figures> {
	const latencies: number[] = [];
	for (let i = 0; i < queries; i++) {
		const started = process.hrtime.bigint();
		await r.expr(i).run(connection);
		latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
	}
	latencies.sort((a, b) => a - b);

	const table = r.db(DB).table('read');
	let started = process.hrtime.bigint();
	for (let i = 0; i < reads; i++) await table.get(Math.floor(Math.random() * documents) as never).run(connection);
	const readsPerS = reads / (Number(process.hrtime.bigint() - started) / 1e9);

	const target = `insert_${label}_${round}`;
	await r.db(DB).tableCreate(target).run(connection);
	await r.db(DB).table(target).wait().run(connection);
	const batches: Array<ReturnType<typeof document>[]> = [];
	for (let at = 0; at < documents; at += BATCH)
		batches.push(Array.from({length: Math.min(BATCH, documents - at)}, (_, i) => document(at + i)));
	started = process.hrtime.bigint();
	for (const batch of batches) await r.db(DB).table(target).insert(batch).run(connection);
	const insertDocsPerS = documents / (Number(process.hrtime.bigint() - started) / 1e9);
	const inserted = await r.db(DB).table(target).count().run(connection);
	if (inserted !== documents) throw new Error(`${label}: ${inserted} of ${documents} documents inserted`);
	await r.db(DB).tableDrop(target).run(connection);

	started = process.hrtime.bigint();
	const cursor = await table.run(connection);
	let rows = 0;
	await new Promise<void>((resolve, reject) =>
		cursor.each(
			error => {
				if (error) reject(error);
				else rows++;
			},
			() => resolve(),
		),
	);
	const readS = Number(process.hrtime.bigint() - started) / 1e9;
	if (rows !== documents) throw new Error(`${label}: the full read gave ${rows} of ${documents} documents`);
	return {
		p50Ms: percentile(latencies, 50),
		p99Ms: percentile(latencies, 99),
		readsPerS,
		insertDocsPerS,
		readMBperS: tableBytes / 1e6 / readS,
	};
}

let tableBytes = 0;
let tunnel: ResultPromise | undefined;
let openssh: ResultPromise | undefined;
let session: DatabaseSession | undefined;
let pool: SshPool | undefined;
const connections: r.Connection[] = [];

try {
	if (!existing) {
		const image = (await ensureRethinkdbImage(new DockerCli())).tag;
		const started = Date.now();
		const up = await execa(
			process.execPath,
			[cli, 'up', name, '--workers', String(workers), '--rethinkdb-image', image, '--yes', '--plain'],
			{env, reject: false, stdin: 'ignore'},
		);
		if (up.exitCode !== 0) throw new Error(`up failed (exit ${up.exitCode}):\n${String(up.stderr).slice(-3000)}`);
		process.stderr.write(`1+${workers} up in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
	}
	const store = new ClusterStore(home);
	const {journal, privateKey, paths} = store.loadCluster(name);
	if (!privateKey) throw new Error(`${name} has no cluster key in ${paths.clusterKey}`);
	const password = readFileSync(paths.rethinkdbPassword, 'utf8').trim();

	// swarmbee tunnel, as a user runs it.
	const driverPort = await freePort();
	tunnel = execa(
		process.execPath,
		[cli, 'tunnel', name, '--admin-port', String(await freePort()), '--driver-port', String(driverPort), '--json'],
		{env, reject: false, buffer: false, stdin: 'ignore'},
	);
	let said = '';
	defined(tunnel.stdout, 'swarmbee tunnel has no stdout pipe').on('data', (chunk: Buffer) => {
		said += chunk.toString();
	});
	const status = await until(
		() => {
			const last = said
				.split('\n')
				.filter(line => line.startsWith('{'))
				.at(-1);
			const tunnels = last ? (JSON.parse(last) as {tunnels: TunnelStatus[]}).tunnels : [];
			const driver = tunnels.find(t => t.name === 'driver');
			return driver?.state === 'open' && driver.target.address ? driver : undefined;
		},
		60_000,
		() => `swarmbee tunnel did not open: ${said.slice(-500)}`,
	);

	// OpenSSH to the same node and the same address, the cluster's key, the journal's host key and nothing else.
	const node = nodeNamed(journal, defined(status.target.node, 'the open tunnel names no node'));
	const nodeSsh = sshOf(node);
	const knownHosts = path.join(work, 'known_hosts');
	writeFileSync(
		knownHosts,
		journal.nodes
			.map(n => {
				const {host: address, port} = sshOf(n);
				const host = port === 22 ? address : `[${address}]:${port}`;
				return `${host} ${n.hostKey.publicKey.split(' ').slice(0, 2).join(' ')}\n`;
			})
			.join(''),
	);
	const keyFile = path.join(work, 'id_ed25519');
	writeFileSync(keyFile, privateKey, {mode: 0o600});
	chmodSync(keyFile, 0o600);
	const opensshPort = await freePort();
	openssh = execa(
		'ssh',
		[
			'-F',
			'/dev/null',
			'-N',
			'-o',
			'BatchMode=yes',
			'-o',
			'StrictHostKeyChecking=yes',
			'-o',
			`UserKnownHostsFile=${knownHosts}`,
			'-o',
			'IdentitiesOnly=yes',
			'-o',
			'ExitOnForwardFailure=yes',
			'-i',
			keyFile,
			'-p',
			String(nodeSsh.port),
			'-L',
			`127.0.0.1:${opensshPort}:${status.target.address}:${DRIVER_PORT}`,
			`${nodeSsh.user}@${nodeSsh.host}`,
		],
		{reject: false, buffer: false, stdin: 'ignore'},
	);
	let opensshSaid = '';
	defined(openssh.stderr, 'ssh has no stderr pipe').on('data', (chunk: Buffer) => {
		opensshSaid += chunk.toString();
	});

	// swarmbee's own session: what status, the dashboard and backup use, in this process.
	pool = new SshPool(n => sshTarget(journal, n, privateKey));
	// The same server as the tunnel's: the first node's.
	const opened = await openDatabase({
		ssh: pool,
		manager: databaseNodes(journal).manager,
		nodes: [firstNode(journal).name],
		password,
	});

	session = opened;

	const connect: Record<Path, () => Promise<r.Connection>> = {
		tunnel: () => connectDriver({host: '127.0.0.1', port: driverPort, password}),
		openssh: () => connectDriver({host: '127.0.0.1', port: opensshPort, password}),
		session: async () => opened.connection,
	};
	const connected = {} as Record<Path, r.Connection>;
	for (const [label, open] of Object.entries(connect) as Array<[Path, () => Promise<r.Connection>]>) {
		connected[label] = await until(open, 30_000, () => `${label} gave no driver connection ${opensshSaid}`);
		if (label !== 'session') connections.push(connected[label]);
	}

	// The table every path reads: filled server-side, so the fill crosses no forward.
	const admin = connected.openssh;
	if (!((await r.dbList().run(admin)) as string[]).includes(DB)) await r.dbCreate(DB).run(admin);
	const tables = (await r.db(DB).tableList().run(admin)) as string[];
	for (const stale of tables.filter(t => t.startsWith('insert_'))) await r.db(DB).tableDrop(stale).run(admin);
	if (!tables.includes('read') || (await r.db(DB).table('read').count().run(admin)) !== documents) {
		if (tables.includes('read')) await r.db(DB).tableDrop('read').run(admin);
		await r.db(DB).tableCreate('read').run(admin);
		const rql = r as unknown as {
			range(a: number, b: number): {map(f: (i: unknown) => unknown): unknown};
			expr(v: unknown): {coerceTo(t: string): unknown; add(v: unknown): unknown};
			uuid(): unknown;
			row: {toJSON(): {count(): unknown}};
		};
		for (let start = 0; start < documents; start += 10_000) {
			const end = Math.min(documents, start + 10_000);
			// 27 UUIDs and a little: about 1 KiB a document.
			const pad = Array.from({length: 27}, () => rql.uuid()).reduce((a, b) => rql.expr(a).add(b));
			await r
				.db(DB)
				.table('read')
				.insert(rql.range(start, end).map(i => ({id: i, n: i, pad})) as never, {durability: 'soft'})
				.run(admin);
		}
		await (r.db(DB).table('read') as unknown as {sync(): r.Operation<unknown>}).sync().run(admin);
	}
	tableBytes = (await (
		r.db(DB).table('read') as unknown as {
			map(f: unknown): {sum(): r.Operation<number>};
		}
	)
		.map((r as unknown as {row: {toJSON(): {count(): unknown}}}).row.toJSON().count())
		.sum()
		.run(admin)) as number;
	process.stderr.write(
		`${DB}.read: ${documents.toLocaleString('en-US')} documents, ${(tableBytes / 1e6).toFixed(1)} MB of JSON; through ${status.target.node} to ${status.target.address}:${DRIVER_PORT}\n`,
	);

	const order: Path[] = ['openssh', 'tunnel', 'session'];
	const results: Record<Path, Figures[]> = {openssh: [], tunnel: [], session: []};
	for (let round = 1; round <= rounds; round++) {
		const turn = order.map((_, i) => defined(order[(i + round - 1) % order.length], 'an index past the order'));
		for (const label of turn) {
			const figures = await measure(connected[label], label, round);
			results[label].push(figures);
			process.stderr.write(
				`round ${round} ${label.padEnd(7)} p50 ${figures.p50Ms.toFixed(2)} ms  p99 ${figures.p99Ms.toFixed(2)} ms  ${figures.readsPerS.toFixed(0)} reads/s  ${figures.insertDocsPerS.toFixed(0)} docs/s inserted  ${figures.readMBperS.toFixed(1)} MB/s read\n`,
			);
		}
	}

	const best = (label: Path): Figures => {
		const all = results[label];
		return {
			p50Ms: Math.min(...all.map(f => f.p50Ms)),
			p99Ms: Math.min(...all.map(f => f.p99Ms)),
			readsPerS: Math.max(...all.map(f => f.readsPerS)),
			insertDocsPerS: Math.max(...all.map(f => f.insertDocsPerS)),
			readMBperS: Math.max(...all.map(f => f.readMBperS)),
		};
	};
	const reference = best('openssh');
	const targets: Array<{key: keyof Figures; ratio: (f: Figures) => number; limit: string; ok: (x: number) => boolean}> =
		[
			{key: 'p50Ms', ratio: f => f.p50Ms / reference.p50Ms, limit: '≤ 1.3×', ok: x => x <= 1.3},
			{key: 'readsPerS', ratio: f => f.readsPerS / reference.readsPerS, limit: '≥ 0.8×', ok: x => x >= 0.8},
			{
				key: 'insertDocsPerS',
				ratio: f => f.insertDocsPerS / reference.insertDocsPerS,
				limit: '≥ 0.8×',
				ok: x => x >= 0.8,
			},
			{key: 'readMBperS', ratio: f => f.readMBperS / reference.readMBperS, limit: '≥ 0.9×', ok: x => x >= 0.9},
		];
	const lines = [
		`the driver port of ${status.target.node}'s server, 1+${journal.nodes.length - 1}, best of ${rounds} round${rounds === 1 ? '' : 's'}: ${queries} trivial queries, ${reads} reads by id, ${documents.toLocaleString('en-US')} documents of 1 KiB inserted (batches of ${BATCH}) and read whole (${(tableBytes / 1e6).toFixed(1)} MB)`,
		'',
		'| path | p50 ms | p99 ms | reads/s | insert docs/s | full read MB/s |',
		'|---|---|---|---|---|---|',
	];
	const missed: string[] = [];
	for (const label of ['openssh', 'tunnel', 'session'] as Path[]) {
		const f = best(label);
		const cell = (key: keyof Figures, digits: number) => {
			const value = f[key].toFixed(digits);
			if (label === 'openssh' || key === 'p99Ms') return value;
			const target = defined(
				targets.find(t => t.key === key),
				`no target for ${key}`,
			);
			const ratio = target.ratio(f);
			if (!target.ok(ratio)) missed.push(`${label} ${key}: ${ratio.toFixed(2)}× (target ${target.limit})`);
			return `${value} (${ratio.toFixed(2)}×)`;
		};
		const title = {openssh: 'OpenSSH ssh -L', tunnel: 'swarmbee tunnel', session: 'swarmbee session (openDatabase)'}[
			label
		];
		lines.push(
			`| ${title} | ${cell('p50Ms', 2)} | ${cell('p99Ms', 2)} | ${cell('readsPerS', 0)} | ${cell('insertDocsPerS', 0)} | ${cell('readMBperS', 1)} |`,
		);
	}
	lines.push(
		'',
		`targets against OpenSSH: p50 ≤ 1.3×, reads/s and insert docs/s ≥ 0.8×, full read MB/s ≥ 0.9×: ${missed.length === 0 ? 'all met' : `missed: ${missed.join('; ')}`}`,
	);
	process.stdout.write(`${lines.join('\n')}\n`);
	process.stdout.write(
		`${JSON.stringify({bench: 'tunnel', documents, tableBytes, queries, reads, rounds, results})}\n`,
	);
	if (missed.length > 0) process.exitCode = 1;
} finally {
	for (const connection of connections) await connection.close({noreplyWait: false}).catch(() => {});
	await session?.close().catch(() => {});
	pool?.closeAll();
	tunnel?.kill('SIGINT');
	openssh?.kill('SIGTERM');
	await tunnel?.catch(() => {});
	await openssh?.catch(() => {});
	rmSync(work, {recursive: true, force: true});
	if (!existing) {
		if (keep) process.stderr.write(`kept: SWARMBEE_HOME=${home} swarmbee down ${name} --yes --forget\n`);
		else {
			await execa(process.execPath, [cli, 'down', name, '--yes', '--forget'], {env, reject: false});
			rmSync(home, {recursive: true, force: true});
		}
	}
}
