/**
 * Backup and restore throughput: swarmbee's `backup`/`restore` against the
 * ceilings (what the same path can carry at best) and the official
 * `rethinkdb dump`/`restore` (Python driver 2.4.9), side by side in one run
 * on one server, with each process's peak RSS.
 *
 *     npm run build && node dist/bench/backup.js [--size-mb 256] [--pairs 2] [--keep] [--name bench-backup-x]
 *         [--home DIR (a SWARMBEE_HOME holding the cluster already)] [--compare-cli OTHER/dist/source/cli.js]
 *
 * It brings up a local 1+1 cluster with the real RethinkDB 2.4.4
 * (`--size s-2vcpu-4gb --memory-limit 2g`), fills `bench.t` server-side with ~1 KB documents
 * (random hex, so gzip has real work) and a secondary index, then for each
 * pair runs, in an order that rotates from pair to pair:
 *
 * - backup: `swarmbee backup` (read back, as by default); a plain cursor
 *   reading the table through swarmbee's own SSH forward and writing nothing
 *   (the ceiling of that path); the same read from inside the cluster (a
 *   process in the node's network namespace, no SSH); the official dump
 *   (through `swarmbee tunnel`: nothing is published, so that is its only way in).
 * - restore (the table dropped before each): `swarmbee restore`; a plain
 *   batched insert of the same documents (1,000 a batch, one at a time,
 *   through the same SSH forward, the index built after); the official restore.
 *
 * Each command is timed as a whole process (/usr/bin/time: wall seconds,
 * peak RSS, CPU). MB/s divides the table's JSON size as the server
 * serializes it (the same number for all); after every restore the table is
 * counted and its index checked. swarmbee's MB/s is given as a fraction of
 * each ceiling and of the official tool, pair by pair and as a median.
 */
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {execa} from 'execa';
import r from 'rethinkdb';
import {rql} from '../source/backup/reql.js';
import {parseTaskAddress, taskAddressCommand} from '../source/database/rethinkdb.js';
import {DockerCli} from '../source/docker/cli.js';
import {ensureRethinkdbImage, findRethinkdbSource} from '../source/docker/rethinkdb-image.js';
import {cli, flag, root} from './common.js';

const sizeMb = flag('size-mb', 256);
const pairs = flag('pairs', 2);
const keep = process.argv.includes('--keep');
const nameAt = process.argv.indexOf('--name');
const name = nameAt > 0 ? process.argv[nameAt + 1]! : `bench-backup-${process.pid}`;
const ceiling = path.join(root, 'dist/bench/backup-ceiling.js');
// --compare-cli PATH: another build's cli.js (main before a change) timed beside, as "swarmbee (other build)".
const compareAt = process.argv.indexOf('--compare-cli');
const compareCli = compareAt > 0 ? path.resolve(process.argv[compareAt + 1]!) : undefined;
// --home DIR: a SWARMBEE_HOME that already holds the cluster (and bench.t), kept afterwards.
const homeAt = process.argv.indexOf('--home');
const reuse = homeAt > 0;
const home = reuse ? path.resolve(process.argv[homeAt + 1]!) : mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-'));
const work = mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-backup-'));
const env = {SWARMBEE_HOME: home};
const python = {PYTHONPATH: path.join(findRethinkdbSource(), 'python')};
/** 256 MB makes the 250,000 documents (each about 1 KB of JSON). */
const DOCUMENT_BYTES = (256 * 1024 * 1024) / 250_000;

interface Timed {
	wallS: number;
	peakMb: number;
	cpuS: number;
	exitCode: number;
	output: string;
}

/** One whole command under /usr/bin/time: wall seconds, peak RSS (largest process), CPU. */
async function timed(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<Timed> {
	const report = path.join(work, 'time.txt');
	const result = await execa('/usr/bin/time', ['-o', report, '-f', '%e %M %U %S', command, ...args], {
		reject: false,
		env: {...env, ...extraEnv},
		stdin: 'ignore',
	});
	const [wall, peakKb, user, system] = readFileSync(report, 'utf8')
		.trim()
		.split('\n')
		.at(-1)!
		.split(' ')
		.map(Number) as [number, number, number, number];
	return {
		wallS: wall,
		peakMb: peakKb / 1024,
		cpuS: user + system,
		exitCode: result.exitCode ?? -1,
		output: `${String(result.stdout)}\n${String(result.stderr)}`,
	};
}

async function freePort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	const port = (server.address() as net.AddressInfo).port;
	await new Promise(resolve => server.close(resolve));
	return port;
}

function must(result: Timed, what: string): Timed {
	if (result.exitCode !== 0) throw new Error(`${what} exited ${result.exitCode}:\n${result.output.slice(-3000)}`);
	return result;
}

const rows: Array<{tool: string; phase: string; pair: number} & Timed> = [];
let tunnel: ReturnType<typeof execa> | undefined;
let connection: r.Connection | undefined;

try {
	const image = (await ensureRethinkdbImage(new DockerCli())).tag;
	const upStarted = Date.now();
	if (!existsSync(path.join(home, 'clusters', name)))
		must(
			await timed(process.execPath, [
				cli,
				'up',
				name,
				'--workers',
				'1',
				'--size',
				's-2vcpu-4gb',
				'--memory-limit',
				'2g',
				'--rethinkdb-image',
				image,
				'--yes',
				'--plain',
			]),
			'up',
		);
	process.stderr.write(`cluster up in ${((Date.now() - upStarted) / 1000).toFixed(0)} s\n`);
	const password = readFileSync(path.join(home, 'clusters', name, 'keys', 'rethinkdb-admin-password'), 'utf8').trim();
	const passwordFile = path.join(work, 'password');
	writeFileSync(passwordFile, `${password}\n`, {mode: 0o600});

	const driverPort = await freePort();
	tunnel = execa(
		process.execPath,
		[cli, 'tunnel', name, '--admin-port', String(await freePort()), '--driver-port', String(driverPort), '--json'],
		{env, reject: false, buffer: false},
	);
	for (let i = 0; ; i++) {
		try {
			connection = await r.connect({host: '127.0.0.1', port: driverPort, user: 'admin', password});
			break;
		} catch (error) {
			if (i > 120) throw error;
			await sleep(500);
		}
	}

	const documents = Math.round((sizeMb * 1024 * 1024) / DOCUMENT_BYTES);
	const filled = Date.now();
	const present = ((await rql.dbList().run(connection)) as string[]).includes('bench');
	if (present) {
		const count = (await rql.db('bench').table('t').count().run(connection)) as number;
		if (count !== documents)
			throw new Error(`bench.t holds ${count} documents, not ${documents}: drop it or choose --size-mb`);
	} else await fill();
	async function fill() {
		await rql.dbCreate('bench').run(connection);
		await rql.db('bench').tableCreate('t').run(connection);
		await rql.db('bench').table('t').indexCreate('customer').run(connection);
		const chunk = 20_000;
		for (let start = 0; start < documents; start += chunk) {
			const end = Math.min(documents, start + chunk);
			await rql
				.db('bench')
				.table('t')
				.insert(
					rql.range(start, end).map((i: unknown) => ({
						id: i,
						customer: rql.expr('c').add(rql.expr(i).mod(1000).coerceTo('string')),
						n: i,
						price: rql.expr(i).mul(0.37),
						tags: ['bench', rql.expr(i).mod(7).coerceTo('string')],
						placed: rql.epochTime(rql.expr(i).add(1_700_000_000)),
						pad: rql
							.range(0, 24)
							.map(() => rql.uuid())
							.reduce((a: unknown, b: unknown) => rql.expr(a).add(b)),
					})),
					{durability: 'soft'},
				)
				.run(connection);
		}
		await rql.db('bench').table('t').sync().run(connection);
		await rql.db('bench').table('t').indexWait().run(connection);
	}
	const dataBytes = (await rql.db('bench').table('t').map(rql.row.toJSON().count()).sum().run(connection)) as number;
	process.stderr.write(
		`bench.t: ${documents} documents, ${(dataBytes / 1e6).toFixed(0)} MB of JSON, filled in ${((Date.now() - filled) / 1000).toFixed(0)} s\n`,
	);

	const drop = async () => {
		await rql.db('bench').tableDrop('t').run(connection!);
	};
	const check = async (tool: string) => {
		const count = await rql.db('bench').table('t').count().run(connection!);
		const indexes = (await rql.db('bench').table('t').indexStatus().pluck('index', 'ready').run(connection!)) as Array<{
			index: string;
			ready: boolean;
		}>;
		if (count !== documents || indexes.length !== 1 || !indexes[0]!.ready)
			throw new Error(
				`after ${tool}'s restore: ${count} of ${documents} documents, indexes ${JSON.stringify(indexes)}`,
			);
	};
	const passwordPath = path.join(home, 'clusters', name, 'keys', 'rethinkdb-admin-password');
	const node = `swarmbee-${name}-queenbee`;
	const nodePid = (await execa('docker', ['inspect', '-f', '{{.State.Pid}}', node])).stdout.trim();
	/** The server's address inside the node (docker_gwbridge), asked again before each use: a task may move. */
	const serverAddress = async () => {
		const output = (await execa('docker', ['exec', node, 'sh', '-c', taskAddressCommand('queenbee')])).stdout;
		const address = parseTaskAddress(output);
		if (!address) throw new Error(`no server address in ${output}`);
		return address;
	};
	const official = (args: string[]) => timed('/usr/bin/python3', ['-m', 'rethinkdb', ...args], python);
	const tools: Record<'backup' | 'restore', Array<[string, (file: string) => Promise<Timed>]>> = {
		backup: [
			[
				'swarmbee',
				file => timed(process.execPath, [cli, 'backup', name, '--out', file, '--tables', 'bench.t', '--plain']),
			],
			['plain read, SSH forward', () => timed(process.execPath, [ceiling, 'read-forward', name])],
			[
				'plain read, in the cluster',
				async () =>
					timed('nsenter', [
						'-t',
						nodePid,
						'-n',
						process.execPath,
						ceiling,
						'read-direct',
						await serverAddress(),
						passwordPath,
					]),
			],
			...(compareCli
				? ([
						[
							'swarmbee (other build)',
							file =>
								timed(process.execPath, [compareCli, 'backup', name, '--out', file, '--tables', 'bench.t', '--plain']),
						],
					] as Array<[string, (file: string) => Promise<Timed>]>)
				: []),
			[
				'official dump',
				file =>
					official([
						'dump',
						'-c',
						`127.0.0.1:${driverPort}`,
						'--password-file',
						passwordFile,
						'-e',
						'bench.t',
						'-f',
						file,
					]),
			],
		],
		restore: [
			['swarmbee', file => timed(process.execPath, [cli, 'restore', name, file, '--plain'])],
			['plain batched insert, SSH forward', file => timed(process.execPath, [ceiling, 'insert-forward', name, file])],
			...(compareCli
				? ([
						['swarmbee (other build)', file => timed(process.execPath, [compareCli, 'restore', name, file, '--plain'])],
					] as Array<[string, (file: string) => Promise<Timed>]>)
				: []),
			[
				'official restore',
				file => official(['restore', file, '-c', `127.0.0.1:${driverPort}`, '--password-file', passwordFile]),
			],
		],
	};
	const archive = (pair: number) => path.join(work, `swarmbee-${pair}.tar.gz`);
	const rotate = <T>(list: T[], by: number) => list.map((_, i) => list[(i + by) % list.length]!);

	for (let pair = 1; pair <= pairs; pair++) {
		// Rotate who goes first, so a machine that drifts faster or slower favours none.
		for (const [tool, run] of rotate(tools.backup, pair - 1)) {
			const file = tool === 'swarmbee' ? archive(pair) : path.join(work, `${tool.replace(/\W+/g, '-')}-${pair}.tar.gz`);
			rows.push({tool, phase: 'backup', pair, ...must(await run(file), `${tool} backup`)});
			process.stderr.write(
				`pair ${pair}: ${tool} backup ${rows.at(-1)!.wallS.toFixed(1)} s, peak RSS ${rows.at(-1)!.peakMb.toFixed(0)} MB, CPU ${rows.at(-1)!.cpuS.toFixed(1)} s\n`,
			);
		}
		const officialFile = path.join(work, `official-dump-${pair}.tar.gz`);
		for (const [tool, run] of rotate(tools.restore, pair - 1)) {
			await drop();
			const file = tool === 'official restore' ? officialFile : archive(pair);
			rows.push({tool, phase: 'restore', pair, ...must(await run(file), `${tool} restore`)});
			process.stderr.write(
				`pair ${pair}: ${tool} restore ${rows.at(-1)!.wallS.toFixed(1)} s, peak RSS ${rows.at(-1)!.peakMb.toFixed(0)} MB, CPU ${rows.at(-1)!.cpuS.toFixed(1)} s\n`,
			);
			await check(tool);
		}
		for (const file of readdirSync(work).filter(f => f.endsWith(`-${pair}.tar.gz`)))
			rmSync(path.join(work, file), {force: true});
	}

	const median = (values: number[]) => {
		const sorted = [...values].sort((a, b) => a - b);
		const mid = Math.floor(sorted.length / 2);
		return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
	};
	const mbps = (row: {wallS: number}) => dataBytes / 1e6 / row.wallS;
	const lines = [
		`backup and restore of bench.t: ${documents.toLocaleString('en-US')} documents, ${(dataBytes / 1e6).toFixed(0)} MB of JSON, one secondary index; ${pairs} pair${pairs === 1 ? '' : 's'}, medians`,
		'',
		'| phase | tool | wall s | MB/s | peak RSS MB | CPU s | runs (wall s) |',
		'|---|---|---|---|---|---|---|',
	];
	for (const phase of ['backup', 'restore'] as const) {
		for (const [tool] of tools[phase]) {
			const mine = rows.filter(row => row.tool === tool && row.phase === phase);
			const wall = median(mine.map(row => row.wallS));
			lines.push(
				`| ${phase} | ${tool} | ${wall.toFixed(1)} | ${(dataBytes / 1e6 / wall).toFixed(1)} | ${Math.max(...mine.map(row => row.peakMb)).toFixed(0)} | ${median(mine.map(row => row.cpuS)).toFixed(1)} | ${mine.map(row => row.wallS.toFixed(1)).join(', ')} |`,
			);
		}
	}
	lines.push('', "swarmbee's MB/s as a fraction of each, pair by pair (median):", '');
	for (const phase of ['backup', 'restore'] as const) {
		for (const [tool] of tools[phase].slice(1)) {
			const ratios = Array.from({length: pairs}, (_, i) => {
				const ours = rows.find(row => row.tool === 'swarmbee' && row.phase === phase && row.pair === i + 1)!;
				const theirs = rows.find(row => row.tool === tool && row.phase === phase && row.pair === i + 1)!;
				return mbps(ours) / mbps(theirs);
			});
			lines.push(
				`- ${phase}, × ${tool}: ${ratios.map(x => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`,
			);
		}
	}
	process.stdout.write(`${lines.join('\n')}\n`);
	process.stdout.write(`${JSON.stringify({documents, dataBytes, rows: rows.map(({output, ...row}) => row)})}\n`);
} finally {
	await connection?.close().catch(() => {});
	tunnel?.kill('SIGINT');
	await tunnel?.catch(() => {});
	if (!keep && !reuse) {
		await execa(process.execPath, [cli, 'down', name, '--yes'], {env, reject: false});
		rmSync(home, {recursive: true, force: true});
	} else {
		process.stderr.write(`kept: SWARMBEE_HOME=${home} swarmbee down ${name} --yes\n`);
	}
	if (existsSync(work)) rmSync(work, {recursive: true, force: true});
}
