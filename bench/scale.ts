/**
 * Scale benchmark: `swarmbee scale` of a local 1+N cluster with real data in
 * the real RethinkDB 2.4.4 server, while an application writes. Three
 * tables of 5,000 documents (about 1 KiB each), created with the defaults
 * (one replica each) after `up`, then `scale --workers 1` (every table moved
 * off the leaving servers first) and back up to N (the new servers filled),
 * each timed with its steps and table moves, the rows counted after each.
 * During each scale the live writer of the end-to-end tests
 * (test/e2e/live-writer.ts: one insert at a time per table, `durability:
 * 'hard'`, through `swarmbee tunnel`) runs; afterwards every acknowledged
 * write is read back with `read_mode: 'majority'`, and per table the
 * acknowledged writes, failed writes and the longest time without an
 * acknowledged write (the unavailability window, latency included) are
 * printed.
 *
 *     npm run build && node dist/bench/scale.js [--workers 3] [--rows 5000] [--pause 0]
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import r from 'rethinkdb';
import {connectDriver} from '../source/database/rethinkdb.js';
import {DockerCli} from '../source/docker/cli.js';
import {ensureRethinkdbImage} from '../source/docker/rethinkdb-image.js';
import type {RunEvent} from '../source/events.js';
import {describeWrites, startWriter, verifyWrites, type LiveWriter} from '../test/e2e/live-writer.js';
import {cli, flag} from './common.js';

const workers = flag('workers', 3);
const rows = flag('rows', 5000);
/** Milliseconds the writer pauses between two writes to one table (0: as fast as acknowledgements come). */
const pauseMs = flag('pause', 0);
const tables = ['events', 'orders', 'users'];
const home = mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-'));
const name = `bench-scale-${process.pid}`;
const env = {SWARMBEE_HOME: home};
const seconds = (ms: number) => (ms / 1000).toFixed(1);

async function swarmbee(args: string[]): Promise<{events: RunEvent[]; wallMs: number}> {
	const started = Date.now();
	const result = await execa(process.execPath, [cli, ...args, '--json'], {reject: false, env});
	const events = String(result.stdout)
		.split('\n')
		.filter(l => l.startsWith('{'))
		.map(l => JSON.parse(l) as RunEvent);
	if (result.exitCode !== 0)
		throw new Error(`swarmbee ${args.join(' ')} failed (exit ${result.exitCode}): ${result.stderr}`);
	return {events, wallMs: Date.now() - started};
}

function report(label: string, run: {events: RunEvent[]; wallMs: number}): void {
	const steps = run.events.filter((e): e is Extract<RunEvent, {type: 'step-finished'}> => e.type === 'step-finished');
	console.log(
		`${label}: ${seconds(run.wallMs)} s  (${steps.map(s => `${s.step} ${seconds(s.durationMs)}s`).join(', ')})`,
	);
	const moves = run.events.filter(
		(e): e is Extract<RunEvent, {type: 'step-progress'}> => e.type === 'step-progress' && /^app\./.test(e.message),
	);
	for (const move of moves.filter(
		(m, i) =>
			moves.findIndex(n => n.message.split(':')[0] === m.message.split(':')[0]) === i || /ready/.test(m.message),
	))
		console.log(`    ${move.message}`);
}

let tunnel: ReturnType<typeof execa<{env: typeof env; reject: false}>> | undefined;
try {
	const image = (await ensureRethinkdbImage(new DockerCli())).tag;
	report(
		`up 1+${workers}`,
		await swarmbee(['up', name, '--workers', String(workers), '--rethinkdb-image', image, '--yes']),
	);
	const driverPort = 20_000 + (process.pid % 20_000);
	tunnel = execa(
		process.execPath,
		[cli, 'tunnel', name, '--admin-port', String(driverPort + 1), '--driver-port', String(driverPort), '--json'],
		{env, reject: false},
	);
	// Read its lines by hand: leaving execa's line iterator early waits for the process to end.
	await new Promise<void>((resolve, reject) => {
		let buffer = '';
		tunnel!.stdout!.on('data', (chunk: Buffer) => {
			buffer += chunk.toString();
			if (buffer.split('\n').some(line => line.includes('"open"') && !line.includes('"connecting"'))) resolve();
		});
		tunnel!.once('exit', () => reject(new Error('the tunnel ended before it opened')));
	});
	const password = readFileSync(path.join(home, 'clusters', name, 'keys', 'rethinkdb-admin-password'), 'utf8').trim();
	const count = async () => {
		const c = await connectDriver({host: '127.0.0.1', port: driverPort, password});
		try {
			// The rows written before (the writer's own have no `n`).
			return await Promise.all(
				tables.map(
					t =>
						r
							.db('app')
							.table(t)
							.filter(row => row.hasFields('n'))
							.count()
							.run(c) as Promise<number>,
				),
			);
		} finally {
			await c.close();
		}
	};
	const c = await connectDriver({host: '127.0.0.1', port: driverPort, password});
	await r.dbCreate('app').run(c);
	const pad = 'x'.repeat(1000);
	for (const table of tables) {
		await r.db('app').tableCreate(table).run(c);
		await r.db('app').table(table).wait().run(c);
		for (let done = 0; done < rows; done += 1000)
			await r
				.db('app')
				.table(table)
				.insert(Array.from({length: Math.min(1000, rows - done)}, (_, n) => ({n: done + n, pad})))
				.run(c);
	}
	await c.close();
	console.log(`wrote ${tables.length} × ${rows} documents of about 1 KiB`);
	const connect = () => connectDriver({host: '127.0.0.1', port: driverPort, password});
	/** A scale under the writer: its times, then what the writer saw, every acknowledged write read back. */
	const underWriter = async (label: string, args: string[]) => {
		const writer: LiveWriter = startWriter({connect, db: 'app', tables, pauseMs, sampleStatus: true});
		await writer.advance(10);
		const run = await swarmbee(args);
		const writes = await writer.stop();
		report(label, run);
		const check = await verifyWrites(connect, writes);
		console.log(
			`  writer (${seconds(writes.durationMs)} s, pause ${pauseMs} ms): ${check.acked.toLocaleString('en-US')} acknowledged, ${check.lost.length} of them lost, ${writes.errors.length} failed`,
		);
		for (const line of describeWrites(writes).split('\n')) console.log(`    ${line}`);
		const unready = new Map<string, number>();
		for (const sample of writes.unavailable) unready.set(sample.table, (unready.get(sample.table) ?? 0) + 1);
		if (unready.size > 0)
			console.log(
				`    not ready for writes (table_status, sampled each second): ${[...unready].map(([t, n]) => `${t} ${n} s`).join(', ')}`,
			);
		if (check.lost.length > 0) throw new Error(`acknowledged writes lost: ${check.lost.slice(0, 10).join(', ')}`);
	};
	await underWriter(`scale 1+${workers} → 1+1`, ['scale', name, '--workers', '1', '--yes']);
	console.log(`rows after: ${(await count()).join(', ')}`);
	await underWriter(`scale 1+1 → 1+${workers}`, ['scale', name, '--workers', String(workers)]);
	console.log(`rows after: ${(await count()).join(', ')}`);
} finally {
	tunnel?.kill('SIGINT');
	await tunnel?.catch(() => {});
	await execa(process.execPath, [cli, 'down', name, '--yes', '--forget'], {reject: false, env});
	rmSync(home, {recursive: true, force: true});
}
