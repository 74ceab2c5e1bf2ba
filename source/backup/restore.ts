import type {DatabaseSession} from '../database/rethinkdb.js';
import {CancelledError, ExternalError, InputError} from '../errors.js';
import {replayArchive, type ArchiveManifest, type ArchiveTable} from './archive-reader.js';
import {DEFAULT_ARRAY_LIMIT} from './json-array.js';
import {planReplication, tableKey, type ReplicationPlan, type TableRef} from './format.js';
import {binaryTerm, rql, run, runArray, type Term} from './reql.js';

/** What the target cluster already has, read before anything is written. */
export interface TargetFacts {
	databases: Set<string>;
	/** `db.table` → its primary key. */
	tables: Map<string, string>;
	/** Server names (`server_config`), for re-applying the archive's placement. */
	servers: string[];
}

export async function readTarget(link: DatabaseSession): Promise<TargetFacts> {
	// At once on the one connection, as readLayouts asks: one round trip, not three.
	const [databases, tables, servers] = await Promise.all([
		run<string[]>(link, rql.dbList()),
		runArray<{db: string; name: string; primary_key: string}>(
			link,
			rql.db('rethinkdb').table('table_config').pluck('db', 'name', 'primary_key'),
		),
		runArray<{name: string}>(link, rql.db('rethinkdb').table('server_config').pluck('name')),
	]);
	return {
		databases: new Set(databases.filter(db => db !== 'rethinkdb')),
		tables: new Map(tables.map(t => [tableKey({db: t.db, table: t.name}), t.primary_key])),
		servers: servers.map(s => s.name).sort(),
	};
}

/**
 * Refuses, before any write, what `rethinkdb restore` refuses: a table that
 * exists (unless --force: then rows with the same key are replaced), and,
 * even with --force, one whose primary key differs from the archive's.
 * Returns the tables that exist (those --force writes into).
 */
export function checkTarget(tables: readonly ArchiveTable[], target: TargetFacts, force: boolean): Set<string> {
	const existing = tables.filter(t => target.tables.has(tableKey(t)));
	const mismatched = existing.filter(t => target.tables.get(tableKey(t)) !== t.info.primary_key);
	if (mismatched.length > 0) {
		throw new InputError(
			`${mismatched.map(tableKey).join(', ')} ${mismatched.length === 1 ? 'exists' : 'exist'} with a different primary key than in the archive`,
			{
				hint: mismatched
					.map(
						t =>
							`${tableKey(t)}: ${target.tables.get(tableKey(t))} in the cluster, ${t.info.primary_key} in the archive`,
					)
					.join('\n'),
				nextSteps: [
					'drop or rename that table first, or leave it out with --tables',
					'nothing was written to the cluster',
				],
			},
		);
	}
	if (existing.length > 0 && !force) {
		throw new InputError(
			`${existing.length === 1 ? 'table' : 'tables'} ${existing.map(tableKey).join(', ')} already ${existing.length === 1 ? 'exists' : 'exist'} in the cluster`,
			{
				hint: 'a restore creates its tables; it writes into existing ones only when told to',
				nextSteps: [
					'pass --force to write into them (rows with the same primary key are replaced)',
					'or leave them out with --tables',
					'nothing was written to the cluster',
				],
			},
		);
	}
	return new Set(existing.map(tableKey));
}

export interface RestoreProgress {
	table: TableRef;
	state: 'running' | 'done';
	/** What the table is doing: creating, indexing, writing documents, … */
	detail: string;
	documents: number;
	bytes: number;
	totalDocuments: number;
	/** Bytes of the table's `.json` in the archive. */
	totalBytes: number;
}

export interface RestoredTable extends TableRef {
	documents: number;
	indexes: number;
	created: boolean;
	replication: ReplicationPlan;
}

export interface RestoreOptions {
	/** Tables that exist and --force writes into (`db.table`). */
	existing: Set<string>;
	force: boolean;
	target: TargetFacts;
	signal?: AbortSignal;
	onProgress?: (progress: RestoreProgress) => void;
	/** A table is restored (or failed, with the table and what it was doing). */
	onTableDone?: (table: RestoredTable) => void;
	/** Documents per insert (default 500) and bytes per insert (default 1 MiB), whichever comes first. */
	batchDocuments?: number;
	batchBytes?: number;
	/** Inserts in flight at once (default 4): the round trip over SSH is hidden behind the next batch. */
	inFlight?: number;
}

const PROGRESS_MS = 250;

/** A table that could not be restored: which, and what it was doing. */
export class TableRestoreError extends Error {
	constructor(
		readonly table: ArchiveTable,
		readonly doing: string,
		readonly last: RestoreProgress | undefined,
		cause: unknown,
	) {
		super((cause as Error).message, {cause});
	}
}

/**
 * Restores a checked archive, reading it a second time (nothing was
 * spooled) and writing each table as its documents stream in: database and
 * table (with the archive's shards and replicas, so no backfill follows),
 * secondary indexes from their functions (and waits for them), the write
 * hook (inserts ignore it, so it never rewrites restored rows), then the
 * documents in batches of their archive text, then a sync (writes are soft,
 * as the official import's are, and made durable at the end). Memory holds
 * the batches in flight, whatever the archive holds.
 */
export async function restoreArchive(
	link: DatabaseSession,
	manifest: ArchiveManifest,
	options: RestoreOptions,
): Promise<RestoredTable[]> {
	const restored: RestoredTable[] = [];
	let current: {table: ArchiveTable; inserter: BatchSender; plan: ReplicationPlan; detail: string} | undefined;
	let last: RestoreProgress | undefined;
	const report = (
		table: ArchiveTable,
		detail: string,
		documents = 0,
		bytes = 0,
		state: RestoreProgress['state'] = 'running',
	) => {
		if (current) current.detail = detail;
		last = {table, state, detail, documents, bytes, totalDocuments: table.documents, totalBytes: table.bytes};
		options.onProgress?.(last);
	};
	const finish = async () => {
		if (!current) return;
		const {table, inserter, plan} = current;
		const documents = await inserter.finish();
		if (options.signal?.aborted) throw new CancelledError();
		report(table, 'syncing to disk', documents, table.bytes);
		await run(link, rql.db(table.db).table(table.table).sync());
		if (documents !== table.documents)
			throw new ExternalError(`only ${documents} of the archive's ${table.documents} documents were written`);
		report(table, 'restored', documents, table.bytes, 'done');
		const done: RestoredTable = {
			db: table.db,
			table: table.table,
			documents,
			indexes: table.info.indexes.length,
			created: !options.existing.has(tableKey(table)),
			replication: plan,
		};
		restored.push(done);
		options.onTableDone?.(done);
		current = undefined;
	};
	try {
		await replayArchive(manifest, {
			signal: options.signal,
			onTableStart: async table => {
				await finish();
				current = {
					table,
					inserter: undefined as unknown as BatchSender,
					plan: {kind: 'default'},
					detail: 'creating the table',
				};
				current.plan = await prepareTable(link, table, options, detail => report(table, detail));
				report(table, 'writing documents');
				let lastReport = 0;
				current.inserter = new BatchSender({
					signal: options.signal,
					inFlight: options.inFlight,
					maxDocuments: options.batchDocuments,
					maxBytes: options.batchBytes,
					send: async batch => {
						const result = await run<InsertResult>(
							link,
							rql
								.db(table.db)
								.table(table.table)
								.insert(rql.json(batch.text), {
									conflict: options.force ? 'replace' : 'error',
									durability: 'soft',
									ignoreWriteHook: true,
									returnChanges: false,
								}),
							{arrayLimit: Math.max(DEFAULT_ARRAY_LIMIT, table.longestArray + 1)},
						);
						if (result.errors > 0)
							throw new ExternalError(result.first_error ?? `the server reported ${result.errors} errors`, {
								hint:
									result.first_error && /Duplicate primary key/.test(result.first_error)
										? 'the archive holds two documents with the same primary key, or the table already had one (--force replaces rows)'
										: undefined,
							});
						const done = result.inserted + result.replaced + result.unchanged;
						if (done !== batch.documents)
							throw new ExternalError(`only ${done} of a batch's ${batch.documents} documents were written`);
						return done;
					},
					onProgress: (documents, bytes) => {
						const now = Date.now();
						if (now - lastReport < PROGRESS_MS) return;
						lastReport = now;
						report(table, 'writing documents', documents, bytes);
					},
				});
			},
			onDocuments: async (_table, documents) => {
				await current!.inserter.add(documents);
			},
		});
		await finish();
	} catch (error) {
		if (error instanceof CancelledError || options.signal?.aborted) throw new CancelledError();
		const table = current?.table ?? manifest.tables[restored.length];
		if (table)
			throw new TableRestoreError(
				table,
				current?.detail ?? 'starting',
				last?.table === table ? last : undefined,
				error,
			);
		throw error;
	}
	return restored;
}

/**
 * Creates what a table needs before its documents: the database and the
 * table (unless --force writes into an existing one), with the archive's
 * durability, shards and write acknowledgements; its indexes from their
 * functions (replacing same-named ones, as rethinkdb restore does), waited
 * for; its write hook.
 */
async function prepareTable(
	link: DatabaseSession,
	table: ArchiveTable,
	options: RestoreOptions,
	report: (detail: string) => void,
): Promise<ReplicationPlan> {
	const info = table.info;
	const db = rql.db(table.db);
	const handle: Term = db.table(table.table);
	let replication: ReplicationPlan = {kind: 'default'};
	if (!options.existing.has(tableKey(table))) {
		report('creating the table');
		if (!options.target.databases.has(table.db)) {
			await ignoreExisting(run(link, rql.dbCreate(table.db)));
			options.target.databases.add(table.db);
		}
		replication = planReplication(info.shards, options.target.servers);
		const createOptions: Record<string, unknown> = {primaryKey: info.primary_key};
		if (replication.kind === 'counts')
			Object.assign(createOptions, {shards: replication.shards, replicas: replication.replicas});
		if (info.durability) createOptions['durability'] = info.durability;
		await run(link, db.tableCreate(table.table, createOptions));
		const config: Record<string, unknown> = {};
		if (replication.kind === 'exact') config['shards'] = replication.shards;
		if (info.write_acks !== undefined) config['write_acks'] = info.write_acks;
		if (Object.keys(config).length > 0) {
			const result = await run<{errors: number; first_error?: string}>(link, handle.config().update(config));
			if (result.errors > 0) throw new ExternalError(result.first_error ?? 'the table configuration was refused');
		}
		await run(link, handle.wait({waitFor: 'ready_for_writes', timeout: 120}));
	}
	if (options.signal?.aborted) throw new CancelledError();
	if (info.indexes.length > 0) {
		report(`creating ${info.indexes.length} secondary ${info.indexes.length === 1 ? 'index' : 'indexes'}`);
		const present = new Set(await run<string[]>(link, handle.indexList()));
		for (const index of info.indexes) {
			// An index of that name in a table written into with --force is replaced, as rethinkdb restore does.
			if (present.has(index.index)) await run(link, handle.indexDrop(index.index));
			await run(link, handle.indexCreate(index.index, binaryTerm(index.function.data)));
		}
		report(`waiting for ${info.indexes.length === 1 ? 'its index' : `its ${info.indexes.length} indexes`}`);
		await run(link, handle.indexWait(...info.indexes.map(i => i.index)));
	}
	if (info.write_hook) {
		report('setting the write hook');
		await run(link, handle.setWriteHook(binaryTerm(info.write_hook.function.data)));
	}
	return replication;
}

async function ignoreExisting(query: Promise<unknown>): Promise<void> {
	try {
		await query;
	} catch (error) {
		if (!/already exists/.test((error as Error).message)) throw error;
	}
}

interface InsertResult {
	inserted: number;
	replaced: number;
	unchanged: number;
	errors: number;
	first_error?: string;
}

/** One batch: its documents as one JSON array text, as `r.json` takes it. */
interface Batch {
	text: string;
	documents: number;
	bytes: number;
}

/**
 * Sends documents in batches, up to `inFlight` at once: adding waits for a
 * free slot, so memory holds at most that many batches (a document larger
 * than a batch goes alone). The server parses each batch's JSON text (times,
 * binaries and geometry from their `$reql_type$` form, as it does for the
 * official import's objects); nothing is rebuilt as a term tree here.
 */
export class BatchSender {
	private readonly pending = new Set<Promise<void>>();
	private failure?: Error;
	private parts: Buffer[] = [];
	private partBytes = 0;
	private sent = 0;
	private sentBytes = 0;
	private readonly maxDocuments: number;
	private readonly maxBytes: number;
	private readonly inFlight: number;

	constructor(
		private readonly options: {
			send: (batch: Batch) => Promise<number>;
			onProgress?: (documents: number, bytes: number) => void;
			signal?: AbortSignal;
			maxDocuments?: number;
			maxBytes?: number;
			inFlight?: number;
		},
	) {
		this.maxDocuments = options.maxDocuments ?? 500;
		this.maxBytes = options.maxBytes ?? 1024 * 1024;
		this.inFlight = Math.max(1, options.inFlight ?? 4);
	}

	async add(documents: Buffer[]): Promise<void> {
		for (const document of documents) {
			if (this.failure) throw this.failure;
			if (this.options.signal?.aborted) throw new CancelledError();
			this.parts.push(document);
			this.partBytes += document.length + 1;
			if (this.parts.length >= this.maxDocuments || this.partBytes >= this.maxBytes) await this.flush();
		}
	}

	/** Sends what is left and waits for every batch; returns the documents written. */
	async finish(): Promise<number> {
		if (this.parts.length > 0 && !this.failure) await this.flush();
		await Promise.all(this.pending);
		if (this.options.signal?.aborted) throw new CancelledError();
		if (this.failure) throw this.failure;
		this.options.onProgress?.(this.sent, this.sentBytes);
		return this.sent;
	}

	private async flush(): Promise<void> {
		const pieces: Buffer[] = [OPEN];
		for (const [i, part] of this.parts.entries()) {
			if (i > 0) pieces.push(COMMA);
			pieces.push(part);
		}
		pieces.push(CLOSE);
		const batch: Batch = {
			text: Buffer.concat(pieces).toString('utf8'),
			documents: this.parts.length,
			bytes: this.partBytes,
		};
		this.parts = [];
		this.partBytes = 0;
		const sending: Promise<void> = this.options
			.send(batch)
			.then(done => {
				this.sent += done;
				this.sentBytes += batch.bytes;
				this.options.onProgress?.(this.sent, this.sentBytes);
			})
			.catch((error: Error) => {
				this.failure ??= error;
			})
			.finally(() => this.pending.delete(sending));
		this.pending.add(sending);
		while (this.pending.size >= this.inFlight) await Promise.race(this.pending);
		if (this.failure) throw this.failure;
	}
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');

/** What `restore --force` would do to a table that has rows: how many of the archive's keys it holds, and how many of those differ. */
export interface Overwrite extends TableRef {
	/** Rows in the table now. */
	rows: number;
	/** The archive's documents whose primary key is in the table. */
	present: number;
	/** Of those, the ones whose row differs from the archive's (they go back to the archive's version). */
	differ: number;
	documents: number;
}

/**
 * Before `--force` writes into tables that have rows: reads the archive's
 * documents for them (a third read, only for these tables) and asks the
 * server, a batch at a time, which keys exist and which rows differ from
 * the archive's. Reads only.
 */
export async function countOverwrites(
	link: DatabaseSession,
	manifest: ArchiveManifest,
	existing: Set<string>,
	options: {signal?: AbortSignal; onProgress?: (table: TableRef, documents: number, total: number) => void} = {},
): Promise<Overwrite[]> {
	const candidates = manifest.tables.filter(t => existing.has(tableKey(t)));
	const counts = await Promise.all(candidates.map(t => run<number>(link, rql.db(t.db).table(t.table).count())));
	const withRows = candidates.filter((_, i) => counts[i]! > 0);
	const results = new Map<string, Overwrite>(
		candidates.map((t, i) => [
			tableKey(t),
			{db: t.db, table: t.table, rows: counts[i]!, present: 0, differ: 0, documents: t.documents},
		]),
	);
	if (withRows.length === 0) return [...results.values()];
	let sender: BatchSender | undefined;
	const finish = async () => {
		await sender?.finish();
		sender = undefined;
	};
	await replayArchive(
		{...manifest, tables: withRows},
		{
			signal: options.signal,
			onTableStart: async table => {
				await finish();
				const result = results.get(tableKey(table))!;
				const handle: Term = rql.db(table.db).table(table.table);
				const pk = table.info.primary_key;
				sender = new BatchSender({
					signal: options.signal,
					send: async batch => {
						// 0: not there, 1: there and the same, 2: there and different.
						const codes = await run<number[]>(
							link,
							rql.json(batch.text).map((doc: Term) =>
								rql.branch(
									doc.hasFields(pk).not(),
									0,
									handle.get(doc(pk)).do((row: Term) => rql.branch(row.eq(null), 0, row.eq(doc), 1, 2)),
								),
							),
							{arrayLimit: Math.max(DEFAULT_ARRAY_LIMIT, table.longestArray + 1)},
						);
						for (const code of codes) {
							if (code > 0) result.present++;
							if (code === 2) result.differ++;
						}
						return batch.documents;
					},
					onProgress: documents => options.onProgress?.(table, documents, table.documents),
				});
			},
			onDocuments: async (_table, documents) => {
				await sender!.add(documents);
			},
		},
	);
	await finish();
	return [...results.values()];
}

/**
 * Index functions and write hooks are the server's own serialized code: a
 * forged or damaged one passes every check this side can make and fails
 * only when the server deserializes it. They are tried here, before the
 * restore writes anything, in a scratch table of a scratch database that is
 * dropped right after (`swarmbee_restore_check`).
 */
export async function checkFunctionsOnServer(
	link: DatabaseSession,
	tables: readonly ArchiveTable[],
	signal?: AbortSignal,
): Promise<number> {
	const functions = tables.flatMap(t => [
		...t.info.indexes.map(index => ({table: t, kind: 'index' as const, name: index.index, data: index.function.data})),
		...(t.info.write_hook
			? [{table: t, kind: 'hook' as const, name: 'write hook', data: t.info.write_hook.function.data}]
			: []),
	]);
	if (functions.length === 0) return 0;
	const scratchDb = SCRATCH_DATABASE;
	const scratchTable = `check_${process.pid}_${Date.now()}`;
	await ignoreExisting(run(link, rql.dbCreate(scratchDb)));
	const handle: Term = rql.db(scratchDb).table(scratchTable);
	try {
		await run(link, rql.db(scratchDb).tableCreate(scratchTable, {replicas: 1, durability: 'soft'}));
		await run(link, handle.wait({waitFor: 'ready_for_writes', timeout: 60}));
		for (const [i, fn] of functions.entries()) {
			if (signal?.aborted) throw new CancelledError();
			try {
				if (fn.kind === 'index') {
					await run(link, handle.indexCreate(`f${i}`, binaryTerm(fn.data)));
					await run(link, handle.indexDrop(`f${i}`));
				} else {
					await run(link, handle.setWriteHook(binaryTerm(fn.data)));
					await run(link, handle.setWriteHook(null));
				}
			} catch (error) {
				if (!isServerVerdict(error)) throw error;
				throw new InputError(
					`${tableKey(fn.table)}'s ${fn.kind === 'index' ? `index ${fn.name}` : 'write hook'} in the archive is not a function this server accepts: ${firstLine((error as Error).message)}`,
					{
						hint: 'the .info holds the function as the server serialized it; this one was changed or damaged, or comes from an incompatible RethinkDB',
						nextSteps: [
							'restore from an archive made by swarmbee backup or rethinkdb dump, as it was written',
							`or leave that table out with --tables`,
							'nothing was written to the cluster (a scratch table was used for the check, and dropped)',
						],
					},
				);
			}
		}
	} finally {
		await run(link, rql.db(scratchDb).tableDrop(scratchTable)).catch(() => {});
		// The database goes too, unless another restore is checking in it right now.
		await run(link, rql.branch(rql.db(scratchDb).tableList().isEmpty(), rql.dbDrop(scratchDb), null)).catch(() => {});
	}
	return functions.length;
}

/** The scratch database the function check uses (and drops). */
export const SCRATCH_DATABASE = 'swarmbee_restore_check';

function isServerVerdict(error: unknown): boolean {
	const name = (error as Error)?.name;
	return (
		name === 'ReqlOpFailedError' ||
		name === 'ReqlQueryLogicError' ||
		name === 'ReqlLogicError' ||
		name === 'ReqlInternalError' ||
		name === 'ReqlRuntimeError' ||
		name === 'ReqlNonExistenceError'
	);
}

function firstLine(message: string): string {
	return message.split('\n')[0]!.replace(/ in:$/, '');
}
