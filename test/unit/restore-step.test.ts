import {beforeEach, describe, expect, it, vi} from 'vitest';
import type {RestoredTable} from '../../source/backup/restore.js';
import type {ClusterSpec} from '../../source/spec.js';
import type {Journal} from '../../source/store/journal.js';
import {replicationStep, type RestoreContext} from '../../steps/restore.js';
import {recordedIO} from './recorder.js';

// The database is scripted (test/e2e/backup.test.ts restores into a real one): what is seen here
// is which tables the step waits for after the replication policy, and that it waits for them together.
const db = vi.hoisted(() => ({
	placed: new Set<string>(),
	waits: [] as string[],
	release: [] as Array<() => void>,
}));
vi.mock('../../source/backup/replication-policy.js', () => ({
	applyReplicationPolicy: vi.fn(async () => ({applied: db.placed.size > 0, placed: db.placed, summary: 'placed'})),
}));
vi.mock('../../source/backup/reql.js', async original => ({
	...(await original<typeof import('../../source/backup/reql.js')>()),
	run: vi.fn((_link: unknown, term: {toString(): string}) => {
		db.waits.push(String(term));
		return new Promise<void>(resolve => db.release.push(resolve));
	}),
}));

beforeEach(() => {
	db.placed = new Set();
	db.waits = [];
	db.release = [];
});

const restored = (table: string): RestoredTable => ({
	db: 'app',
	table,
	documents: 1,
	indexes: 0,
	created: true,
	replication: {kind: 'default'},
});

function context(tables: string[]): RestoreContext {
	return {
		spec: {replicas: 3} as ClusterSpec,
		journal: {nodes: [{name: 'queenbee', index: 0, role: 'manager', state: 'running'}]} as unknown as Journal,
		ssh: {} as RestoreContext['ssh'],
		password: 'pw',
		file: 'backup.tar.gz',
		force: false,
		link: {connection: {}} as RestoreContext['link'],
		restored: tables.map(restored),
	};
}

describe('replication step', () => {
	it('waits only for the restored tables the policy did not place (applyPlan waited for those), all at once', async () => {
		db.placed = new Set(['app.orders']);
		const {io, events} = recordedIO();
		const done = replicationStep.run(context(['events', 'orders', 'users']), io);
		// Both waits are asked before either answers.
		await vi.waitFor(() => expect(db.waits).toHaveLength(2));
		expect(db.waits.map(w => /table\("(\w+)"\)/.exec(w)?.[1])).toEqual(['events', 'users']);
		expect(db.waits.every(w => w.includes('all_replicas_ready'))).toBe(true);
		for (const release of db.release) release();
		expect(await done).toEqual({changed: true, summary: 'placed; 3 tables ready on all replicas'});
		expect(events.flatMap(e => (e.type === 'step-progress' ? [e.message] : []))).toEqual([
			'waiting for app.events to be ready on all its replicas',
			'waiting for app.users to be ready on all its replicas',
		]);
	});
});
