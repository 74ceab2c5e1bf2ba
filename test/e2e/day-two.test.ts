import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import r from 'rethinkdb';
import {afterAll, beforeAll, expect, it, onTestFinished} from 'vitest';
import type {Journal} from '../../source/store/journal.js';
import {clusterPassword, connectThrough, openTunnel, pinTable} from './database.js';
import {cli, describeWithEngine, dockerIn, newHome, purge, rethinkdbImage, uniqueName} from './helpers.js';
import {describeWrites, startWriter, verifyWrites, type LiveWriter} from './live-writer.js';
import {watchRun} from './run-watch.js';

/**
 * Day two (issue 27): `swarmbee node NAME restart` on a real 1+2 with the
 * real RethinkDB 2.4.4, an application writing all along (sequential ids,
 * `durability: 'hard'`, every acknowledgement read back with `read_mode:
 * 'majority'`): refused with nothing changed when a table would lose its
 * only replica; a rolling restart of every node with 0 acknowledged writes
 * lost, every server restarted, no critical issue, no node left drained;
 * Ctrl-C in the middle of one resumed by the same command from the next node.
 */

const TABLES = ['events', 'orders'];

describeWithEngine('day two: restart nodes one at a time under a live writer', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-day2');
	const container = (node: string) => `swarmbee-${name}-${node}`;
	let image: string;
	let password: string;
	let tunnel: Awaited<ReturnType<typeof openTunnel>> | undefined;
	/** A second way in, to workerbee-2's server: the writer goes on through it while the manager reboots. */
	let second: Awaited<ReturnType<typeof openTunnel>> | undefined;
	let through = 0;

	/**
	 * As an application given two servers does: the one that worked last, and
	 * the other when it cannot connect. Each tunnel reaches one server, over
	 * its node's SSH: with one, the writer's failures while that node
	 * reboots would be the way in, not the database.
	 */
	const connect = async () => {
		const ways = second ? [tunnel!, second] : [tunnel!];
		const way = ways[through % ways.length]!;
		try {
			return await connectThrough(way, password);
		} catch (error) {
			through++;
			throw error;
		}
	};
	async function query<T>(run: (connection: r.Connection) => Promise<T>): Promise<T> {
		const connection = await connect();
		try {
			return await run(connection);
		} finally {
			await connection.close().catch(() => {});
		}
	}
	/** Each server's process start time: a restarted server has a new one. */
	const started = () =>
		query(async c =>
			Object.fromEntries(
				(
					(await (
						await r
							.db('rethinkdb')
							.table('server_status')
							.pluck('name', {process: ['time_started']} as never)
							.run(c)
					).toArray()) as Array<{name: string; process: {time_started: Date}}>
				).map(s => [s.name, s.process.time_started.toISOString()]),
			),
		);
	const critical = () =>
		query(async c =>
			((await (await r.db('rethinkdb').table('current_issues').run(c)).toArray()) as Array<{critical: boolean}>).filter(
				i => i.critical,
			),
		);
	const journal = () => JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
	/** Swarm's availability of every node, asked of the manager. */
	const availability = () =>
		dockerIn(container('queenbee'), "docker node ls --format '{{.Hostname}} {{.Availability}} {{.Status}}'")
			.split('\n')
			.map(line => line.trim())
			.filter(Boolean)
			.sort();

	function writer(): LiveWriter {
		return startWriter({connect, db: 'app', tables: [...TABLES], pauseMs: 10, sampleStatus: true});
	}
	async function checkWrites(w: LiveWriter, scenario: string): Promise<void> {
		const report = await w.stop();
		console.log(
			`${scenario}:\n${describeWrites(report)}\nsampled not ready for writes: ${report.unavailable.length} time(s)${report.unavailable.length > 0 ? ` (${report.unavailable.map(u => `${u.table} at ${(u.at / 1000).toFixed(1)} s`).join(', ')})` : ''}`,
		);
		const check = await verifyWrites(connect, report);
		expect(check.lost, describeWrites(report)).toEqual([]);
		expect(check.found).toBe(check.acked);
		for (const table of report.tables) expect(table.acked.length, `${table.table} took no write`).toBeGreaterThan(0);
	}

	beforeAll(async () => {
		image = await rethinkdbImage();
	});
	afterAll(async () => {
		await tunnel?.close();
		await second?.close();
		purge(name);
		remove();
	});

	it('1+2 with two tables of 3 replicas and one table only workerbee_2 holds', async () => {
		const result = await cli(['up', name, '--workers', '2', '--rethinkdb-image', image, '--yes', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		password = clusterPassword(home, name);
		tunnel = await openTunnel(name, home);
		second = await openTunnel(name, home, 'workerbee-2');
		await query(async c => {
			await r.dbCreate('app').run(c);
			for (const table of TABLES) {
				await r
					.db('app')
					.tableCreate(table, {replicas: 3} as never)
					.run(c);
				await r.db('app').table(table).wait().run(c);
			}
			await r.db('app').tableCreate('solo').run(c);
			await pinTable(c, 'app', 'solo', 'workerbee_2');
			await r
				.db('app')
				.table('solo')
				.insert(Array.from({length: 100}, (_, n) => ({n})))
				.run(c);
		});
	});

	it('node restart workerbee-2 is refused, before anything changes, because app.solo has its only replica there', async () => {
		const before = await started();
		const nodesBefore = journal().nodes;
		const result = await cli(['node', name, 'restart', 'workerbee-2', '--plain'], home);
		expect(result.exitCode, result.stdout).toBe(2);
		expect(result.stderr).toContain('workerbee-2 cannot go down now without making app.solo unavailable');
		expect(result.stderr).toContain('app.solo has its only replica on workerbee_2');
		expect(result.stderr).toContain('nothing was changed');
		expect(await started()).toEqual(before);
		expect(journal().nodes).toEqual(nodesBefore);
		expect(journal().rolling).toBeUndefined();
		expect(availability().every(line => / Active Ready$/.test(line))).toBe(true);
		// The way out it names: more replicas (or drop the table); here the table goes.
		await query(c => r.db('app').tableDrop('solo').run(c));
	});

	it('node restart --all under the writer: every server restarted one at a time, 0 acknowledged writes lost, no critical issue, no node left drained', async () => {
		const before = await started();
		const w = writer();
		await w.advance(20);
		const result = await cli(['node', name, 'restart', '--all', '--plain'], home);
		expect(result.stderr, result.stdout).toBe('');
		expect(result.exitCode, result.stdout).toBe(0);
		console.log(result.stdout);
		await w.advance(20);
		await checkWrites(w, 'node restart --all on 1+2 (tables of 3 replicas)');
		const after = await started();
		for (const server of ['queenbee', 'workerbee_1', 'workerbee_2'])
			expect(after[server], `${server} was not restarted`).not.toBe(before[server]);
		expect(await critical()).toEqual([]);
		expect(journal().rolling).toBeUndefined();
		expect(journal().nodes.filter(n => n.drained || n.stopped)).toEqual([]);
		expect(
			availability().every(line => / Active Ready$/.test(line)),
			availability().join('\n'),
		).toBe(true);
		// Workers first, the manager last, one at a time.
		expect(result.stdout.indexOf('workerbee_1: back')).toBeLessThan(result.stdout.indexOf('workerbee_2: back'));
		expect(result.stdout.indexOf('workerbee_2: back')).toBeLessThan(result.stdout.indexOf('queenbee: back'));
	});

	it('Ctrl-C during node restart --all: the node in hand is brought back, the same command resumes from the next node', async () => {
		const before = await started();
		const w = writer();
		await w.advance(20);
		const run = watchRun(['node', name, 'restart', '--all'], home);
		onTestFinished(() => run.stop());
		// workerbee_1 is done: Ctrl-C while workerbee_2's turn has begun.
		await run.until(e => e.type === 'step-progress' && /workerbee_1: back, every table ready/.test(e.message));
		await run.until(e => e.type === 'node-state' && e.node === 'workerbee-2' && e.state === 'draining');
		run.signal('SIGINT');
		const first = await run.done;
		expect(first.exitCode, first.stderr).toBe(130);
		const cut = journal().rolling;
		expect(cut?.done).toContain('workerbee-1');
		expect(cut?.done).not.toContain('queenbee');
		expect(journal().nodes.filter(n => n.drained)).toEqual([]);
		const resumed = await cli(['node', name, 'restart', '--all', '--plain'], home);
		expect(resumed.stderr, resumed.stdout).toBe('');
		expect(resumed.exitCode, resumed.stdout).toBe(0);
		expect(resumed.stdout).toContain('resuming: workerbee-1');
		// workerbee_1 was not restarted a second time.
		expect(resumed.stdout).not.toContain('workerbee_1: back');
		await checkWrites(w, 'node restart --all, Ctrl-C on workerbee-2, resumed');
		const after = await started();
		for (const server of ['queenbee', 'workerbee_1', 'workerbee_2']) expect(after[server]).not.toBe(before[server]);
		expect(journal().rolling).toBeUndefined();
		expect(await critical()).toEqual([]);
		expect(availability().every(line => / Active Ready$/.test(line))).toBe(true);
	});

	/** The same server rebuilt (another image id, the same RethinkDB 2.4.4): what a patch upgrade looks like here. */
	function rebuiltImage(): string {
		const tag = `swarmbee-rethinkdb-rebuilt:${name}`;
		execFileSync('docker', ['build', '-q', '-t', tag, '-'], {
			input: `FROM ${image}\nLABEL swarmbee.test.rebuilt="${name}"\n`,
			encoding: 'utf8',
		});
		onTestFinished(() => {
			try {
				execFileSync('docker', ['rmi', tag], {stdio: 'ignore'});
			} catch {
				// Still used by a container being removed: the engine's own cleanup takes it.
			}
		});
		return tag;
	}
	/** Each database service's image, asked of the manager. */
	const serviceImages = () =>
		dockerIn(container('queenbee'), "docker service ls --filter label=swarmbee.cluster --format '{{.Name}} {{.Image}}'")
			.split('\n')
			.map(line => line.trim())
			.filter(Boolean)
			.sort();

	it('upgrade --rethinkdb-image under the writer: a rebuilt image rolled in one server at a time, 0 acknowledged writes lost; up refuses the same change; a dry run changes nothing', async () => {
		const target = rebuiltImage();
		const before = await started();
		// up would restart every server at once with another image: refused, pointing at upgrade.
		const viaUp = await cli(['up', name, '--rethinkdb-image', target, '--plain'], home);
		expect(viaUp.exitCode, viaUp.stdout).toBe(2);
		expect(viaUp.stderr).toContain(`swarmbee upgrade ${name} --rethinkdb-image ${target}`);
		// An image that is not RethinkDB is refused before any server changes.
		const notDb = await cli(['upgrade', name, '--rethinkdb-image', 'debian:bookworm', '--plain'], home);
		expect(notDb.exitCode, notDb.stdout).not.toBe(0);
		expect(notDb.stderr).toContain('debian:bookworm does not run RethinkDB');
		const dry = await cli(['upgrade', name, '--rethinkdb-image', target, '--dry-run', '--plain'], home);
		expect(dry.stderr, dry.stdout).toBe('');
		expect(dry.exitCode, dry.stdout).toBe(0);
		expect(dry.stdout).toContain('would upgrade 3 server(s) one at a time, RethinkDB 2.4.4 → 2.4.4');
		expect(dry.stdout).toMatch(/1\. workerbee-1 \(server workerbee_1\): .* → swarmbee-rethinkdb-rebuilt/);
		expect(await started()).toEqual(before);
		expect(journal().database?.image).toBe(image);

		const w = writer();
		await w.advance(20);
		const result = await cli(['upgrade', name, '--rethinkdb-image', target, '--plain'], home);
		expect(result.stderr, result.stdout).toBe('');
		expect(result.exitCode, result.stdout).toBe(0);
		console.log(result.stdout);
		await w.advance(20);
		await checkWrites(w, `upgrade --rethinkdb-image (rebuilt 2.4.4) on 1+2 (tables of 3 replicas)`);
		const after = await started();
		for (const server of ['queenbee', 'workerbee_1', 'workerbee_2'])
			expect(after[server], `${server} was not restarted`).not.toBe(before[server]);
		expect(await critical()).toEqual([]);
		expect(serviceImages()).toEqual(['queenbee', 'workerbee-1', 'workerbee-2'].map(n => `swarmbee_rdb-${n} ${target}`));
		expect(journal().database?.image).toBe(target);
		expect(journal().database?.images).toBeUndefined();
		expect(journal().rolling).toBeUndefined();
		const spec = JSON.parse(readFileSync(path.join(home, 'clusters', name, 'spec.json'), 'utf8'));
		expect(spec.rethinkdbImage).toBe(target);
		// Workers first, the manager last.
		expect(result.stdout.indexOf('workerbee_1: back')).toBeLessThan(result.stdout.indexOf('workerbee_2: back'));
		expect(result.stdout.indexOf('workerbee_2: back')).toBeLessThan(result.stdout.indexOf('queenbee: back'));
		// Nothing left to do: the same command again changes no server.
		const again = await cli(['upgrade', name, '--rethinkdb-image', target, '--plain'], home);
		expect(again.exitCode, again.stdout).toBe(0);
		expect(again.stdout).toContain(`every server runs ${target}`);
		expect(await started()).toEqual(after);
	});

	it('Ctrl-C during upgrade: the server in hand is waited for, the same command goes on from the next server', async () => {
		// Back to the image the cluster was made with: the same 2.4.4, another image id.
		const before = await started();
		const w = writer();
		await w.advance(20);
		const command = ['upgrade', name, '--rethinkdb-image', image];
		const run = watchRun(command, home);
		onTestFinished(() => run.stop());
		await run.until(e => e.type === 'step-progress' && /workerbee_1: back, every table ready/.test(e.message));
		run.signal('SIGINT');
		const first = await run.done;
		expect(first.exitCode, first.stderr).toBe(130);
		// workerbee-1 runs the image, the others not yet; every deploy meanwhile keeps it so.
		expect(journal().database?.images?.['workerbee-1']).toBe(image);
		expect(serviceImages().filter(line => line.endsWith(` ${image}`)).length).toBeLessThan(3);
		const resumed = await cli([...command, '--plain'], home);
		expect(resumed.stderr, resumed.stdout).toBe('');
		expect(resumed.exitCode, resumed.stdout).toBe(0);
		expect(resumed.stdout).toContain('resuming: workerbee-1');
		expect(resumed.stdout).not.toContain('workerbee_1: back');
		await w.advance(20);
		await checkWrites(w, 'upgrade, Ctrl-C after workerbee-1, resumed');
		const after = await started();
		for (const server of ['queenbee', 'workerbee_1', 'workerbee_2']) expect(after[server]).not.toBe(before[server]);
		expect(serviceImages()).toEqual(['queenbee', 'workerbee-1', 'workerbee-2'].map(n => `swarmbee_rdb-${n} ${image}`));
		expect(journal().database).toMatchObject({image});
		expect(journal().database?.images).toBeUndefined();
		expect(journal().rolling).toBeUndefined();
		expect(await critical()).toEqual([]);
	});
});
