import {beforeEach, describe, expect, it, vi} from 'vitest';
import {applyReplicationPolicy} from '../../source/backup/replication-policy.js';
import {planPlacement, type TableLayout, type TablePlan} from '../../source/database/placement.js';
import type {ClusterSpec} from '../../source/spec.js';
import type {DatabaseSession} from '../../source/database/rethinkdb.js';

// The database's answers are scripted (the real server is in test/e2e/backup.test.ts): what is
// seen here is which placement the restore writes, planned as `up` plans it.
const db = vi.hoisted(() => ({
	layouts: [] as TableLayout[],
	applied: [] as TablePlan[],
}));
vi.mock('../../source/database/tables.js', async original => {
	const tables = await original<typeof import('../../source/database/tables.js')>();
	const applyPlan = vi.fn(async (_connection: unknown, plan: TablePlan) => {
		db.applied.push(plan);
		const shards = plan.stages.at(-1)!.shards;
		db.layouts = db.layouts.map(t => (t.id === plan.layout.id ? {...t, shards, live: shards.map(s => s.replicas)} : t));
	});
	return {
		...tables,
		readLayouts: vi.fn(async () => db.layouts),
		// The real loop over the plans, each written by the scripted applyPlan.
		applyPlans: vi.fn((connection: never, plans: TablePlan[], options: Parameters<typeof tables.applyPlans>[2]) =>
			tables.applyPlans(connection, plans, {...options, apply: applyPlan}),
		),
	};
});

const SERVERS = ['queenbee', 'workerbee_1', 'workerbee_2'];

function table(name: string, replicas: string[]): TableLayout {
	return {
		id: `id-${name}`,
		db: 'app',
		table: name,
		shards: [{primary: replicas[0]!, replicas, nonvoting: []}],
		live: [replicas],
		writable: true,
	};
}

const link = {connection: {}} as unknown as DatabaseSession;
const spec = {replicas: 2} as ClusterSpec;

beforeEach(() => {
	db.layouts = [];
	db.applied = [];
});

describe('applyReplicationPolicy', () => {
	it("places a restored table among the cluster's other tables, so the next up moves nothing", async () => {
		// A table already placed by the policy (primary on queenbee), and one the restore just wrote on queenbee.
		db.layouts = [table('accounts', ['queenbee', 'workerbee_1']), table('orders', ['queenbee'])];
		const result = await applyReplicationPolicy({
			link,
			spec,
			servers: SERVERS,
			tables: [{db: 'app', table: 'orders'}],
			say: () => {},
		});
		// Only the restored table is written, and onto the server that holds nothing yet, its primary off the busy queenbee.
		expect(db.applied.map(p => p.layout.table)).toEqual(['orders']);
		expect(db.applied[0]!.stages.at(-1)!.shards).toEqual([
			{primary: 'workerbee_2', replicas: ['queenbee', 'workerbee_2'], nonvoting: []},
		]);
		expect(result).toEqual({
			applied: true,
			placed: new Set(['app.orders']),
			summary: "1 table with 2 replicas each, as the cluster's policy has it (1 placed anew)",
		});
		// What `up` plans next, over every table: nothing left to move.
		expect(planPlacement(db.layouts, SERVERS, spec.replicas).filter(p => p.stages.length > 0)).toEqual([]);
	});

	it('leaves the tables the restore did not write alone, even when the policy would move them', async () => {
		db.layouts = [table('accounts', ['queenbee']), table('orders', ['workerbee_1', 'workerbee_2'])];
		const result = await applyReplicationPolicy({
			link,
			spec,
			servers: SERVERS,
			tables: [{db: 'app', table: 'orders'}],
			say: () => {},
		});
		expect(db.applied).toEqual([]);
		expect(result.applied).toBe(false);
		expect(result.placed).toEqual(new Set());
	});
});
