import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import r from 'rethinkdb';
import {afterAll, beforeAll, expect, it} from 'vitest';
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

/**
 * The data outlives every command: real rows in the real RethinkDB 2.4.4,
 * counted before and after each change to the cluster (scale both ways, a
 * refused scale, a node restarted hard, a node lost for good), with the
 * servers that stay never restarted.
 */

const TABLES = ['events', 'orders', 'users'];
const ROWS = 5_000;

describeWithEngine('no row lost when the cluster changes', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-data');
	const container = (node: string) => `swarmbee-${name}-${node}`;
	let image: string;
	let password: string;
	let tunnel: Awaited<ReturnType<typeof openTunnel>> | undefined;

	/** A query through the tunnel on a fresh connection (a scale may have moved what an old one reached). */
	async function query<T>(run: (connection: r.Connection) => Promise<T>): Promise<T> {
		const connection = await connectThrough(tunnel!, password);
		try {
			return await run(connection);
		} finally {
			await connection.close().catch(() => {});
		}
	}
	const counts = () =>
		query(async c =>
			Object.fromEntries(
				await Promise.all(TABLES.map(async t => [t, await r.db('app').table(t).count().run(c)] as const)),
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
	const journal = () => JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
	/** Each server's running task (service and task id): a restarted or updated server gets a new task. */
	const services = () =>
		dockerIn(
			container('queenbee'),
			"docker service ps --filter desired-state=running --format '{{.Name}} {{.ID}}' $(docker service ls -q)",
		)
			.split('\n')
			.sort();

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

	it('scale --workers 1: every table moves off the leaving servers first; 5,000 rows each, no critical issue, the survivors not restarted', async () => {
		const before = await started();
		const result = await cli(['scale', name, '--workers', '1', '--yes', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		// The moves are shown as they happen.
		expect(result.stdout).toMatch(/app\.(events|orders|users): /);
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
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
		expect(now.nodes.map(n => n.name)).toEqual(['queenbee', 'workerbee-1']);
	});

	it('scale --workers 3 again: two new servers, the others not restarted, replicas spread onto the new ones', async () => {
		const before = await started();
		const servicesBefore = services();
		const result = await cli(['scale', name, '--workers', '3', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
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
		expect(new Set(tables.map(t => t.primaries[0])).size).toBe(3);
	});

	it('refuses, before changing anything, a scale-down that would delete the only copy of a table', async () => {
		await query(async c => {
			await r.db('app').tableCreate('solo').run(c);
			await pinTable(c, 'app', 'solo', 'workerbee_3');
			await r
				.db('app')
				.table('solo')
				.insert(Array.from({length: 100}, (_, n) => ({n})))
				.run(c);
		});
		// workerbee-3 stops hard, as a host losing power would.
		execFileSync('docker', ['kill', container('workerbee-3')]);
		await waitFor(
			async () => ((await status(name, home)).rethinkdb?.missing.includes('workerbee_3') ? true : undefined),
			60_000,
			() => 'workerbee_3 still counted',
		);
		const nodesBefore = journal().nodes;
		const servicesBefore = services();
		const result = await cli(['scale', name, '--workers', '2', '--yes', '--plain'], home);
		expect(result.exitCode, result.stderr).toBe(2);
		expect(result.stderr).toContain('app.solo');
		expect(result.stderr).toContain('workerbee_3');
		expect(result.stderr).toMatch(/only copy/);
		expect(journal().nodes).toEqual(nodesBefore);
		expect(services()).toEqual(servicesBefore);
		expect(containerIds(name)[container('workerbee-3')]).toBeDefined();
	});

	it('a node restarted hard is repaired by up, the whole playbook running again on it: every table intact, the new table replicated', async () => {
		execFileSync('docker', ['start', container('workerbee-3')]);
		const result = await cli(['up', name, '--reprovision', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toMatch(/workerbee-3: ok=\d+ changed=\d+ unreachable=0 failed=0/);
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		expect(await query(c => r.db('app').table('solo').count().run(c))).toBe(100);
		const solo = (await status(name, home)).rethinkdb!.tables.find(t => t.table === 'solo')!;
		expect(solo).toMatchObject({replicas: 3, readiness: 'ready', underReplicated: false});
	});

	it('a node removed for good is replaced by up: a new machine of the same name, joined, the tables copied onto its new server', async () => {
		const oldId = containerIds(name)[container('workerbee-2')];
		execFileSync('docker', ['rm', '-f', '-v', container('workerbee-2')]);
		const result = await cli(['up', name, '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(containerIds(name)[container('workerbee-2')]).not.toBe(oldId);
		const members = dockerIn(container('queenbee'), "docker node ls --format '{{.Hostname}} {{.Status}}'")
			.split('\n')
			.sort();
		expect(members).toEqual(['queenbee Ready', 'workerbee-1 Ready', 'workerbee-2 Ready', 'workerbee-3 Ready']);
		expect(await counts()).toEqual({events: ROWS, orders: ROWS, users: ROWS});
		expect(await query(c => r.db('app').table('solo').count().run(c))).toBe(100);
		const now = await status(name, home);
		expect(now.rethinkdb).toMatchObject({connected: 4, expected: 4, missing: []});
		expect(now.rethinkdb!.issues.filter(i => i.critical)).toEqual([]);
		expect(now.rethinkdb!.tables.every(t => t.replicas === 3 && t.readiness === 'ready')).toBe(true);
	});

	it('cleans up', async () => {
		await tunnel?.close();
		tunnel = undefined;
		expect((await cli(['down', name, '--yes'], home)).exitCode).toBe(0);
	});
});
