import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import r from 'rethinkdb';
import {afterAll, beforeAll, expect, it, onTestFinished} from 'vitest';
import type {ClusterStatus} from '../../source/observe/status.js';
import type {Journal} from '../../source/store/journal.js';
import {clusterPassword, connectThrough, openTunnel, pinTable, status, waitFor} from './database.js';
import {
	cli,
	containerIds,
	describeWithEngine,
	dockerIn,
	newHome,
	purge,
	rethinkdbImage,
	uniqueName,
} from './helpers.js';
import {describeWrites, startWriter, verifyWrites, type LiveWriter} from './live-writer.js';
import {progressLines, watchRun} from './run-watch.js';

/**
 * No acknowledged write is lost, and no row that was there before, while
 * an application writes and the cluster changes under it: real rows in the
 * real RethinkDB 2.4.4, a live writer (sequential ids, `durability: 'hard'`,
 * every acknowledgement recorded, read back with `read_mode: 'majority'`)
 * running through each change (scale both ways with tables made and placed
 * on leaving servers meanwhile, a refused scale, a node restarted hard, a
 * node lost for good with a table only it held, a staying node stopped
 * during a scale-down, the CLI killed with -9 during one), with the servers
 * that stay never restarted by swarmbee.
 */

const TABLES = ['events', 'orders', 'users'];
const ROWS = 5_000;

describeWithEngine('no acknowledged write or row lost when the cluster changes under a live writer', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-data');
	const container = (node: string) => `swarmbee-${name}-${node}`;
	let image: string;
	let password: string;
	let tunnel: Awaited<ReturnType<typeof openTunnel>> | undefined;
	/** Tables the writer writes into (more are made during the scale-down). */
	const written = [...TABLES];

	const connect = () => connectThrough(tunnel!, password);
	/**
	 * A fresh connection through the tunnel, tried again for up to 30 s when it cannot be made: right after a
	 * node is killed the tunnel has refused a new connection (read ECONNRESET) while it reconnected (CI, twice).
	 */
	async function connectAgain(): Promise<r.Connection> {
		const deadline = Date.now() + 30_000;
		for (;;) {
			try {
				return await connect();
			} catch (error) {
				if (!/Could not connect/.test((error as Error).message) || Date.now() > deadline) throw error;
				await new Promise(resolve => setTimeout(resolve, 500));
			}
		}
	}
	/** A query through the tunnel on a fresh connection (a scale may have moved what an old one reached). */
	async function query<T>(run: (connection: r.Connection) => Promise<T>): Promise<T> {
		const connection = await connectAgain();
		try {
			return await run(connection);
		} finally {
			await connection.close().catch(() => {});
		}
	}
	/** The rows that were there before any writer ran (they have `n`; the writer's have `at`). */
	const counts = () =>
		query(async c =>
			Object.fromEntries(
				await Promise.all(
					TABLES.map(
						async t =>
							[
								t,
								await r
									.db('app')
									.table(t)
									.filter(row => row.hasFields('n'))
									.count()
									.run(c),
							] as const,
					),
				),
			),
		);
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
			(
				(await (await r.db('rethinkdb').table('current_issues').run(c)).toArray()) as Array<{
					type: string;
					critical: boolean;
					description: string;
				}>
			).filter(i => i.critical),
		);
	const tags = () =>
		query(async c =>
			Object.fromEntries(
				(
					(await (await r.db('rethinkdb').table('server_config').pluck('name', 'tags').run(c)).toArray()) as Array<{
						name: string;
						tags: string[];
					}>
				).map(s => [s.name, s.tags]),
			),
		);
	const journal = () => JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
	/** Each server's running task (service and task id): a restarted or updated server gets a new task. */
	const services = () =>
		dockerIn(
			container('queenbee'),
			"docker service ps --filter desired-state=running --format '{{.Name}} {{.ID}}' $(docker service ls -q)",
		)
			.split('\n')
			.sort();
	/** A table made by hand with every replica on one server, holding `rows` rows. */
	const pinned = (table: string, server: string, rows: number) =>
		query(async c => {
			await r.db('app').tableCreate(table).run(c);
			await pinTable(c, 'app', table, server);
			await r
				.db('app')
				.table(table)
				.insert(Array.from({length: rows}, (_, n) => ({n})))
				.run(c);
		});
	const countOf = (table: string) => query(c => r.db('app').table(table).count().run(c) as Promise<number>);

	/** The writer every change runs under: each table written in turn, as fast as acknowledgements come (a little pause, this machine is shared). */
	function writer(): LiveWriter {
		return startWriter({connect, db: 'app', tables: [...written], pauseMs: 10, sampleStatus: true});
	}
	/** Stops the writer and proves every acknowledged write is there; prints its figures (the report quotes them). */
	async function checkWrites(w: LiveWriter, scenario: string): Promise<void> {
		const report = await w.stop();
		console.log(`${scenario}:\n${describeWrites(report)}`);
		const check = await verifyWrites(connectAgain, report);
		expect(check.lost, describeWrites(report)).toEqual([]);
		expect(check.found).toBe(check.acked);
		expect(check.acked).toBeGreaterThan(0);
		for (const table of report.tables) expect(table.acked.length, `${table.table} took no write`).toBeGreaterThan(0);
	}
	const placed = (now: ClusterStatus) => Object.fromEntries(now.rethinkdb!.tables.map(t => [t.table, t.servers]));

	beforeAll(async () => {
		image = await rethinkdbImage();
	});
	afterAll(async () => {
		await tunnel?.close();
		purge(name);
		remove();
	});

	it('1+3, then three tables of 5,000 rows created with the defaults: each on one server, under-replicated', async () => {
		const result = await cli(['up', name, '--workers', '3', '--rethinkdb-image', image, '--yes', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		password = clusterPassword(home, name);
		tunnel = await openTunnel(name, home);
		await query(async c => {
			await r.dbCreate('app').run(c);
			for (const table of TABLES) {
				await r.db('app').tableCreate(table).run(c);
				await r.db('app').table(table).wait().run(c);
				for (let batch = 0; batch < ROWS / 1000; batch++) {
					await r
						.db('app')
						.table(table)
						.insert(Array.from({length: 1000}, (_, n) => ({n: batch * 1000 + n, pad: 'x'.repeat(100)})))
						.run(c);
				}
			}
		});
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		const now = await status(name, home);
		expect(now.rethinkdb?.tables.map(t => [t.table, t.replicas, t.underReplicated])).toEqual([
			['events', 1, true],
			['orders', 1, true],
			['users', 1, true],
		]);
	});

	it('scale --workers 1 while the application writes, makes tables with the defaults during "Move tables" and after it, and places tables on leaving servers by name: every table ends on the servers that stay, 0 acknowledged writes lost', async () => {
		const before = await started();
		const w = writer();
		await w.advance(20);
		const run = watchRun(['scale', name, '--workers', '1', '--yes'], home);
		// A test that fails half-way lets go of the cluster for the next ones.
		onTestFinished(() => run.stop());
		// "Move tables" has begun: the leaving servers just lost RethinkDB's default tag.
		await run.until(e => e.type === 'step-progress' && e.step === 'evacuate');
		const during = Promise.all([w.addTable('late'), pinned('placed', 'workerbee_3', 50)]);
		written.push('late');
		await run.until(e => e.type === 'step-finished' && e.step === 'evacuate');
		// Held between "Move tables" and the removal, so what is made now is there before anything is removed.
		run.signal('SIGSTOP');
		try {
			await during;
			await w.addTable('later');
			written.push('later');
			await pinned('arrived', 'workerbee_2', 50);
		} finally {
			run.signal('SIGCONT');
		}
		const result = await run.done;
		const said = progressLines(run.events);
		expect(result.stderr, said.join('\n')).toBe('');
		expect(result.exitCode, said.join('\n')).toBe(0);
		// The table placed on a leaving server after the moves was found right before the removal and moved.
		const moving = (table: string, step = '(evacuate|deploy)') =>
			said.some(line =>
				new RegExp(
					`^${step}: [a-z., ]*app\\.${table}[a-z., ]* ha(s|ve) replicas on .*, which (is|are) leaving: moving`,
				).test(line),
			);
		expect(moving('arrived', 'deploy'), said.join('\n')).toBe(true);
		expect(moving('placed'), said.join('\n')).toBe(true);
		await checkWrites(w, 'scale 1+3 → 1+1 (tables made during and after Move tables)');
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		expect(await countOf('placed')).toBe(50);
		expect(await countOf('arrived')).toBe(50);
		expect(await critical()).toEqual([]);
		const after = await started();
		expect(Object.keys(after).sort()).toEqual(['queenbee', 'workerbee_1']);
		expect(after['queenbee']).toBe(before['queenbee']);
		expect(after['workerbee_1']).toBe(before['workerbee_1']);
		const now = await status(name, home);
		for (const table of now.rethinkdb!.tables) {
			expect(table).toMatchObject({
				replicas: 2,
				servers: ['queenbee', 'workerbee_1'],
				readiness: 'ready',
				underReplicated: false,
			});
		}
		expect(Object.keys(placed(now)).sort()).toEqual([
			'arrived',
			'events',
			'late',
			'later',
			'orders',
			'placed',
			'users',
		]);
		expect(now.nodes.map(n => n.name)).toEqual(['queenbee', 'workerbee-1']);
		expect(now.change).toBeUndefined();
		expect(now.rethinkdb).toMatchObject({connected: 2, expected: 2, missing: []});
		expect(journal().untagged).toBeUndefined();
		expect(await tags()).toEqual({queenbee: ['default'], workerbee_1: ['default']});
	});

	it('scale --workers 3 again under the writer: two new servers, the others not restarted, replicas spread onto the new ones', async () => {
		const before = await started();
		const servicesBefore = services();
		const w = writer();
		await w.advance(20);
		const result = await cli(['scale', name, '--workers', '3', '--yes', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		await checkWrites(w, 'scale 1+1 → 1+3');
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		const after = await started();
		expect(after['queenbee']).toBe(before['queenbee']);
		expect(after['workerbee_1']).toBe(before['workerbee_1']);
		// The survivors' tasks are the ones they had: their services were not rolled.
		for (const line of servicesBefore) expect(services()).toContain(line);
		const now = await status(name, home);
		const tables = now.rethinkdb!.tables;
		expect(tables.every(t => t.replicas === 3 && t.readiness === 'ready' && !t.underReplicated)).toBe(true);
		const holders = new Set(tables.flatMap(t => t.servers));
		expect(holders.has('workerbee_2') && holders.has('workerbee_3')).toBe(true);
		// Primaries spread: every server leads some table, none more than its share.
		const leads = tables.map(t => t.primaries[0]!);
		expect(new Set(leads).size).toBe(4);
		for (const server of new Set(leads))
			expect(leads.filter(l => l === server).length).toBeLessThanOrEqual(Math.ceil(tables.length / 4));
		// New servers take new tables (they carry the default tag).
		expect(Object.values(await tags()).every(t => t.includes('default'))).toBe(true);
	});

	it('refuses, before changing anything, a scale-down that would delete the only copy of a table; the writer goes on', async () => {
		await pinned('solo', 'workerbee_3', 100);
		// A table only workerbee-2 holds (as an application may place one): the next test loses that node for good.
		await pinned('gone', 'workerbee_2', 30);
		const w = writer();
		await w.advance(20);
		// workerbee-3 stops hard, as a host losing power would.
		execFileSync('docker', ['kill', container('workerbee-3')]);
		await waitFor(
			async () => ((await status(name, home)).rethinkdb?.missing.includes('workerbee_3') ? true : undefined),
			60_000,
			() => 'workerbee_3 still counted',
		);
		const nodesBefore = journal().nodes;
		// Nothing swarmbee could change: no service spec updated, and the servers that answer still run the
		// processes they ran. (Their task lists are not compared: with a node down, Swarm itself reschedules
		// and may be caught between a task's old and new records.)
		const specs = () =>
			dockerIn(
				container('queenbee'),
				"docker service inspect --format '{{.Spec.Name}} {{.Version.Index}}' $(docker service ls -q)",
			)
				.split('\n')
				.sort();
		const specsBefore = specs();
		const answering = async () => {
			const now = await started();
			delete now['workerbee_3'];
			return now;
		};
		const startedBefore = await answering();
		expect(Object.keys(startedBefore).sort()).toEqual(['queenbee', 'workerbee_1', 'workerbee_2']);
		const tagsBefore = await tags();
		const result = await cli(['scale', name, '--workers', '2', '--yes', '--plain'], home);
		expect(result.exitCode, result.stderr).toBe(2);
		expect(result.stderr).toContain('app.solo');
		expect(result.stderr).toContain('workerbee_3');
		expect(result.stderr).toMatch(/only copy/);
		expect(journal().nodes).toEqual(nodesBefore);
		expect(journal().change).toBeUndefined();
		expect(specs()).toEqual(specsBefore);
		expect(await answering()).toEqual(startedBefore);
		expect(await tags()).toEqual(tagsBefore);
		expect(containerIds(name)[container('workerbee-3')]).toBeDefined();
		// What it read of the tables is remembered, with their rows: app.gone held 30 on workerbee_2.
		expect(journal().tables?.['app.gone']).toMatchObject({rows: 30, servers: ['workerbee_2']});
		await checkWrites(w, 'refused scale-down, workerbee-3 killed');
	});

	it('one node back after a hard stop, one lost for good with its volume: up repairs the first, replaces the second, says the table only the lost one held is lost (no repair offered), and drops it only when named', async () => {
		const w = writer();
		await w.advance(20);
		execFileSync('docker', ['start', container('workerbee-3')]);
		const oldId = containerIds(name)[container('workerbee-2')];
		// Its machine and its disk (the node's dockerd volume, where its database server keeps its data) are gone.
		execFileSync('docker', ['rm', '-f', '-v', container('workerbee-2')]);
		execFileSync('docker', ['volume', 'rm', '-f', `swarmbee-${name}-workerbee-2-docker`]);
		const first = await cli(['up', name, '--reprovision', '--plain'], home);
		expect(first.exitCode, first.stdout).toBe(2);
		expect(first.stdout).toMatch(/workerbee-3: ok=\d+ changed=\d+ unreachable=0 failed=0/);
		expect(first.stderr).toContain('app.gone is lost: no server that held it is left');
		expect(first.stderr).toMatch(
			/app\.gone \(30 rows when last seen, [^)]+\): lost: no server that held it is left \(it was on workerbee_2\)/,
		);
		expect(first.stderr).toContain(`swarmbee up ${name} --drop-lost-tables app.gone`);
		expect(first.stderr).not.toMatch(/majority|emergency-repair/);
		const second = await cli(['up', name, '--drop-lost-tables', 'app.gone', '--plain'], home);
		expect(second.stderr).toBe('');
		expect(second.exitCode).toBe(0);
		expect(second.stdout).toMatch(
			/app\.gone: dropped, as --drop-lost-tables asked: it held 30 rows when last seen \([^)]*, on workerbee_2\)/,
		);
		await checkWrites(w, 'workerbee-3 started again, workerbee-2 lost for good, up twice');
		expect(containerIds(name)[container('workerbee-2')]).not.toBe(oldId);
		const members = dockerIn(container('queenbee'), "docker node ls --format '{{.Hostname}} {{.Status}}'")
			.split('\n')
			.sort();
		expect(members).toEqual(['queenbee Ready', 'workerbee-1 Ready', 'workerbee-2 Ready', 'workerbee-3 Ready']);
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		expect(await countOf('solo')).toBe(100);
		const now = await status(name, home);
		expect(now.rethinkdb).toMatchObject({connected: 4, expected: 4, missing: []});
		expect(now.rethinkdb!.issues.filter(i => i.critical)).toEqual([]);
		expect(now.rethinkdb!.tables.map(t => t.table)).not.toContain('gone');
		expect(now.rethinkdb!.tables.every(t => t.replicas === 3 && t.readiness === 'ready' && !t.underReplicated)).toBe(
			true,
		);
	});

	it('a staying node stopped during a scale-down is named within 10 s; once it is back and up runs, no "lost the majority", 0 writes lost', async () => {
		const w = writer();
		await w.advance(20);
		const run = watchRun(['scale', name, '--workers', '2', '--yes'], home);
		onTestFinished(() => run.stop());
		await run.until(e => e.type === 'step-progress' && e.step === 'evacuate' && /moving replicas off/.test(e.message));
		// Measured from before the kill: the server's connection drops as its process dies, before docker returns.
		const stoppedAt = Date.now();
		execFileSync('docker', ['kill', container('workerbee-1')]);
		// A test that fails before it starts workerbee-1 again leaves it running for the next ones.
		onTestFinished(() => {
			execFileSync('docker', ['start', container('workerbee-1')]);
		});
		const named = await run.until(
			e =>
				e.type === 'step-progress' &&
				/workerbee-1('s server is not connected| does not answer); waiting for it/.test(e.message),
			120_000,
		);
		expect(named.seenAt - stoppedAt).toBeLessThan(10_000);
		// The wait is bounded, and says so.
		expect((named.event as {message: string}).message).toMatch(/min more at most\), or Ctrl-C and `swarmbee up /);
		execFileSync('docker', ['start', container('workerbee-1')]);
		// The scale goes on once its server is back (or stops, saying so): either way up finishes it.
		const scaled = await run.done;
		console.log(
			`scale with workerbee-1 stopped: named ${((named.seenAt - stoppedAt) / 1000).toFixed(1)} s after the kill ("${(named.event as {message: string}).message}"); the scale exited ${scaled.exitCode}`,
		);
		const repaired = await cli(['up', name, '--plain'], home);
		const said = `${scaled.stdout}\n${scaled.stderr}\n${repaired.stdout}\n${repaired.stderr}`;
		expect(said).not.toMatch(/lost the majority|majority of its replicas is gone/);
		expect(repaired.stderr).toBe('');
		expect(repaired.exitCode).toBe(0);
		await checkWrites(w, 'scale 1+3 → 1+2, workerbee-1 killed during Move tables and started again, then up');
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		const now = await status(name, home);
		expect(now.nodes.map(n => n.name)).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
		expect(now.change).toBeUndefined();
		expect(now.rethinkdb!.tables.every(t => t.readiness === 'ready' && t.servers.every(s => s !== 'workerbee_3'))).toBe(
			true,
		);
	});

	it('the CLI killed with -9 during a scale-down: status says the scale is interrupted, up resumes it, 0 writes lost', async () => {
		const w = writer();
		await w.advance(20);
		const run = watchRun(['scale', name, '--workers', '1', '--yes'], home);
		// A test that fails half-way lets go of the cluster for the next ones.
		onTestFinished(() => run.stop());
		await run.until(e => e.type === 'step-progress' && e.step === 'evacuate' && /moving replicas off/.test(e.message));
		run.signal('SIGKILL');
		await run.done;
		const between = await status(name, home);
		expect(between.change).toMatchObject({workers: 1, leaving: ['workerbee-2'], interrupted: true});
		expect(between.change!.says).toBe(
			`scale to 1 worker interrupted, removing workerbee-2 (swarmbee up ${name} continues it)`,
		);
		const plain = await cli(['status', name, '--once', '--plain'], home);
		expect(plain.stdout).toContain(
			`change: scale to 1 worker interrupted, removing workerbee-2 (swarmbee up ${name} continues it)`,
		);
		const resumed = await cli(['up', name, '--plain'], home);
		expect(resumed.stderr).toBe('');
		expect(resumed.exitCode).toBe(0);
		expect(resumed.stdout).toContain(
			`! resuming the interrupted scale to 1 worker (swarmbee scale ${name} --workers 1`,
		);
		await checkWrites(w, 'scale 1+2 → 1+1, the CLI killed with -9 during Move tables, then up');
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		const now = await status(name, home);
		expect(now.nodes.map(n => n.name)).toEqual(['queenbee', 'workerbee-1']);
		expect(now.change).toBeUndefined();
		expect(now.rethinkdb!.tables.every(t => t.readiness === 'ready' && t.replicas === 2)).toBe(true);
		expect(containerIds(name)[container('workerbee-2')]).toBeUndefined();
	});

	it('cleans up', async () => {
		await tunnel?.close();
		tunnel = undefined;
		expect((await cli(['down', name, '--yes'], home)).exitCode).toBe(0);
	});
});
