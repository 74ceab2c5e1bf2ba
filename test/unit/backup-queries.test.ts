import {beforeEach, describe, expect, it, vi} from 'vitest';
import type {DatabaseSession} from '../../source/database/rethinkdb.js';
import {readTableInfo} from '../../source/backup/dump.js';
import {readTarget} from '../../source/backup/restore.js';

// The queries' answers need a RethinkDB server (test/e2e/backup.test.ts): here each query is held
// until the test answers it, so what is seen is that they are all asked before the first answer.
const db = vi.hoisted(() => ({
	asked: [] as Array<{query: string; answer: (value: unknown) => void}>,
}));
vi.mock('../../source/backup/reql.js', async original => {
	const reql = await original<typeof import('../../source/backup/reql.js')>();
	const held = (_link: unknown, term: {toString(): string}) =>
		new Promise(resolve => db.asked.push({query: String(term), answer: resolve}));
	return {...reql, run: vi.fn(held), runArray: vi.fn(held)};
});

beforeEach(() => {
	db.asked = [];
});

const link = {connection: {}} as unknown as DatabaseSession;
const answer = (pick: (query: string) => unknown) => {
	for (const q of db.asked) q.answer(pick(q.query));
};

describe("the backup's reads of the cluster", () => {
	it("asks for a table's info, indexes, write hook and configuration at once", async () => {
		const read = readTableInfo(link, {db: 'app', table: 'orders'});
		await vi.waitFor(() => expect(db.asked).toHaveLength(4));
		answer(query =>
			query.endsWith('.info()')
				? {name: 'orders', primary_key: 'id'}
				: query.endsWith('.indexStatus()')
					? []
					: query.endsWith('.getWriteHook()')
						? null
						: {
								shards: [{primary_replica: 'queenbee', replicas: ['queenbee']}],
								write_acks: 'majority',
								durability: 'hard',
							},
		);
		expect(await read).toEqual({
			name: 'orders',
			primary_key: 'id',
			indexes: [],
			write_hook: null,
			shards: [{primary_replica: 'queenbee', replicas: ['queenbee']}],
			write_acks: 'majority',
			durability: 'hard',
		});
	});

	it("asks for the target's databases, tables and servers at once", async () => {
		const read = readTarget(link);
		await vi.waitFor(() => expect(db.asked).toHaveLength(3));
		answer(query =>
			query.includes('dbList')
				? ['rethinkdb', 'app']
				: query.includes('table_config')
					? [{db: 'app', name: 'orders', primary_key: 'id'}]
					: [{name: 'workerbee_1'}, {name: 'queenbee'}],
		);
		expect(await read).toEqual({
			databases: new Set(['app']),
			tables: new Map([['app.orders', 'id']]),
			servers: ['queenbee', 'workerbee_1'],
		});
	});
});
