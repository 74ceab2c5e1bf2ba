import {setTimeout as sleep} from 'node:timers/promises';
import r from 'rethinkdb';

/**
 * An application writing while the cluster changes under it: the proof that
 * no acknowledged write is lost (MSR/DTR's managed RethinkDB and Jepsen's
 * RethinkDB analyses check the same thing).
 *
 * One loop per table inserts documents with sequential ids, one at a time,
 * `durability: 'hard'` with the table's default write acknowledgements (a
 * majority of its voting replicas). An insert counts as acknowledged only
 * when the server answered `inserted: 1`; any error (a connection cut, a
 * table not available, a timeout) is recorded with its time, and that id is
 * never counted: its outcome is unknown. The next write uses the next id, on
 * a new connection when the old one broke.
 *
 * Afterwards `verify()` reads every acknowledged id back, on a fresh
 * connection, with `read_mode: 'majority'`, and says which are missing.
 *
 *     const writer = startWriter({connect: () => connectThrough(tunnel, password), db: 'app', tables: ['a', 'b']});
 *     await cli(['scale', name, '--workers', '1', '--yes', '--plain'], home);
 *     const report = await writer.stop();
 *     expect((await verifyWrites(connect, report)).lost).toEqual([]);
 */

export interface WriteError {
	table: string;
	/** Milliseconds since the writer started. */
	at: number;
	message: string;
}

export interface TableWrites {
	table: string;
	/** Every acknowledged id, in order. */
	acked: number[];
	/** Writes that failed or whose outcome is unknown (never counted as acknowledged). */
	failed: number;
	/**
	 * The longest time in which this table took no write: from the last
	 * acknowledgement (or the table's start) to the next one (or the stop).
	 * Includes ordinary latency; a write outage shows as a long gap.
	 */
	longestGapMs: number;
	/** When the longest gap began, ms since the writer started. */
	longestGapAt: number;
}

export interface WriterReport {
	db: string;
	durationMs: number;
	tables: TableWrites[];
	errors: WriteError[];
	/** Samples of `table_status` (one a second when `sampleStatus`): when each table was not ready for writes. */
	unavailable: Array<{table: string; at: number}>;
}

export interface WriterOptions {
	/** Opens a new driver connection (through the tunnel, normally). */
	connect: () => Promise<r.Connection>;
	db: string;
	/** Tables that exist already; more can be added while it runs (`addTable`). */
	tables: string[];
	/** Pause between writes of one table (default none: as fast as acknowledgements come). */
	pauseMs?: number;
	/** Sample every table's `ready_for_writes` once a second. */
	sampleStatus?: boolean;
	/** Bytes of padding per document (default 64). */
	padding?: number;
}

export interface LiveWriter {
	/** Acknowledged writes so far, all tables. */
	readonly acked: number;
	/** Acknowledged writes so far to one table. */
	ackedTo(table: string): number;
	/**
	 * Creates a table as an application does (RethinkDB's defaults: one
	 * replica, placed where RethinkDB likes) and starts writing into it.
	 * Resolves once the table was created and the first write acknowledged.
	 */
	addTable(table: string): Promise<void>;
	/** Waits until every table has at least `count` more acknowledged writes than now. */
	advance(count: number, timeoutMs?: number): Promise<void>;
	stop(): Promise<WriterReport>;
}

interface Loop {
	writes: TableWrites;
	lastAckAt: number;
	done: Promise<void>;
}

export function startWriter(options: WriterOptions): LiveWriter {
	const started = Date.now();
	const since = () => Date.now() - started;
	const errors: WriteError[] = [];
	const unavailable: WriterReport['unavailable'] = [];
	const loops = new Map<string, Loop>();
	const pad = 'x'.repeat(options.padding ?? 64);
	// Ids of this writer's run: above any an earlier writer used in the same table.
	const idBase = started * 1_000;
	let stopping = false;

	const fail = (table: string, error: unknown) => {
		errors.push({table, at: since(), message: (error as Error).message?.split('\n')[0] ?? String(error)});
	};

	/** One connection per loop, replaced when it breaks. */
	async function writeLoop(loop: Loop): Promise<void> {
		const {table} = loop.writes;
		let connection: r.Connection | undefined;
		let next = idBase + 1;
		while (!stopping) {
			try {
				connection ??= await options.connect();
				const id = next++;
				const result = (await r
					.db(options.db)
					.table(table)
					.insert({id, table, at: since(), pad}, {durability: 'hard'})
					.run(connection)) as unknown as {inserted: number; errors: number; first_error?: string};
				if (result.inserted === 1 && result.errors === 0) {
					const now = since();
					const gap = now - loop.lastAckAt;
					if (gap > loop.writes.longestGapMs) {
						loop.writes.longestGapMs = gap;
						loop.writes.longestGapAt = loop.lastAckAt;
					}
					loop.lastAckAt = now;
					loop.writes.acked.push(id);
				} else {
					loop.writes.failed++;
					fail(table, new Error(result.first_error ?? `inserted ${result.inserted}, errors ${result.errors}`));
				}
			} catch (error) {
				loop.writes.failed++;
				fail(table, error);
				await connection?.close({noreplyWait: false}).catch(() => {});
				connection = undefined;
				await sleep(200);
			}
			if (options.pauseMs) await sleep(options.pauseMs);
		}
		await connection?.close({noreplyWait: false}).catch(() => {});
	}

	function begin(table: string, from: number): Loop {
		const loop: Loop = {
			writes: {table, acked: [], failed: 0, longestGapMs: 0, longestGapAt: from},
			lastAckAt: from,
			done: Promise.resolve(),
		};
		loops.set(table, loop);
		loop.done = writeLoop(loop);
		return loop;
	}

	for (const table of options.tables) begin(table, 0);

	const sampler = options.sampleStatus
		? (async () => {
				let connection: r.Connection | undefined;
				while (!stopping) {
					try {
						connection ??= await options.connect();
						const rows = (await (
							await r
								.db('rethinkdb')
								.table('table_status')
								.filter({db: options.db})
								.pluck('name', 'status')
								.run(connection)
						).toArray()) as Array<{name: string; status: {ready_for_writes: boolean}}>;
						const at = since();
						for (const table of loops.keys()) {
							const row = rows.find(x => x.name === table);
							if (!row?.status.ready_for_writes) unavailable.push({table, at});
						}
					} catch {
						// Not knowing is not unavailability: the writes' own errors say that.
						await connection?.close({noreplyWait: false}).catch(() => {});
						connection = undefined;
					}
					await sleep(1_000);
				}
				await connection?.close({noreplyWait: false}).catch(() => {});
			})()
		: Promise.resolve();

	const total = () => [...loops.values()].reduce((sum, loop) => sum + loop.writes.acked.length, 0);

	return {
		get acked() {
			return total();
		},
		ackedTo(table) {
			return loops.get(table)?.writes.acked.length ?? 0;
		},
		async addTable(table) {
			// As an application would: tried again until the cluster takes it (a retry may find it made).
			const deadline = Date.now() + 60_000;
			for (let attempt = 0; ; attempt++) {
				try {
					const connection = await options.connect();
					try {
						await r.db(options.db).tableCreate(table).run(connection);
					} finally {
						await connection.close({noreplyWait: false}).catch(() => {});
					}
					break;
				} catch (error) {
					if (attempt > 0 && /already exists/.test((error as Error).message)) break;
					if (Date.now() > deadline) throw error;
					fail(table, error);
					await sleep(500);
				}
			}
			begin(table, since());
			await this.advance(1, 120_000);
		},
		async advance(count, timeoutMs = 120_000) {
			const targets = new Map([...loops.entries()].map(([t, loop]) => [t, loop.writes.acked.length + count]));
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const behind = [...targets].filter(([t, want]) => (loops.get(t)?.writes.acked.length ?? 0) < want);
				if (behind.length === 0) return;
				if (Date.now() > deadline) {
					throw new Error(
						`the writer did not advance ${count} writes within ${timeoutMs} ms on ${behind.map(([t]) => t).join(', ')}; last errors: ${JSON.stringify(errors.slice(-5))}`,
					);
				}
				await sleep(100);
			}
		},
		async stop() {
			// The last gap ends when the writer is told to stop, not when its loops and sampler have wound down.
			const end = since();
			stopping = true;
			await Promise.all([...[...loops.values()].map(l => l.done), sampler]);
			for (const loop of loops.values()) {
				const gap = Math.max(0, end - loop.lastAckAt);
				if (gap > loop.writes.longestGapMs) {
					loop.writes.longestGapMs = gap;
					loop.writes.longestGapAt = loop.lastAckAt;
				}
			}
			return {
				db: options.db,
				durationMs: end,
				tables: [...loops.values()].map(l => l.writes),
				errors,
				unavailable,
			};
		},
	};
}

export interface Verification {
	/** Acknowledged writes, all tables. */
	acked: number;
	/** Acknowledged writes read back. */
	found: number;
	/** Acknowledged ids not found, as `table:id`. */
	lost: string[];
}

/**
 * Reads every acknowledged id back with `read_mode: 'majority'` (what a
 * majority of each shard's replicas agree on), in batches, on a fresh
 * connection.
 */
export async function verifyWrites(connect: () => Promise<r.Connection>, report: WriterReport): Promise<Verification> {
	const connection = await connect();
	const lost: string[] = [];
	let acked = 0;
	let found = 0;
	try {
		for (const {table, acked: ids} of report.tables) {
			acked += ids.length;
			for (let i = 0; i < ids.length; i += 5_000) {
				const batch = ids.slice(i, i + 5_000);
				const present = (await (
					await (r.db(report.db) as unknown as {table(name: string, options: object): r.Table})
						.table(table, {readMode: 'majority'})
						.getAll(...(batch as unknown as [string]))
						.pluck('id')
						.run(connection)
				).toArray()) as Array<{id: number}>;
				const seen = new Set(present.map(p => p.id));
				found += seen.size;
				for (const id of batch) if (!seen.has(id)) lost.push(`${table}:${id}`);
			}
		}
	} finally {
		await connection.close({noreplyWait: false}).catch(() => {});
	}
	return {acked, found, lost};
}

/**
 *     app.events: 1,204 acknowledged, 3 failed, longest gap 4.1 s at 12.3 s
 */
export function describeWrites(report: WriterReport): string {
	const n = (x: number) => x.toLocaleString('en-US');
	return report.tables
		.map(
			t =>
				`${report.db}.${t.table}: ${n(t.acked.length)} acknowledged, ${n(t.failed)} failed, longest gap ${(t.longestGapMs / 1000).toFixed(1)} s at ${(t.longestGapAt / 1000).toFixed(1)} s`,
		)
		.concat(describeErrors(report.errors))
		.join('\n');
}

/** Each distinct failure the writer met, with when it was first and last seen and how often. */
function describeErrors(errors: readonly WriteError[]): string[] {
	const seen = new Map<string, {first: number; last: number; count: number}>();
	for (const error of errors) {
		const key = error.message.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, 'UUID').slice(0, 160);
		const entry = seen.get(key) ?? {first: error.at, last: error.at, count: 0};
		entry.last = error.at;
		entry.count++;
		seen.set(key, entry);
	}
	return [...seen].map(
		([message, e]) =>
			`  failed ${e.count}x from ${(e.first / 1000).toFixed(1)} s to ${(e.last / 1000).toFixed(1)} s: ${message}`,
	);
}
