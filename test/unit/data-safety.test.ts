import {describe, expect, it} from 'vitest';
import {changeStatus, decideChange, pendingChange, scaleChange, scalePlan} from '../../source/store/change.js';
import {describeHealth} from '../../source/database/health.js';
import {rememberTables, serversOf, tablesOn} from '../../source/database/leaving.js';
import {classifyBroken, describeBroken} from '../../source/database/lost-tables.js';
import type {TableLayout} from '../../source/database/placement.js';
import {describeProgress} from '../../source/database/tables.js';
import {JournalHandle} from '../../source/store/cluster-store.js';
import {newJournal, type Journal, type NodeRecord} from '../../source/store/journal.js';

/**
 * What swarmbee decides and says about the data while the cluster changes
 * (issue 20), as values: which tables are on servers that leave, what is
 * lost and what is only away, what an interrupted scale is, and the words.
 * The real database's side is proved end to end (test/e2e/data-safety.test.ts).
 */

function table(name: string, replicas: string[], down: string[] = [], writable?: boolean): TableLayout {
	const live = replicas.filter(s => !down.includes(s));
	return {
		id: `id-${name}`,
		db: 'app',
		table: name,
		shards: [{primary: replicas[0]!, replicas, nonvoting: []}],
		live: [live],
		writable: writable ?? live.length > replicas.length / 2,
	};
}
const unreadable = (name: string): TableLayout => ({
	id: `id-${name}`,
	db: 'app',
	table: name,
	shards: [],
	live: [],
	writable: false,
});

function node(name: string, index: number, state: NodeRecord['state'] = 'running'): NodeRecord {
	return {
		name,
		index,
		role: index === 0 ? 'manager' : 'worker',
		state,
		hostKey: {publicKey: 'k', fingerprint: 'f'},
	};
}
function journalOf(nodes: NodeRecord[], extra: Partial<Journal> = {}): Journal {
	return {...newJournal('demo', 'local', 'owner', new Date('2025-01-01T10:00:00Z')), nodes, ...extra};
}
const four = () => [node('queenbee', 0), node('workerbee-1', 1), node('workerbee-2', 2), node('workerbee-3', 3)];

describe('tables on servers that leave', () => {
	it('finds replicas, non-voting replicas and primaries on a leaving server, and a table that cannot be described but was last seen there', () => {
		const nonvoting: TableLayout = {
			...table('audit', ['queenbee']),
			shards: [{primary: 'queenbee', replicas: ['queenbee'], nonvoting: ['workerbee_2']}],
		};
		const found = tablesOn(
			[
				table('orders', ['queenbee', 'workerbee_1']),
				table('late', ['workerbee_2']),
				nonvoting,
				unreadable('gone'),
				unreadable('elsewhere'),
				unreadable('unknown'),
			],
			['workerbee_2', 'workerbee_3'],
			{
				'app.gone': {rows: 10, servers: ['workerbee_3'], seenAt: 't'},
				'app.elsewhere': {rows: 10, servers: ['workerbee_1'], seenAt: 't'},
			},
		);
		expect(found.map(f => [f.table.table, f.servers])).toEqual([
			['late', ['workerbee_2']],
			['audit', ['workerbee_2']],
			['gone', ['workerbee_3']],
			// Never seen: it may be on either, nobody can say.
			['unknown', ['workerbee_2', 'workerbee_3']],
		]);
		expect(serversOf(nonvoting)).toEqual(['queenbee', 'workerbee_2']);
	});

	it('remembers each table with its servers and rows, keeps the last record of one that cannot be described, forgets dropped ones', () => {
		const journal = new JournalHandle(
			'/nonexistent/journal.json',
			journalOf(four(), {
				tables: {
					'app.gone': {rows: 103, servers: ['workerbee_2'], seenAt: 'then'},
					'app.dropped': {rows: 5, servers: ['queenbee'], seenAt: 'then'},
				},
			}),
			false,
		);
		rememberTables(
			journal,
			[table('orders', ['queenbee', 'workerbee_1']), unreadable('gone'), table('busy', ['queenbee'])],
			new Map([['app.orders', 5_000]]),
		);
		const tables = journal.value.tables!;
		expect(Object.keys(tables).sort()).toEqual(['app.busy', 'app.gone', 'app.orders']);
		expect(tables['app.orders']).toMatchObject({rows: 5_000, servers: ['queenbee', 'workerbee_1']});
		expect(tables['app.gone']).toEqual({rows: 103, servers: ['workerbee_2'], seenAt: 'then'});
		// Not counted this time (and never before): 0, with its servers.
		expect(tables['app.busy']).toMatchObject({rows: 0, servers: ['queenbee']});
	});
});

describe('what is said of a table that cannot take writes', () => {
	const expected = ['queenbee', 'workerbee_1', 'workerbee_2'];
	const connected = new Set(expected);

	it('lost: no server that held it is left, with what it held when last seen; no repair offered', () => {
		const broken = classifyBroken([unreadable('late')], {
			connected,
			expected,
			remembered: {'app.late': {rows: 103, servers: ['workerbee_3'], seenAt: '2025-01-01T10:00:00Z'}},
		});
		expect(broken.map(b => b.kind)).toEqual(['lost']);
		expect(describeBroken(broken[0]!)).toBe(
			"app.late (103 rows when last seen, 2025-01-01T10:00:00Z): lost: no server that held it is left (it was on workerbee_3); RethinkDB's emergency repair cannot bring back a table with no surviving replica",
		);
	});

	it('away, not lost, when the servers it was on are the cluster own and merely not connected', () => {
		const broken = classifyBroken([unreadable('late'), table('solo', ['workerbee_2'], ['workerbee_2'])], {
			connected: new Set(['queenbee', 'workerbee_1']),
			expected,
			remembered: {'app.late': {rows: 103, servers: ['workerbee_2'], seenAt: 't'}},
		});
		expect(broken.map(b => [b.kind, b.kind === 'away' ? b.servers : []])).toEqual([
			['away', ['workerbee_2']],
			['away', ['workerbee_2']],
		]);
		expect(describeBroken(broken[1]!)).toBe('app.solo: its replicas are on workerbee_2, not connected now');
		// Never seen by swarmbee: it may be on the server that is not connected, so it is not said to be lost.
		const unseen = classifyBroken([unreadable('new')], {connected: new Set(['queenbee', 'workerbee_1']), expected});
		expect(unseen.map(b => [b.kind, b.kind === 'away' ? b.servers : []])).toEqual([['away', ['workerbee_2']]]);
		expect(classifyBroken([unreadable('new')], {connected, expected}).map(b => b.kind)).toEqual(['lost']);
	});

	it('a lost majority names the servers that are gone, never an empty list; a table whose replicas all answer is only not ready', () => {
		// A replica of the same name connected now is a new server (a node replaced): the table itself says it is disconnected.
		const broken = classifyBroken(
			[
				table('orders', ['queenbee', 'workerbee_1', 'workerbee_4'], ['workerbee_1', 'workerbee_4']),
				table('fresh', ['queenbee', 'workerbee_1', 'workerbee_2'], [], false),
				table('fine', ['queenbee', 'workerbee_1']),
			],
			{connected, expected},
		);
		expect(broken.map(b => b.kind)).toEqual(['lost-majority', 'not-ready']);
		const majority = broken[0]!;
		expect(majority.kind === 'lost-majority' && majority.gone).toEqual(['workerbee_1', 'workerbee_4']);
		expect(describeBroken(majority, ['queenbee'])).toBe(
			'app.orders: the majority of its replicas is gone (workerbee_1, workerbee_4); RethinkDB can roll it back to what queenbee holds (unsafe_rollback, dry run): writes that only the lost servers had acknowledged are lost',
		);
		expect(describeBroken(broken[1]!)).toBe('app.fresh: every replica answers, but it is not ready for writes yet');
	});

	it('a table some of whose shards have no replica left: only unsafe_rollback_or_erase, which empties them', () => {
		const layout: TableLayout = {
			id: 'id-wide',
			db: 'app',
			table: 'wide',
			shards: [
				{primary: 'queenbee', replicas: ['queenbee'], nonvoting: []},
				{primary: 'workerbee_9', replicas: ['workerbee_9'], nonvoting: []},
			],
			live: [['queenbee'], []],
			writable: false,
		};
		const broken = classifyBroken([layout], {connected, expected});
		expect(broken.map(b => b.kind)).toEqual(['lost-shards']);
		expect(describeBroken(broken[0]!)).toBe(
			'app.wide: shard 2 has no surviving replica (gone: workerbee_9); unsafe_rollback_or_erase keeps what queenbee holds and empties that shard',
		);
	});
});

describe('an interrupted scale', () => {
	const interrupted = () =>
		journalOf(
			[
				node('queenbee', 0),
				node('workerbee-1', 1),
				node('workerbee-2', 2, 'deleting'),
				node('workerbee-3', 3, 'deleting'),
			],
			{
				change: {
					kind: 'scale',
					workers: 1,
					from: 3,
					leaving: ['workerbee-2', 'workerbee-3'],
					command: 'swarmbee scale demo --workers 1',
					startedAt: '2025-01-01T10:00:00.000Z',
				},
			},
		);

	it('is recorded with the nodes that leave before anything changes', () => {
		expect(
			scaleChange(journalOf(four()), 1, 'swarmbee scale demo --workers 1', new Date('2025-01-01T10:00:00Z')),
		).toEqual({
			kind: 'scale',
			workers: 1,
			from: 3,
			leaving: ['workerbee-2', 'workerbee-3'],
			command: 'swarmbee scale demo --workers 1',
			startedAt: '2025-01-01T10:00:00.000Z',
		});
	});

	it('is said to be interrupted when no swarmbee holds the cluster, in progress while one does', () => {
		expect(changeStatus(interrupted(), undefined)).toMatchObject({
			interrupted: true,
			says: 'scale to 1 worker interrupted, removing workerbee-2, workerbee-3 (swarmbee up demo continues it)',
		});
		expect(changeStatus(interrupted(), 'scale demo')!.says).toBe(
			'scale to 1 worker in progress, removing workerbee-2, workerbee-3 (swarmbee scale demo)',
		);
		expect(changeStatus(journalOf(four()), undefined)).toBeUndefined();
	});

	it('is found in a journal written before changes were recorded, from the nodes marked deleting', () => {
		const {change: _, ...old} = interrupted();
		expect(pendingChange(old)).toMatchObject({workers: 1, from: 3, leaving: ['workerbee-2', 'workerbee-3']});
	});

	it('up resumes it without --workers or with the same count, and says plainly when another count drops it', () => {
		expect(decideChange(interrupted(), undefined)).toMatchObject({
			resume: true,
			workers: 1,
			shrinking: true,
			says: 'resuming the interrupted scale to 1 worker (swarmbee scale demo --workers 1, begun 2025-01-01T10:00:00.000Z): workerbee-2, workerbee-3 still to leave once their tables moved',
		});
		expect(decideChange(interrupted(), 1)).toMatchObject({resume: true});
		expect(decideChange(interrupted(), 3)).toEqual({
			resume: false,
			change: interrupted().change,
			says: 'the interrupted scale to 1 worker (swarmbee scale demo --workers 1, begun 2025-01-01T10:00:00.000Z) is not resumed: --workers 3 asks for 3 workers',
		});
		// Removed already: what is left of it is up's own steps.
		const removed = interrupted();
		removed.nodes = removed.nodes.slice(0, 2);
		expect(decideChange(removed, undefined)).toMatchObject({resume: true, shrinking: false});
	});

	it('a scale that keeps some of the nodes being removed repairs them first; one that only shrinks or grows does not', () => {
		expect(scalePlan(interrupted(), 2)).toEqual({steps: 'repair-and-shrink', leaving: ['workerbee-3']});
		expect(scalePlan(interrupted(), 3)).toEqual({steps: 'grow', leaving: []});
		expect(scalePlan(journalOf(four()), 1)).toEqual({steps: 'shrink', leaving: ['workerbee-2', 'workerbee-3']});
	});
});

describe('words while the cluster changes', () => {
	it('a move that waits for a server that is not connected names its node, the bound and the way out', () => {
		expect(
			describeProgress(
				{
					table: table('orders', ['queenbee', 'workerbee_1']),
					stage: 'settle',
					copies: [],
					documents: 5_000,
					waiting: {servers: ['workerbee_1'], leftMs: 9 * 60_000 + 1},
				},
				'moving replicas off workerbee_3',
				{nodeOf: server => server.replace('_', '-'), resume: 'swarmbee up demo'},
			),
		).toBe(
			"app.orders: moving replicas off workerbee_3: workerbee-1's server is not connected; waiting for it (10 min more at most), or Ctrl-C and `swarmbee up demo`",
		);
	});

	it('a node that does not answer is named before RethinkDB calls its server disconnected, with the one that is', () => {
		expect(
			describeProgress(
				{
					table: table('orders', ['queenbee', 'workerbee_1', 'workerbee_2']),
					stage: 'grow',
					copies: [],
					documents: 5_000,
					waiting: {servers: ['workerbee_2'], silent: ['workerbee_1'], leftMs: 60_000},
				},
				'moving replicas off workerbee_3',
				{nodeOf: server => server.replace('_', '-'), resume: 'swarmbee up demo'},
			),
		).toBe(
			"app.orders: moving replicas off workerbee_3: workerbee-2's server is not connected; workerbee-1 does not answer; waiting for them (1 min more at most), or Ctrl-C and `swarmbee up demo`",
		);
	});

	it('counts the servers connected against those expected: a leaving server still connected is named, not counted ("6 of 4")', () => {
		expect(
			describeHealth({
				connected: 2,
				expected: 2,
				missing: [],
				extra: ['workerbee_2', 'workerbee_3'],
				issues: [],
				tables: [],
			}),
		).toBe('2 of 2 servers connected; also connected: workerbee_2, workerbee_3');
	});
});
