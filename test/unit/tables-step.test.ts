import {mkdirSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';
import type {TableLayout, TablePlan} from '../../source/database/placement.js';
import {openDatabase} from '../../source/database/rethinkdb.js';
import {InputError} from '../../source/errors.js';
import {describePlaced, evacuateStep, tablesStep} from '../../steps/tables.js';
import {recordedCluster, recordedIO} from './recorder.js';

// The database's answers need a RethinkDB server (test/e2e/rethinkdb-server.test.ts and the
// data-safety suite use the real one): here they are scripted, so the steps' decisions can be seen.
const db = vi.hoisted(() => ({
	layouts: [] as TableLayout[],
	connected: new Set<string>(),
	sizes: new Map<string, number>(),
	applied: [] as TablePlan[],
	repaired: [] as Array<{table: string; mode: string; dryRun: boolean}>,
	/** Servers carrying RethinkDB's `default` tag. */
	tagged: new Set<string>(),
	tagCalls: [] as string[],
	counts: new Map<string, number>(),
	dropped: [] as string[],
	/** Scripted arrivals: called after each plan is applied (an application creating a table meanwhile). */
	afterApply: undefined as undefined | (() => void),
	/** Reads of the layouts left before a settling table becomes writable. */
	settleAfter: 0,
}));
vi.mock('../../source/database/rethinkdb.js', async original => ({
	...(await original<typeof import('../../source/database/rethinkdb.js')>()),
	openDatabase: vi.fn(async () => ({connection: {}, server: 'queenbee', close: async () => {}})),
}));
vi.mock('../../source/database/tables.js', async original => {
	const tables = await original<typeof import('../../source/database/tables.js')>();
	const applyPlan = vi.fn(
		async (_connection: unknown, plan: TablePlan, options: {onProgress?: (p: never) => void} = {}) => {
			db.applied.push(plan);
			options.onProgress?.({
				table: plan.layout,
				stage: 'grow',
				documents: 5000,
				copies: [
					{
						db: plan.layout.db,
						table: plan.layout.table,
						server: plan.copies[0]?.server ?? 'queenbee',
						from: ['workerbee_3'],
						fraction: 0.62,
					},
				],
			} as never);
			// Placed as planned: the next read sees it so.
			const shards = plan.stages.at(-1)!.shards;
			db.layouts = db.layouts.map(t =>
				t.id === plan.layout.id ? {...t, shards, live: shards.map(s => s.replicas)} : t,
			);
			const arrive = db.afterApply;
			db.afterApply = undefined;
			arrive?.();
		},
	);
	return {
		...tables,
		// The real loop over the plans, each written by the scripted applyPlan.
		applyPlan,
		applyPlans: vi.fn((connection: never, plans: TablePlan[], options: Parameters<typeof tables.applyPlans>[2]) =>
			tables.applyPlans(connection, plans, {...options, apply: applyPlan}),
		),
		readLayouts: vi.fn(async () => {
			if (db.settleAfter > 0 && --db.settleAfter === 0) db.layouts = db.layouts.map(t => ({...t, writable: true}));
			return db.layouts;
		}),
		waitForSettling: vi.fn(async () => db.layouts),
		countRows: vi.fn(async () => db.counts),
		readUnavailableTables: vi.fn(async () => []),
		waitForAvailable: vi.fn(async () => []),
		setDefaultTag: vi.fn(async (_connection: unknown, servers: string[], on: boolean) => {
			const changing = servers.filter(s => db.connected.has(s) && db.tagged.has(s) !== on);
			for (const s of changing) {
				if (on) db.tagged.add(s);
				else db.tagged.delete(s);
				db.tagCalls.push(`${on ? '+' : '-'}${s}`);
			}
			return changing;
		}),
		CONFIRM_BROKEN_MS: 50,
		dropTable: vi.fn(async (_connection: unknown, dropped: {db: string; table: string}) => {
			db.dropped.push(`${dropped.db}.${dropped.table}`);
			db.layouts = db.layouts.filter(t => t.table !== dropped.table);
		}),
		readConnectedServers: vi.fn(async () => db.connected),
		readTableSizes: vi.fn(async () => db.sizes),
		emergencyRepair: vi.fn(async (_connection: unknown, table: TableLayout, mode: string, dryRun: boolean) => {
			db.repaired.push({table: table.table, mode, dryRun});
			const alive = table.live[0]!;
			if (!dryRun)
				db.layouts = db.layouts.map(t =>
					t.id === table.id
						? {...t, shards: [{primary: alive[0]!, replicas: alive, nonvoting: []}], writable: true}
						: t,
				);
			return [{primary: alive[0]!, replicas: alive, nonvoting: []}];
		}),
	};
});

const NODES = ['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3'];

function table(name: string, replicas: string[], down: string[] = []): TableLayout {
	const live = replicas.filter(s => !down.includes(s));
	return {
		id: `id-${name}`,
		db: 'app',
		table: name,
		shards: [{primary: replicas[0]!, replicas, nonvoting: []}],
		live: [live],
		writable: live.length > replicas.length / 2,
	};
}

let remove = () => {};
afterEach(() => remove());
beforeEach(() => {
	db.layouts = [];
	db.connected = new Set(NODES.map(n => n.replace('-', '_')));
	db.sizes = new Map();
	db.applied = [];
	db.repaired = [];
	db.tagged = new Set(NODES.map(n => n.replace('-', '_')));
	db.tagCalls = [];
	db.counts = new Map();
	db.dropped = [];
	db.afterApply = undefined;
	db.settleAfter = 0;
});

/** A deployed 1+3 cluster with its password file, every outside part recorded. */
function cluster(input: Record<string, unknown> = {}, ssh: Parameters<typeof recordedCluster>[1] = {}) {
	const c = recordedCluster({database: 'rethinkdb', workers: 3, ...input}, ssh);
	remove = c.remove;
	mkdirSync(path.dirname(c.ctx.paths.rethinkdbPassword), {recursive: true});
	writeFileSync(c.ctx.paths.rethinkdbPassword, 'pw\n', {mode: 0o600});
	c.ctx.journal.update(j => {
		j.nodes = NODES.map((name, index) => ({
			name,
			index,
			role: index === 0 ? ('manager' as const) : ('worker' as const),
			state: 'running' as const,
			hostKey: {publicKey: 'k', fingerprint: 'f'},
		}));
		j.database = {image: 'rethinkdb:2.4.4-bookworm-slim', stackHash: 'h', secret: 's', deployedAt: 'now'};
	});
	return c;
}

const progress = (events: ReturnType<typeof recordedIO>['events']) =>
	events.flatMap(e => (e.type === 'step-progress' ? [e.message] : []));

describe('tables', () => {
	it('grows tables made with the defaults to --replicas, saying what it copies and when each is ready', async () => {
		db.layouts = [table('events', ['queenbee']), table('orders', ['queenbee'])];
		const c = cluster();
		const {io, events} = recordedIO();
		const result = await tablesStep.run(c.ctx, io);
		expect(db.applied.map(p => p.layout.table)).toEqual(['events', 'orders']);
		expect(db.applied.every(p => p.stages.at(-1)!.shards[0]!.replicas.length === 3)).toBe(true);
		const said = progress(events);
		expect(
			said.some(line =>
				/^app\.events: 3 replicas, onto .*: copying to .* from workerbee_3, 62% \(about 3,100 of 5,000 documents\)$/.test(
					line,
				),
			),
		).toBe(true);
		expect(said.filter(line => /^app\.(events|orders): ready, 3 replicas on /.test(line))).toHaveLength(2);
		expect(result).toEqual({changed: true, summary: '2 tables, 3 replicas each: 2 placed anew'});
	});

	it('refuses without the admin password as backup and restore do: it cannot be made again', async () => {
		db.layouts = [table('orders', ['queenbee'])];
		const c = cluster();
		rmSync(c.ctx.paths.rethinkdbPassword);
		const error = await tablesStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect(error).toBeInstanceOf(InputError);
		expect((error as InputError).message).toBe(
			`the RethinkDB admin password of demo is missing (${c.ctx.paths.rethinkdbPassword})`,
		);
		expect((error as InputError).nextSteps).toEqual([
			'swarmbee keeps it there since the cluster was created; restore that file from your own copy',
		]);
		expect(db.applied).toEqual([]);
	});

	it('changes nothing where the policy already holds', async () => {
		db.layouts = [table('orders', ['queenbee', 'workerbee_1', 'workerbee_2'])];
		const result = await tablesStep.run(cluster().ctx, recordedIO().io);
		expect(db.applied).toEqual([]);
		expect(result).toEqual({changed: false, summary: '1 table, 3 replicas each, as placed'});
	});

	it('refuses a table that lost its majority, naming what is lost and the repair, after a dry run only', async () => {
		db.layouts = [table('orders', ['queenbee', 'workerbee_2', 'workerbee_3'], ['workerbee_2', 'workerbee_3'])];
		const error = await tablesStep.run(cluster().ctx, recordedIO().io).catch(e => e as InputError);
		expect(error).toBeInstanceOf(InputError);
		expect((error as InputError).message).toBe('1 table lost the majority of its replicas and cannot be reconfigured');
		expect((error as InputError).hint).toContain(
			'app.orders: the majority of its replicas is gone (workerbee_2, workerbee_3)',
		);
		expect((error as InputError).nextSteps).toContain(
			'or accept the loss and let RethinkDB recover what survives: swarmbee up demo --emergency-repair unsafe_rollback --yes',
		);
		expect(db.repaired).toEqual([{table: 'orders', mode: 'unsafe_rollback', dryRun: true}]);
		expect(db.applied).toEqual([]);
	});

	it('applies the emergency repair when asked for, then the policy', async () => {
		db.layouts = [table('orders', ['queenbee', 'workerbee_2', 'workerbee_3'], ['workerbee_2', 'workerbee_3'])];
		const c = cluster();
		c.ctx.options.emergencyRepair = 'unsafe_rollback';
		const {io, events} = recordedIO();
		await tablesStep.run(c.ctx, io);
		expect(db.repaired).toEqual([{table: 'orders', mode: 'unsafe_rollback', dryRun: false}]);
		expect(progress(events)).toContain('app.orders: repaired with unsafe_rollback');
		expect(db.applied[0]!.stages.at(-1)!.shards[0]!.replicas).toHaveLength(3);
	});
	it('says a table is lost, never "lost the majority", when none of its servers is left: restore or drop, and no repair offered', async () => {
		// app.late's only server was removed with its volume: RethinkDB cannot even say where it was.
		db.layouts = [
			{
				id: 'id-late',
				db: 'app',
				table: 'late',
				shards: [],
				live: [],
				writable: false,
				error: 'None of the replicas for this table are accessible.',
			},
			table('orders', ['queenbee', 'workerbee_1', 'workerbee_2']),
		];
		const c = cluster({workers: 2});
		c.ctx.journal.update(j => {
			j.nodes = j.nodes.slice(0, 3);
			j.tables = {'app.late': {rows: 103, servers: ['workerbee_3'], seenAt: '2025-01-01T10:00:00.000Z'}};
		});
		db.connected.delete('workerbee_3');
		const error = await tablesStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect(error).toBeInstanceOf(InputError);
		expect((error as InputError).message).toBe('app.late is lost: no server that held it is left');
		expect((error as InputError).hint).toBe(
			"app.late (103 rows when last seen, 2025-01-01T10:00:00.000Z): lost: no server that held it is left (it was on workerbee_3); RethinkDB's emergency repair cannot bring back a table with no surviving replica",
		);
		expect((error as InputError).nextSteps).toEqual([
			'restore it from a backup: swarmbee up demo --drop-lost-tables app.late, then swarmbee restore demo FILE --tables app.late',
			'or drop it, accepting the loss: swarmbee up demo --drop-lost-tables app.late',
		]);
		expect(db.repaired).toEqual([]);
		expect(db.dropped).toEqual([]);
	});

	it('drops a lost table only when --drop-lost-tables names it, saying what it held when last seen', async () => {
		db.layouts = [{id: 'id-late', db: 'app', table: 'late', shards: [], live: [], writable: false}];
		const c = cluster({workers: 2});
		c.ctx.journal.update(j => {
			j.nodes = j.nodes.slice(0, 3);
			j.tables = {'app.late': {rows: 103, servers: ['workerbee_3'], seenAt: '2025-01-01T10:00:00.000Z'}};
		});
		db.connected.delete('workerbee_3');
		c.ctx.options.dropLostTables = ['app.orders'];
		const refused = await tablesStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect((refused as InputError).message).toBe(
			'--drop-lost-tables names app.orders, which is not lost: nothing was dropped',
		);
		expect(db.dropped).toEqual([]);
		c.ctx.options.dropLostTables = ['app.late'];
		const {io, events} = recordedIO();
		const result = await tablesStep.run(c.ctx, io);
		expect(db.dropped).toEqual(['app.late']);
		expect(progress(events)).toContain(
			'app.late: dropped, as --drop-lost-tables asked: it held 103 rows when last seen (2025-01-01T10:00:00.000Z, on workerbee_3)',
		);
		expect(result.summary).toBe('no user tables left; 1 lost table dropped');
		expect(c.ctx.journal.value.tables).toEqual({});
	});

	it('takes a table whose replicas all answer but that is not writable yet for what it is: no lost majority, no empty list', async () => {
		// Right after its primary came back: every replica connected, ready_for_writes still false.
		db.layouts = [{...table('fresh', ['queenbee', 'workerbee_1', 'workerbee_2']), writable: false}];
		const c = cluster({workers: 3, replicas: 3});
		const error = (await tablesStep.run(c.ctx, recordedIO().io).catch(e => e)) as InputError;
		expect(error.message).toBe('1 table cannot take writes now: app.fresh');
		expect((error as InputError).hint).toBe('app.fresh: every replica answers, but it is not ready for writes yet');
		expect(JSON.stringify(error)).not.toMatch(/majority|emergency/);
		expect(db.repaired).toEqual([]);
		// And once it is writable within the few seconds it is watched, nothing at all is said.
		db.settleAfter = 1;
		const result = await tablesStep.run(c.ctx, recordedIO().io);
		expect(result.summary).toBe('1 table, 3 replicas each, as placed');
	});

	it('gives the default tag back to servers a scale-down took it from that stay after all', async () => {
		db.layouts = [table('orders', ['queenbee', 'workerbee_1', 'workerbee_2'])];
		db.tagged.delete('workerbee_2');
		db.tagged.delete('workerbee_3');
		const c = cluster({workers: 3});
		c.ctx.journal.update(j => {
			j.untagged = ['workerbee_2', 'workerbee_3'];
			j.nodes[3]!.state = 'deleting';
		});
		const {io, events} = recordedIO();
		await tablesStep.run(c.ctx, io);
		expect(db.tagCalls).toEqual(['+workerbee_2']);
		expect(progress(events)).toContain("workerbee_2 takes new tables again (RethinkDB's default tag)");
		// workerbee_3 still leaves: it is kept in the list, untagged.
		expect(c.ctx.journal.value.untagged).toEqual(['workerbee_3']);
	});

	it('says "2 shards of 3 replicas" where a table has more servers than replicas per shard', () => {
		const layout = table('wide', ['queenbee']);
		expect(
			describePlaced({
				layout,
				stages: [
					{
						name: 'settle',
						shards: [
							{primary: 'queenbee', replicas: ['queenbee', 'workerbee_1', 'workerbee_2'], nonvoting: []},
							{primary: 'workerbee_3', replicas: ['workerbee_3', 'workerbee_1', 'workerbee_2'], nonvoting: []},
						],
					},
				],
				copies: [],
				drops: [],
			}),
		).toBe('app.wide: ready, 2 shards of 3 replicas, on queenbee, workerbee_1, workerbee_2, workerbee_3');
	});
});

describe('evacuate', () => {
	it('opens its session as backup and restore do: the manager by its role, never a node being removed', async () => {
		db.layouts = [table('orders', ['queenbee', 'workerbee_1'])];
		// A scale-down interrupted after workerbee-3 was marked for removal, run again.
		const c = cluster({workers: 2}, {ssh: [{match: 'df -Pk', reply: '1000000\n'}]});
		c.ctx.journal.update(j => {
			j.nodes[3]!.state = 'deleting';
		});
		vi.mocked(openDatabase).mockClear();
		await evacuateStep.run(c.ctx, recordedIO().io);
		expect(vi.mocked(openDatabase).mock.calls.map(([input]) => ({manager: input.manager, nodes: input.nodes}))).toEqual(
			[{manager: 'queenbee', nodes: ['queenbee', 'workerbee-1', 'workerbee-2']}],
		);
	});

	it('moves every table off the leaving servers, then marks their nodes for removal', async () => {
		db.layouts = [table('orders', ['workerbee_3', 'queenbee', 'workerbee_2']), table('events', ['workerbee_2'])];
		const c = cluster({workers: 1}, {ssh: [{match: 'df -Pk', reply: '1000000\n'}]});
		const {io, events} = recordedIO();
		const result = await evacuateStep.run(c.ctx, io);
		for (const plan of db.applied)
			expect(plan.stages.at(-1)!.shards[0]!.replicas.sort()).toEqual(['queenbee', 'workerbee_1']);
		expect(
			progress(events).some(line =>
				line.startsWith('app.orders: moving replicas off workerbee_2, workerbee_3: copying to'),
			),
		).toBe(true);
		expect(c.ctx.journal.value.nodes.map(n => `${n.name} ${n.state}`)).toEqual([
			'queenbee running',
			'workerbee-1 running',
			'workerbee-2 deleting',
			'workerbee-3 deleting',
		]);
		expect(result.summary).toBe('2 tables on queenbee, workerbee_1 (2 moved)');
	});

	it("refuses, changing nothing, when a table's only copy is on a leaving server that does not answer", async () => {
		db.layouts = [
			table('solo', ['workerbee_3'], ['workerbee_3']),
			table('orders', ['queenbee', 'workerbee_1', 'workerbee_2']),
		];
		db.connected.delete('workerbee_3');
		const c = cluster({workers: 2});
		const error = await evacuateStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect(error).toBeInstanceOf(InputError);
		expect((error as InputError).message).toBe('removing workerbee-3 is not safe now: nothing was changed');
		expect((error as InputError).hint).toContain('no replica of app.solo answers');
		expect((error as InputError).nextSteps).toEqual([
			'bring workerbee_3 back first (swarmbee up repairs a stopped node): removing it now would delete the only copy of app.solo',
		]);
		expect(db.applied).toEqual([]);
		expect(c.ctx.journal.value.nodes.every(n => n.state === 'running')).toBe(true);
	});

	it('refuses when a server that stays is not connected', async () => {
		db.layouts = [table('orders', ['workerbee_3', 'queenbee'])];
		db.connected.delete('workerbee_1');
		const c = cluster({workers: 1});
		const error = await evacuateStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect((error as InputError).hint).toBe('workerbee_1 stays but is not connected');
		expect((error as InputError).nextSteps).toEqual(['repair it first: swarmbee up demo (then scale again)']);
		expect(c.ctx.journal.value.nodes.every(n => n.state === 'running')).toBe(true);
	});

	it("refuses when the copies would not fit on a staying node's disk", async () => {
		db.layouts = [table('big', ['workerbee_3'])];
		db.sizes.set('app.big', 900 * 2 ** 20);
		// Every node has 500 MiB free.
		const c = cluster({workers: 1}, {ssh: [{match: 'df -Pk', reply: `${500 * 1024}\n`}]});
		const error = await evacuateStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect((error as InputError).hint).toMatch(
			/^(queenbee|workerbee_1) would receive 900 MiB of tables but has 500 MiB free on (queenbee|workerbee-1)/,
		);
		expect(db.applied).toEqual([]);
		expect(c.ctx.journal.value.nodes.every(n => n.state === 'running')).toBe(true);
	});
	it('takes the default tag off the leaving servers before any move, and moves a table that arrived on one while the others moved', async () => {
		db.layouts = [table('orders', ['workerbee_3', 'queenbee']), table('events', ['workerbee_2'])];
		// While the first table moves, the application makes app.late and places it on workerbee_2 by name.
		db.afterApply = () => {
			db.layouts = [...db.layouts, table('late', ['workerbee_2'])];
		};
		const c = cluster({workers: 1}, {ssh: [{match: 'df -Pk', reply: '1000000\n'}]});
		const {io, events} = recordedIO();
		const result = await evacuateStep.run(c.ctx, io);
		expect(db.tagCalls).toEqual(['-workerbee_2', '-workerbee_3']);
		expect(c.ctx.journal.value.untagged).toEqual(['workerbee_2', 'workerbee_3']);
		const lines = progress(events);
		expect(lines[0]).toBe(
			"workerbee_2, workerbee_3 take no new table from now on (RethinkDB's default tag removed): a table made meanwhile lands on queenbee, workerbee_1",
		);
		expect(lines).toContain('app.late has replicas on workerbee_2, which is leaving: moving it first');
		expect(db.applied.map(p => p.layout.table)).toEqual(['orders', 'events', 'late']);
		for (const t of db.layouts) expect(t.shards[0]!.replicas.sort()).toEqual(['queenbee', 'workerbee_1']);
		expect(result.summary).toBe('3 tables on queenbee, workerbee_1 (3 moved)');
	});

	it('a refused scale leaves the tags as they were and no change under way', async () => {
		db.layouts = [table('orders', ['workerbee_3', 'queenbee'])];
		db.connected.delete('workerbee_1');
		const c = cluster({workers: 1});
		c.ctx.journal.update(j => {
			j.change = {
				kind: 'scale',
				workers: 1,
				from: 3,
				leaving: ['workerbee-2', 'workerbee-3'],
				command: 'swarmbee scale demo --workers 1',
				startedAt: 'now',
			};
		});
		await evacuateStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect(db.tagCalls).toEqual([]);
		expect(c.ctx.journal.value.change).toBeUndefined();
		expect(c.ctx.journal.value.untagged).toBeUndefined();
	});
	it('refuses a scale while a table is lost, saying so with the choice that works, not "bring its servers back"', async () => {
		db.layouts = [
			{id: 'id-late', db: 'app', table: 'late', shards: [], live: [], writable: false},
			table('orders', ['queenbee', 'workerbee_1']),
		];
		const c = cluster({workers: 2});
		c.ctx.journal.update(j => {
			j.tables = {'app.late': {rows: 103, servers: ['workerbee_4'], seenAt: 't'}};
		});
		const error = (await evacuateStep.run(c.ctx, recordedIO().io).catch(e => e)) as InputError;
		expect(error.hint).toBe(
			"app.late (103 rows when last seen, t): lost: no server that held it is left (it was on workerbee_4); RethinkDB's emergency repair cannot bring back a table with no surviving replica",
		);
		expect(error.nextSteps).toEqual([
			'swarmbee up demo --drop-lost-tables app.late drops it (then swarmbee restore demo FILE --tables app.late brings it back from a backup)',
		]);
		expect(db.tagCalls).toEqual([]);
	});
});
