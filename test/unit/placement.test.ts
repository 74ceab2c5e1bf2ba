import {describe, expect, it} from 'vitest';
import {planPlacement, refusals, wantedReplicas, type TableLayout} from '../../source/database/placement.js';

const S = ['queenbee', 'workerbee_1', 'workerbee_2', 'workerbee_3'];

/** A one-shard table placed on `replicas` (the first is primary), every replica answering unless `down`. */
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

describe('wantedReplicas', () => {
	it('is R, but never more than there are servers, nor fewer than one', () => {
		expect(wantedReplicas(4, 3)).toBe(3);
		expect(wantedReplicas(2, 3)).toBe(2);
		expect(wantedReplicas(0, 3)).toBe(1);
	});
});

describe('planPlacement', () => {
	it('leaves a table placed as the policy wants alone', () => {
		const [plan] = planPlacement([table('orders', ['queenbee', 'workerbee_1', 'workerbee_2'])], S, 3);
		expect(plan!.stages).toEqual([]);
	});

	it('grows a default one-replica table to R on the least loaded servers, then settles; primaries spread', () => {
		// Three tables as an application creates them with the defaults: one replica each, all primaries on queenbee.
		const plans = planPlacement(
			[table('events', ['queenbee']), table('orders', ['queenbee']), table('users', ['queenbee'])],
			S,
			3,
		);
		for (const plan of plans) {
			const final = plan.stages.at(-1)!.shards[0]!;
			expect(final.replicas).toHaveLength(3);
			expect(final.replicas).toContain('queenbee');
			// The grow stage keeps the old primary while the copies fill.
			expect(plan.stages[0]).toMatchObject({name: 'grow', shards: [{primary: 'queenbee'}]});
			expect(plan.copies).toHaveLength(2);
		}
		const finalPrimaries = plans.map(p => p.stages.at(-1)!.shards[0]!.primary);
		expect(new Set(finalPrimaries).size).toBe(3);
		// 3 tables × 3 replicas over 4 servers: no server holds more than 3, none fewer than 2.
		const load = new Map<string, number>();
		for (const plan of plans)
			for (const server of plan.stages.at(-1)!.shards[0]!.replicas) load.set(server, (load.get(server) ?? 0) + 1);
		expect(Math.max(...load.values()) - Math.min(...load.values())).toBeLessThanOrEqual(1);
	});

	it('moves every replica off leaving servers: copies first (old replicas kept), then drops them', () => {
		const [plan] = planPlacement(
			[table('orders', ['workerbee_3', 'workerbee_2', 'queenbee'])],
			['queenbee', 'workerbee_1'],
			3,
		);
		expect(plan!.stages.map(s => s.name)).toEqual(['grow', 'settle']);
		expect(plan!.stages[0]!.shards[0]).toEqual({
			primary: 'workerbee_3',
			replicas: ['workerbee_3', 'workerbee_2', 'queenbee', 'workerbee_1'],
			nonvoting: [],
		});
		const final = plan!.stages[1]!.shards[0]!;
		expect(final.replicas.sort()).toEqual(['queenbee', 'workerbee_1']);
		expect(['queenbee', 'workerbee_1']).toContain(final.primary);
		expect(plan!.copies).toEqual([{shard: 0, server: 'workerbee_1'}]);
		expect(plan!.drops.map(d => d.server).sort()).toEqual(['workerbee_2', 'workerbee_3']);
	});

	it('keeps a table on a leaving server until its copy exists: the only replica leaving still grows first', () => {
		const [plan] = planPlacement([table('events', ['workerbee_3'])], ['queenbee'], 3);
		expect(plan!.stages.map(s => s.name)).toEqual(['grow', 'settle']);
		expect(plan!.stages[0]!.shards[0]!.replicas).toEqual(['workerbee_3', 'queenbee']);
		expect(plan!.stages[1]!.shards[0]).toEqual({primary: 'queenbee', replicas: ['queenbee'], nonvoting: []});
	});

	it('forgets a replica whose server is gone for good before re-adding one of that name (a replaced node)', () => {
		// workerbee_2 was replaced: its old identity is still in the config but does not answer.
		const [plan] = planPlacement([table('orders', ['queenbee', 'workerbee_2', 'workerbee_3'], ['workerbee_2'])], S, 3);
		expect(plan!.stages.map(s => s.name)).toEqual(['forget', 'grow']);
		expect(plan!.stages[0]!.shards[0]!.replicas).toEqual(['queenbee', 'workerbee_3']);
		expect(plan!.stages[1]!.shards[0]!.replicas).toHaveLength(3);
	});

	it('lowers the replica count when R goes down, never dropping the primary', () => {
		const [plan] = planPlacement([table('orders', ['workerbee_1', 'queenbee', 'workerbee_2', 'workerbee_3'])], S, 2);
		expect(plan!.stages.map(s => s.name)).toEqual(['settle']);
		const final = plan!.stages[0]!.shards[0]!;
		expect(final.replicas).toHaveLength(2);
		expect(final.replicas).toContain('workerbee_1');
		expect(final.primary).toBe('workerbee_1');
	});

	it('is stable: the final placement, planned again, needs nothing', () => {
		const first = planPlacement(
			[table('events', ['queenbee']), table('orders', ['queenbee']), table('users', ['workerbee_3', 'workerbee_2'])],
			S,
			3,
		);
		const placed: TableLayout[] = first.map(p => {
			const shards = p.stages.at(-1)?.shards ?? p.layout.shards;
			return {...p.layout, shards, live: shards.map(s => s.replicas), writable: true};
		});
		expect(planPlacement(placed, S, 3).flatMap(p => p.stages)).toEqual([]);
	});

	it('plans every shard of a sharded table', () => {
		const sharded: TableLayout = {
			id: 'id-big',
			db: 'app',
			table: 'big',
			shards: [
				{primary: 'queenbee', replicas: ['queenbee'], nonvoting: []},
				{primary: 'workerbee_1', replicas: ['workerbee_1'], nonvoting: []},
			],
			live: [['queenbee'], ['workerbee_1']],
			writable: true,
		};
		const [plan] = planPlacement([sharded], S, 2);
		const final = plan!.stages.at(-1)!.shards;
		expect(final).toHaveLength(2);
		expect(final.every(s => s.replicas.length === 2)).toBe(true);
		expect(final[0]!.replicas).toContain('queenbee');
		expect(final[1]!.replicas).toContain('workerbee_1');
	});
});

describe('refusals', () => {
	it('refuses a table whose only replica does not answer, naming the server and saying what to do', () => {
		const [refusal] = refusals([table('events', ['workerbee_3'], ['workerbee_3'])], ['workerbee_3']);
		expect(refusal).toEqual({
			db: 'app',
			table: 'events',
			why: 'no replica of app.events answers: its data is only on workerbee_3, which does not answer',
			fix: 'bring workerbee_3 back first (swarmbee up repairs a stopped node): removing it now would delete the only copy of app.events',
		});
	});

	it('refuses a table that lost its majority, and accepts a table missing one replica of three', () => {
		expect(
			refusals([table('orders', ['queenbee', 'workerbee_2', 'workerbee_3'], ['workerbee_2', 'workerbee_3'])], [])[0]!
				.why,
		).toMatch(/lost the majority/);
		expect(
			refusals([table('orders', ['queenbee', 'workerbee_2', 'workerbee_3'], ['workerbee_2'])], ['workerbee_2']),
		).toEqual([]);
	});

	it('refuses a table nobody can describe any more (its only servers are away), naming the servers not connected', () => {
		const unknown: TableLayout = {
			id: 'id-solo',
			db: 'app',
			table: 'solo',
			shards: [],
			live: [],
			writable: false,
			error: 'None of the replicas for this table are accessible.',
		};
		expect(refusals([unknown], ['workerbee_3'], ['workerbee_3'])).toEqual([
			{
				db: 'app',
				table: 'solo',
				why: 'no replica of app.solo answers (RethinkDB: None of the replicas for this table are accessible.); not connected now: workerbee_3',
				fix: 'bring workerbee_3 back first (swarmbee up repairs a stopped node): removing servers now could delete the only copy of app.solo',
			},
		]);
	});
});
