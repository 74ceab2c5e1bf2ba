import {createReadStream} from 'node:fs';
import {createInterface} from 'node:readline';
import type {DatabaseSession} from '../database/rethinkdb.js';
import {CancelledError, ExternalError, InputError} from '../errors.js';
import type {ArchiveTable} from './archive-reader.js';
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
	/** Bytes of documents to send (as spooled: one compact JSON line each). */
	totalBytes: number;
}

export interface RestoredTable extends TableRef {
	documents: number;
	indexes: number;
	created: boolean;
	replication: ReplicationPlan;
}

export interface RestoreTableOptions {
	/** The table exists and --force was given: write into it. */
	exists: boolean;
	force: boolean;
	target: TargetFacts;
	signal?: AbortSignal;
	onProgress?: (progress: RestoreProgress) => void;
	/** Documents per insert (default 500) and bytes per insert (default 1 MiB), whichever comes first. */
	batchDocuments?: number;
	batchBytes?: number;
	/** Inserts in flight at once (default 4): the round trip over SSH is hidden behind the next batch. */
	inFlight?: number;
}

const PROGRESS_MS = 250;

/**
 * Restores one table of a checked archive, in the order the issue asks
 * for: database and table (with the archive's shards and replicas, so no
 * backfill follows), secondary indexes from their functions (and waits for
 * them), then the documents in batches, then the write hook (last, so it
 * does not rewrite restored rows), then a sync (writes are soft, as the
 * official import's are, and made durable at the end).
 */
export async function restoreTable(
	link: DatabaseSession,
	table: ArchiveTable,
	options: RestoreTableOptions,
): Promise<RestoredTable> {
	const key = tableKey(table);
	const info = table.info;
	const db = rql.db(table.db);
	const handle: Term = db.table(table.table);
	const report = (detail: string, documents = 0, bytes = 0, state: RestoreProgress['state'] = 'running') =>
		options.onProgress?.({
			table,
			state,
			detail,
			documents,
			bytes,
			totalDocuments: table.documents,
			totalBytes: table.spoolBytes,
		});
	const cancelled = () => {
		if (options.signal?.aborted) throw new CancelledError();
	};

	let replication: ReplicationPlan = {kind: 'default'};
	if (!options.exists) {
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
		if (Object.keys(config).length > 0) await run(link, handle.config().update(config));
		await run(link, handle.wait({waitFor: 'ready_for_writes', timeout: 120}));
	}
	cancelled();

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
	cancelled();

	const documents = await insertDocuments(link, table, handle, options, (written, bytes) =>
		report('writing documents', written, bytes),
	);
	cancelled();

	if (info.write_hook) {
		report('setting the write hook', documents, table.spoolBytes);
		await run(link, handle.setWriteHook(binaryTerm(info.write_hook.function.data)));
	}
	report('syncing to disk', documents, table.spoolBytes);
	await run(link, handle.sync());
	if (documents !== table.documents) {
		throw new ExternalError(`${key}: only ${documents} of the archive's ${table.documents} documents were written`);
	}
	report('restored', documents, table.spoolBytes, 'done');
	return {...table, documents, indexes: info.indexes.length, created: !options.exists, replication};
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

/**
 * Sends the spooled documents in batches. A batch travels as its JSON text
 * in `r.json(...)`: the server parses it (times, binaries and geometry
 * from their `$reql_type$` form, as it does for the official import's
 * objects), and nothing is rebuilt as a term tree here. Up to `inFlight`
 * batches are in flight; reading the spool waits for a free slot, so
 * memory holds at most that many batches.
 */
async function insertDocuments(
	link: DatabaseSession,
	table: ArchiveTable,
	handle: Term,
	options: RestoreTableOptions,
	onProgress: (documents: number, bytes: number) => void,
): Promise<number> {
	const maxDocuments = options.batchDocuments ?? 500;
	const maxBytes = options.batchBytes ?? 1024 * 1024;
	const inFlight = Math.max(1, options.inFlight ?? 4);
	const insertOptions = {
		conflict: options.force ? 'replace' : 'error',
		durability: 'soft',
		ignoreWriteHook: true,
		returnChanges: false,
	};
	const pending = new Set<Promise<void>>();
	let failure: Error | undefined;
	let written = 0;
	let writtenBytes = 0;
	let lastReport = 0;

	const send = (lines: string[], bytes: number) => {
		const batch = run<InsertResult>(link, handle.insert(rql.json(`[${lines.join(',')}]`), insertOptions))
			.then(result => {
				if (result.errors > 0)
					throw new ExternalError(result.first_error ?? `the server reported ${result.errors} errors`, {
						hint:
							result.first_error && /Duplicate primary key/.test(result.first_error)
								? 'the archive holds two documents with the same primary key, or the table already had one (--force replaces rows)'
								: undefined,
					});
				const done = result.inserted + result.replaced + result.unchanged;
				if (done !== lines.length)
					throw new ExternalError(`only ${done} of a batch's ${lines.length} documents were written`);
				written += done;
				writtenBytes += bytes;
				const now = Date.now();
				if (now - lastReport >= PROGRESS_MS) {
					lastReport = now;
					onProgress(written, writtenBytes);
				}
			})
			.catch((error: Error) => {
				failure ??= error;
			})
			.finally(() => pending.delete(batch));
		pending.add(batch);
	};

	onProgress(0, 0);
	const lines = createInterface({
		input: createReadStream(table.spool, {highWaterMark: 1024 * 1024}),
		crlfDelay: Infinity,
	});
	let batch: string[] = [];
	let batchBytes = 0;
	try {
		for await (const line of lines) {
			if (failure) break;
			if (options.signal?.aborted) throw new CancelledError();
			if (line.length === 0) continue;
			batch.push(line);
			batchBytes += Buffer.byteLength(line) + 1;
			if (batch.length >= maxDocuments || batchBytes >= maxBytes) {
				send(batch, batchBytes);
				batch = [];
				batchBytes = 0;
				while (pending.size >= inFlight) await Promise.race(pending);
			}
		}
		if (batch.length > 0 && !failure) send(batch, batchBytes);
		await Promise.all(pending);
	} finally {
		lines.close();
	}
	if (options.signal?.aborted) throw new CancelledError();
	if (failure) throw failure;
	onProgress(written, writtenBytes);
	return written;
}
