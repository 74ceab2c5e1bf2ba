/**
 * Backup and restore throughput: swarmbee's `backup`/`restore` against the
 * official `rethinkdb dump`/`restore` (Python driver 2.4.9), side by side in
 * one run on one server, and swarmbee's peak RSS.
 *
 *     npm run build && node dist/bench/backup.js [--size-mb 1024] [--pairs 2] [--keep]
 *
 * It brings up a local 1+1 cluster with the real RethinkDB 2.4.4
 * (`--size s-2vcpu-4gb --memory-limit 2g`), fills `bench.t` server-side with ~1 KB documents
 * (random hex, so gzip has real work) and a secondary index, then for each
 * pair runs both tools on the same table, alternating which goes first.
 * Both cross SSH: swarmbee through its own forward, the official tool
 * through `swarmbee tunnel` (nothing is published, so that is the only way
 * in). Each command is timed as a whole process (/usr/bin/time: wall
 * seconds, peak RSS of the largest process). MB/s divides the table's JSON
 * size as the server serializes it (the same number for both tools);
 * after every restore the table is counted and its index checked.
 */
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {execa} from 'execa';
import r from 'rethinkdb';
import {rql} from '../source/backup/reql.js';
import {DockerCli} from '../source/docker/cli.js';
import {ensureRethinkdbImage, findRethinkdbSource} from '../source/docker/rethinkdb-image.js';
import {cli, flag} from './common.js';

const sizeMb = flag('size-mb', 1024);
const pairs = flag('pairs', 2);
const keep = process.argv.includes('--keep');
const name = `bench-bk-${process.pid}`;
const home = mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-'));
const work = mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-backup-'));
const env = {SWARMBEE_HOME: home};
const python = {PYTHONPATH: path.join(findRethinkdbSource(), 'python')};
const DOCUMENT_BYTES = 1_000;

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
	const ours = {
		backup: (file: string) =>
			timed(process.execPath, [cli, 'backup', name, '--out', file, '--tables', 'bench.t', '--plain']),
		restore: (file: string) => timed(process.execPath, [cli, 'restore', name, file, '--plain']),
	};
	const theirs = {
		backup: (file: string) =>
			timed(
				'/usr/bin/python3',
				[
					'-m',
					'rethinkdb',
					'dump',
					'-c',
					`127.0.0.1:${driverPort}`,
					'--password-file',
					passwordFile,
					'-e',
					'bench.t',
					'-f',
					file,
				],
				python,
			),
		restore: (file: string) =>
			timed(
				'/usr/bin/python3',
				['-m', 'rethinkdb', 'restore', file, '-c', `127.0.0.1:${driverPort}`, '--password-file', passwordFile],
				python,
			),
	};
	const tools = [
		['swarmbee', ours],
		['official', theirs],
	] as const;

	for (let pair = 1; pair <= pairs; pair++) {
		// Alternate who goes first, so a machine that drifts faster or slower favours neither.
		const order = pair % 2 === 1 ? tools : [tools[1], tools[0]];
		for (const [tool, commands] of order) {
			const file = path.join(work, `${tool}-${pair}.tar.gz`);
			rows.push({tool, phase: 'backup', pair, ...must(await commands.backup(file), `${tool} backup`)});
		}
		for (const [tool, commands] of order) {
			await drop();
			rows.push({
				tool,
				phase: 'restore',
				pair,
				...must(await commands.restore(path.join(work, `${tool}-${pair}.tar.gz`)), `${tool} restore`),
			});
			await check(tool);
		}
		for (const [tool] of tools) rmSync(path.join(work, `${tool}-${pair}.tar.gz`), {force: true});
		process.stderr.write(`pair ${pair} of ${pairs} done\n`);
	}

	const median = (values: number[]) => {
		const sorted = [...values].sort((a, b) => a - b);
		const mid = Math.floor(sorted.length / 2);
		return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
	};
	const lines = [
		`backup and restore of bench.t: ${documents.toLocaleString('en-US')} documents, ${(dataBytes / 1e6).toFixed(0)} MB of JSON, one secondary index; ${pairs} pair${pairs === 1 ? '' : 's'}, medians`,
		'',
		'| tool | phase | wall s | MB/s | documents/s | peak RSS MB | CPU s | runs (wall s) |',
		'|---|---|---|---|---|---|---|---|',
	];
	for (const phase of ['backup', 'restore']) {
		for (const [tool] of tools) {
			const mine = rows.filter(row => row.tool === tool && row.phase === phase);
			const wall = median(mine.map(row => row.wallS));
			lines.push(
				`| ${tool} | ${phase} | ${wall.toFixed(1)} | ${(dataBytes / 1e6 / wall).toFixed(1)} | ${Math.round(documents / wall).toLocaleString('en-US')} | ${Math.max(...mine.map(row => row.peakMb)).toFixed(0)} | ${median(mine.map(row => row.cpuS)).toFixed(1)} | ${mine.map(row => row.wallS.toFixed(1)).join(', ')} |`,
			);
		}
	}
	for (const phase of ['backup', 'restore']) {
		const ratios = Array.from({length: pairs}, (_, i) => {
			const a = rows.find(row => row.tool === 'swarmbee' && row.phase === phase && row.pair === i + 1)!;
			const b = rows.find(row => row.tool === 'official' && row.phase === phase && row.pair === i + 1)!;
			return a.wallS / b.wallS;
		});
		lines.push(
			'',
			`${phase}: swarmbee/official wall time, pair by pair: ${ratios.map(x => x.toFixed(2)).join(', ')} (median ${median(ratios).toFixed(2)})`,
		);
	}
	process.stdout.write(`${lines.join('\n')}\n`);
	process.stdout.write(`${JSON.stringify({documents, dataBytes, rows: rows.map(({output, ...row}) => row)})}\n`);
} finally {
	await connection?.close().catch(() => {});
	tunnel?.kill('SIGINT');
	await tunnel?.catch(() => {});
	if (!keep) {
		await execa(process.execPath, [cli, 'down', name, '--yes'], {env, reject: false});
		rmSync(home, {recursive: true, force: true});
	} else {
		process.stderr.write(`kept: SWARMBEE_HOME=${home} swarmbee down ${name} --yes\n`);
	}
	if (existsSync(work)) rmSync(work, {recursive: true, force: true});
}
