import {describe, expect, it} from 'vitest';
import type {TableLayout} from '../../source/database/placement.js';
import {
	primariesOff,
	refusalsForServer,
	restorePrimaries,
	rollServers,
	type RollingDatabase,
	type RollingInput,
	type TableReadiness,
} from '../../source/database/rolling.js';
import {CancelledError, ExternalError, InputError} from '../../source/errors.js';

/**
 * The rolling primitive against a scripted RethinkDB: the same answers the
 * system tables give (server_status, table_config, table_status), worked out
 * from which servers are up. It records every write and every moment a
 * table could not have taken writes, so a test can say "no table was ever
 * unavailable" and mean it: the fake would have seen it.
 */
class ScriptedDatabase implements RollingDatabase {
	readonly log: string[] = [];
	/** `db.table` each time a server went down while it could not take writes without it. */
	readonly unavailable: string[] = [];
	readonly down = new Set<string>();
	/** Servers still backfilling after they came back: not ready for this many more reads. */
	readonly catchingUp = new Map<string, number>();
	readonly ids = new Map<string, string>();
	/** How many reads a new primary takes to show in table_status. */
	handoffReads = 1;
	private readonly pendingPrimary = new Map<string, number>();
	via = 'queenbee';

	constructor(public tables: TableLayout[]) {
		for (const server of SERVERS) this.ids.set(server, `id-${server}`);
	}

	async layouts(): Promise<TableLayout[]> {
		return this.tables.map(t => ({
			...t,
			live: t.shards.map(s => s.replicas.filter(r => !this.down.has(r))),
			writable: this.writable(t),
		}));
	}

	async servers(): Promise<Map<string, string>> {
		return new Map([...this.ids].filter(([server]) => !this.down.has(server)));
	}

	async readiness(): Promise<TableReadiness[]> {
		for (const [server, left] of this.catchingUp) {
			if (left <= 1) this.catchingUp.delete(server);
			else this.catchingUp.set(server, left - 1);
		}
		for (const [id, left] of this.pendingPrimary) {
			if (left <= 1) this.pendingPrimary.delete(id);
			else this.pendingPrimary.set(id, left - 1);
		}
		return this.tables.map(t => ({
			id: t.id,
			db: t.db,
			table: t.table,
			writable: this.writable(t),
			ready: t.shards.every(s => s.replicas.every(r => !this.down.has(r) && !this.catchingUp.has(r))),
			behind: [...new Set(t.shards.flatMap(s => s.replicas.filter(r => !this.down.has(r) && this.catchingUp.has(r))))],
			away: [...new Set(t.shards.flatMap(s => s.replicas.filter(r => this.down.has(r))))],
			primaries: t.shards.map(s =>
				this.pendingPrimary.has(t.id) || s.primary === null || this.down.has(s.primary) ? [] : [s.primary],
			),
		}));
	}

	async setPrimaries(table: TableLayout, primaries: string[]): Promise<void> {
		this.log.push(`primaries ${table.db}.${table.table} → ${primaries.join(',')}`);
		this.tables = this.tables.map(t =>
			t.id === table.id ? {...t, shards: t.shards.map((s, i) => ({...s, primary: primaries[i]!}))} : t,
		);
		this.pendingPrimary.set(table.id, this.handoffReads);
	}

	/** Critical issues RethinkDB reports besides tables not writable, each for this many more reads. */
	readonly issues = new Map<string, number>();

	async criticalIssues(): Promise<string[]> {
		const out = this.tables.filter(t => !this.writable(t)).map(t => `Table ${t.db}.${t.table} is not available`);
		for (const [issue, left] of this.issues) {
			out.push(issue);
			if (left <= 1) this.issues.delete(issue);
			else this.issues.set(issue, left - 1);
		}
		return out;
	}

	/** A server goes away: every table that cannot take writes without it is recorded. */
	stop(server: string): void {
		this.log.push(`stop ${server}`);
		this.down.add(server);
		for (const t of this.tables) {
			const primaryGone = t.shards.some(s => s.primary === server);
			if (!this.writable(t) || primaryGone) this.unavailable.push(`${t.db}.${t.table}`);
		}
	}

	start(server: string, options: {newId?: string; catchUpReads?: number} = {}): void {
		this.log.push(`start ${server}`);
		this.down.delete(server);
		if (options.newId) this.ids.set(server, options.newId);
		this.catchingUp.set(server, options.catchUpReads ?? 2);
	}

	private writable(t: TableLayout): boolean {
		return t.shards.every(s => {
			const votes = s.replicas.filter(r => !s.nonvoting.includes(r));
			return votes.filter(r => !this.down.has(r)).length * 2 > votes.length;
		});
	}
}

function table(name: string, replicas: string[], primary = replicas[0]!): TableLayout {
	return {
		id: `id-${name}`,
		db: 'app',
		table: name,
		shards: [{primary, replicas, nonvoting: []}],
		live: [replicas],
		writable: true,
	};
}

const NODES = ['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3'];
const SERVERS = NODES.map(n => n.replace('-', '_'));

function roll(db: ScriptedDatabase, input: Partial<RollingInput> = {}) {
	const said: string[] = [];
	const stages: string[] = [];
	const controller = new AbortController();
	const options: RollingInput = {
		database: async () => db,
		nodes: NODES,
		cluster: 'demo',
		replicas: 3,
		verb: 'restarts',
		change: async node => {
			const server = node.replace('-', '_');
			db.stop(server);
			db.start(server);
		},
		signal: controller.signal,
		say: line => said.push(line),
		onStage: (node, stage) => stages.push(`${node} ${stage}`),
		intervalMs: 1,
		...input,
	};
	return {run: () => rollServers(options), said, stages, controller};
}

describe('refusalsForServer', () => {
	const connected = new Set(SERVERS);
	const policy = {cluster: 'demo', replicas: 3, verb: 'restarts'};

	it('refuses a table whose only replica is on the server, pointing at the replication policy', () => {
		const refusals = refusalsForServer([table('solo', ['workerbee_2'])], 'workerbee_2', connected, policy);
		expect(refusals).toEqual([
			{
				table: 'app.solo',
				server: 'workerbee_2',
				why: 'app.solo has its only replica on workerbee_2: it would be unavailable while workerbee_2 restarts',
				fix: 'place app.solo by the replication policy first (3 replicas): swarmbee up demo',
			},
		]);
		expect(
			refusalsForServer([table('solo', ['workerbee_2'])], 'workerbee_2', connected, {...policy, replicas: 1})[0]!.fix,
		).toBe(
			'give every table 3 replicas first: swarmbee up demo --replicas 3 (the tables step copies them, no downtime)',
		);
	});

	it('refuses when the majority would be lost because another replica is away already, naming it', () => {
		const tables = [table('orders', ['queenbee', 'workerbee_1', 'workerbee_2'])];
		const without = new Set(SERVERS.filter(s => s !== 'workerbee_1'));
		const [refusal] = refusalsForServer(tables, 'workerbee_2', without, policy);
		expect(refusal?.why).toBe(
			'app.orders would keep 1 of its 3 voting replicas while workerbee_2 restarts (workerbee_1 does not answer now): not a majority, so it would stop taking writes',
		);
		expect(refusal?.fix).toBe('bring workerbee_1 back first: swarmbee up demo (or swarmbee node demo start NODE)');
		// Two of three is a majority: nothing to refuse when all answer, nor for a server holding no replica.
		expect(refusalsForServer(tables, 'workerbee_2', connected, policy)).toEqual([]);
		expect(refusalsForServer(tables, 'workerbee_3', without, policy)).toEqual([]);
	});

	it('two replicas cannot lose one; a server already away changes nothing (start brings it back)', () => {
		const pair = [table('pair', ['queenbee', 'workerbee_1'])];
		expect(refusalsForServer(pair, 'workerbee_1', connected, policy)[0]?.fix).toBe(
			'give it more replicas first: swarmbee up demo --replicas 3',
		);
		const away = new Set(SERVERS.filter(s => s !== 'workerbee_1'));
		expect(refusalsForServer([table('solo', ['workerbee_1'])], 'workerbee_1', away, policy)).toEqual([]);
	});

	it('counts only voting replicas: a non-voting one going away is no loss, a vote among two non-voting ones is', () => {
		const t: TableLayout = {
			...table('mixed', ['queenbee', 'workerbee_1', 'workerbee_2']),
			shards: [
				{
					primary: 'queenbee',
					replicas: ['queenbee', 'workerbee_1', 'workerbee_2'],
					nonvoting: ['workerbee_1', 'workerbee_2'],
				},
			],
		};
		expect(refusalsForServer([t], 'workerbee_1', connected, policy)).toEqual([]);
		expect(refusalsForServer([t], 'queenbee', connected, policy)[0]?.table).toBe('app.mixed');
	});
});

describe('primariesOff', () => {
	it('moves each shard the server leads to a voting replica that answers: a preferred one first, else the least loaded', () => {
		const tables = [
			table('a', ['workerbee_1', 'workerbee_2', 'workerbee_3']),
			table('b', ['workerbee_1', 'queenbee', 'workerbee_2']),
			table('c', ['queenbee', 'workerbee_1', 'workerbee_2']),
		];
		const connected = new Set(SERVERS);
		const moves = primariesOff(tables, 'workerbee_1', connected);
		// a: workerbee_2 and _3 lead nothing, _2 comes first; b: queenbee leads c, workerbee_2 now leads a.
		expect(moves.map(m => [m.table.table, m.primaries])).toEqual([
			['a', ['workerbee_2']],
			['b', ['queenbee']],
		]);
		expect(primariesOff(tables, 'workerbee_1', connected, ['workerbee_3'])[0]!.primaries).toEqual(['workerbee_3']);
		// A replica that does not answer is never chosen.
		const without = new Set(SERVERS.filter(s => s !== 'workerbee_2'));
		expect(primariesOff(tables, 'workerbee_1', without)[0]!.primaries).toEqual(['workerbee_3']);
	});
});

describe('rollServers', () => {
	it('one server at a time: primaries off first, the change, back with every table ready, then the next; no table ever unavailable', async () => {
		const db = new ScriptedDatabase([
			table('events', ['queenbee', 'workerbee_1', 'workerbee_2']),
			table('orders', ['workerbee_1', 'workerbee_2', 'workerbee_3']),
			table('users', ['workerbee_2', 'workerbee_3', 'queenbee']),
			table('audit', ['workerbee_3', 'queenbee', 'workerbee_1']),
		]);
		const done: string[] = [];
		const r = roll(db, {onDone: node => done.push(node)});
		// Each server's turn moves what it leads then: 1, 1, 2, 2 tables (a primary on a server whose turn is later moves again).
		expect(await r.run()).toEqual({changed: NODES, moved: 6});
		expect(db.unavailable).toEqual([]);
		expect(done).toEqual(NODES);
		// Every stop came after the primaries it led had moved, and each server was back before the next stopped.
		const stops = db.log.filter(line => line.startsWith('stop'));
		expect(stops).toEqual(SERVERS.map(s => `stop ${s}`));
		for (const [i, line] of db.log.entries()) {
			if (!line.startsWith('stop')) continue;
			const server = line.split(' ')[1]!;
			expect(db.log.indexOf(`start ${server}`)).toBe(i + 1);
		}
		expect(r.stages.slice(0, 4)).toEqual([
			'queenbee checked',
			'queenbee primaries-moved',
			'queenbee changing',
			'queenbee back',
		]);
		// The primaries end where they began.
		expect(db.tables.map(t => t.shards[0]!.primary)).toEqual(['queenbee', 'workerbee_1', 'workerbee_2', 'workerbee_3']);
		expect(r.said).toContain('queenbee: moving 1 primary off (app.events)');
		expect(r.said).toContain('queenbee: back, every table ready');
	});

	it('without moving primaries first, the same change would have made tables unavailable (the scripted database sees it)', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_2'])]);
		db.stop('queenbee');
		expect(db.unavailable).toEqual(['app.events']);
	});

	it('a primary moves once: to a server already done, or the one whose turn is last', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_3'])]);
		await roll(db).run();
		const moves = db.log.filter(line => line.startsWith('primaries'));
		// Off queenbee to workerbee_3 (last in the roll), off workerbee_3 to queenbee (done), then home: already there.
		expect(moves).toEqual(['primaries app.events → workerbee_3', 'primaries app.events → queenbee']);
		expect(db.unavailable).toEqual([]);
	});

	it('refuses before changing anything a roll that would leave a table with no replica, naming it and the fix', async () => {
		const db = new ScriptedDatabase([
			table('events', ['queenbee', 'workerbee_1', 'workerbee_2']),
			table('solo', ['workerbee_2']),
		]);
		let changes = 0;
		const r = roll(db, {
			change: async () => {
				changes++;
			},
		});
		const error = await r.run().catch((e: unknown) => e);
		expect(error).toBeInstanceOf(InputError);
		expect((error as InputError).message).toBe(
			'4 nodes cannot go down now without making app.solo unavailable: nothing was changed',
		);
		expect((error as InputError).hint).toContain('app.solo has its only replica on workerbee_2');
		expect((error as InputError).nextSteps).toEqual([
			'place app.solo by the replication policy first (3 replicas): swarmbee up demo',
		]);
		expect(changes).toBe(0);
		expect(db.log).toEqual([]);
	});

	it('with allowUnavailable (the user said so) the same roll warns, table by table, and goes on', async () => {
		const db = new ScriptedDatabase([
			table('events', ['queenbee', 'workerbee_1', 'workerbee_2']),
			table('solo', ['workerbee_2']),
		]);
		const warned: string[] = [];
		const r = roll(db, {
			nodes: ['workerbee-2'],
			allowUnavailable: true,
			warn: line => warned.push(line),
			change: async () => {
				db.stop('workerbee_2');
				db.start('workerbee_2');
			},
		});
		expect(await r.run()).toMatchObject({changed: ['workerbee-2']});
		expect(warned).toEqual([
			'app.solo has its only replica on workerbee_2: it would be unavailable while workerbee_2 restarts (going on: --allow-unavailable)',
		]);
		// The scripted database saw what the user accepted: app.solo could not take writes while it was away.
		expect(db.unavailable).toEqual(['app.solo']);
	});

	it('is not done while RethinkDB reports a critical issue: one that clears is waited for, one that stays fails the roll in its words', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_2'])]);
		db.issues.set('Server workerbee_1 had trouble', 3);
		const clears = roll(db, {nodes: ['workerbee-1']});
		expect(await clears.run()).toMatchObject({changed: ['workerbee-1']});
		expect(clears.said).toContain("waiting for RethinkDB's critical issues to clear: Server workerbee_1 had trouble");
		db.issues.set('Table app.events has a broken index', 1_000_000);
		const stays = roll(db, {nodes: ['workerbee-2'], issuesTimeoutMs: 50});
		const error = await stays.run().catch((e: unknown) => e);
		expect(error).toBeInstanceOf(ExternalError);
		expect((error as ExternalError).message).toBe(
			'RethinkDB reports a critical issue after the change: Table app.events has a broken index',
		);
	});

	it('checks each server again right before its turn: one gone meanwhile stops the roll there, the one done is not waited on for it', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_2'])]);
		const r = roll(db, {
			change: async node => {
				const server = node.replace('-', '_');
				db.stop(server);
				db.start(server);
				// While queenbee restarted, workerbee_2 went away on its own.
				if (node === 'queenbee') db.down.add('workerbee_2');
			},
		});
		const error = (await r.run().catch((e: unknown) => e)) as InputError;
		expect(error).toBeInstanceOf(InputError);
		expect(error.message).toBe(
			'workerbee-1 cannot go down now without making app.events unavailable: nothing was changed',
		);
		expect(error.nextSteps).toEqual([
			'bring workerbee_2 back first: swarmbee up demo (or swarmbee node demo start NODE)',
		]);
		expect(db.log.filter(line => line.startsWith('stop'))).toEqual(['stop queenbee']);
		expect(db.unavailable).toEqual([]);
	});

	it('a server that comes back with another id lost its data: the roll stops and says so', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_2'])]);
		const r = roll(db, {
			nodes: ['workerbee-1', 'workerbee-2'],
			change: async node => {
				const server = node.replace('-', '_');
				db.stop(server);
				db.start(server, {newId: 'id-new'});
			},
		});
		const error = await r.run().catch((e: unknown) => e);
		expect(error).toBeInstanceOf(ExternalError);
		expect((error as Error).message).toBe('workerbee_1 came back as another server (id id-new, was id-workerbee_1)');
		expect(db.log.filter(line => line.startsWith('stop'))).toEqual(['stop workerbee_1']);
	});

	it('Ctrl-C during a change: the server is waited for until back, then the roll stops before the next', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_2'])]);
		const done: string[] = [];
		let r: ReturnType<typeof roll>;
		r = roll(db, {
			onDone: node => done.push(node),
			change: async (node, signal) => {
				const server = node.replace('-', '_');
				db.stop(server);
				r.controller.abort();
				// The change finishes what it began even though the signal aborted.
				expect(signal.aborted).toBe(true);
				db.start(server, {catchUpReads: 3});
			},
		});
		const error = await r.run().catch((e: unknown) => e);
		expect(error).toBeInstanceOf(CancelledError);
		expect(done).toEqual(['queenbee']);
		expect(db.down.size).toBe(0);
		expect(db.catchingUp.size).toBe(0);
		expect(db.log.filter(line => line.startsWith('stop'))).toEqual(['stop queenbee']);
		expect(r.said.some(line => line.startsWith('Ctrl-C: waiting for queenbee to be back before stopping'))).toBe(true);
	});

	it('Ctrl-C that the change undoes (a drain given back): the server is waited for, but not counted done', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_2'])]);
		const done: string[] = [];
		let r: ReturnType<typeof roll>;
		r = roll(db, {
			onDone: node => done.push(node),
			change: async node => {
				const server = node.replace('-', '_');
				// Its tasks were stopped by the drain, then let back: the server bounces, nothing else changed.
				db.stop(server);
				r.controller.abort();
				db.start(server, {catchUpReads: 2});
				throw new CancelledError();
			},
		});
		const error = await r.run().catch((e: unknown) => e);
		expect(error).toBeInstanceOf(CancelledError);
		expect(done).toEqual([]);
		expect(db.down.size).toBe(0);
		expect(db.catchingUp.size).toBe(0);
	});

	it('a stop leaves the server down and waits only until every table takes writes without it', async () => {
		const db = new ScriptedDatabase([table('events', ['queenbee', 'workerbee_1', 'workerbee_2'])]);
		const r = roll(db, {
			nodes: ['workerbee-1'],
			verb: 'is stopped',
			comesBack: false,
			change: async () => db.stop('workerbee_1'),
		});
		expect(await r.run()).toEqual({changed: ['workerbee-1'], moved: 0});
		expect(db.down).toEqual(new Set(['workerbee_1']));
		expect(db.unavailable).toEqual([]);
	});

	it('restorePrimaries puts back only what is still as the roll left it, on a server that answers', async () => {
		const db = new ScriptedDatabase([
			table('a', ['queenbee', 'workerbee_1', 'workerbee_2'], 'workerbee_1'),
			table('b', ['queenbee', 'workerbee_1', 'workerbee_2'], 'workerbee_2'),
		]);
		db.down.add('workerbee_3');
		const said: string[] = [];
		const count = await restorePrimaries(
			db,
			[
				{tableId: 'id-a', table: 'app.a', shard: 0, from: 'queenbee', to: 'workerbee_1'},
				// Moved since by someone else: left alone.
				{tableId: 'id-b', table: 'app.b', shard: 0, from: 'queenbee', to: 'workerbee_1'},
			],
			{signal: new AbortController().signal, intervalMs: 1, say: line => said.push(line)},
		);
		expect(count).toBe(1);
		expect(db.log).toEqual(['primaries app.a → queenbee']);
		expect(said).toEqual(['putting 1 primary of 1 table back where it was']);
	});
});
