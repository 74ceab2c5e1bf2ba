import {once} from 'node:events';
import {createWriteStream, rmSync} from 'node:fs';
import path from 'node:path';
import type {DatabaseSession} from '../database/rethinkdb.js';
import {CancelledError, ExternalError, InputError} from '../errors.js';
import type {ArchiveWriter} from './archive-writer.js';
import {
	JSON_ARRAY,
	buildTableInfo,
	isSelected,
	tableKey,
	unmatchedSelection,
	type IndexRecord,
	type ShardRecord,
	type TableInfo,
	type TableRef,
	type TableSelection,
	type WriteHookRecord,
} from './format.js';
import {RAW_FORMATS, rql, run, runArray, type Term} from './reql.js';

/** How often a table's progress is reported while it streams. */
const PROGRESS_MS = 250;

/** How many times a table's read resumes after the connection dropped. */
const RESUMES = 3;

export interface TableProgress {
	table: TableRef;
	state: 'running' | 'done';
	documents: number;
	bytes: number;
	/** The server's estimate of the table's size (exact once done). */
	totalDocuments?: number;
}

export interface DumpedTable extends TableRef {
	documents: number;
	bytes: number;
	indexes: number;
}

/** The user tables, as `rethinkdb dump` lists them (`rethinkdb.table_config`), sorted. */
export async function listTables(link: DatabaseSession): Promise<TableRef[]> {
	const rows = await runArray<{db: string; name: string}>(
		link,
		rql.db('rethinkdb').table('table_config').pluck('db', 'name'),
	);
	return rows.map(row => ({db: row.db, table: row.name})).sort((a, b) => tableKey(a).localeCompare(tableKey(b)));
}

/** The tables a backup takes: all of them, or those `--tables` names (each must exist). */
export function chooseTables(all: readonly TableRef[], selection: TableSelection | undefined): TableRef[] {
	const missing = unmatchedSelection(selection, all);
	if (missing.length > 0) {
		throw new InputError(
			`the cluster has no ${missing.length === 1 ? 'table or database' : 'tables or databases'} ${missing.join(', ')}`,
			{
				hint: all.length > 0 ? `it has ${all.map(tableKey).join(', ')}` : 'it has no user tables at all',
				nextSteps: ['check the names given to --tables (DB or DB.TABLE, comma-separated)'],
			},
		);
	}
	return all.filter(t => isSelected(selection, t));
}

/** What goes into a table's `.info`: info, index status and write hook (raw binaries), and its configuration. */
export async function readTableInfo(link: DatabaseSession, ref: TableRef): Promise<TableInfo> {
	const table = rql.db(ref.db).table(ref.table);
	// Four queries at once on the one connection (the driver multiplexes them): one round trip, not four.
	const [info, indexStatus, writeHook, config] = await Promise.all([
		run<Record<string, unknown>>(link, table.info()),
		run<IndexRecord[]>(link, table.indexStatus(), RAW_FORMATS),
		run<WriteHookRecord | null>(link, table.getWriteHook(), RAW_FORMATS),
		run<{shards?: ShardRecord[]; write_acks?: unknown; durability?: 'hard' | 'soft'}>(
			link,
			table.config(),
			RAW_FORMATS,
		),
	]);
	return buildTableInfo({
		info,
		indexStatus,
		writeHook,
		config: {shards: config.shards, write_acks: config.write_acks, durability: config.durability},
	});
}

function isEndOfCursor(error: unknown): boolean {
	return error instanceof Error && error.message === 'No more rows in the cursor.';
}

/** A dropped connection or a timeout: worth resuming from the last key (as `_export.py` does). */
function isConnectionError(error: unknown): boolean {
	const name = (error as Error)?.name;
	return name === 'ReqlDriverError' || name === 'ReqlTimeoutError' || name === 'ReqlAvailabilityError';
}

/**
 * Streams one table's documents into `file` as a dump's `.json` array, in
 * primary-key order, each read once from a majority of its replicas
 * (`read_mode: majority`: never a write that could still be rolled back).
 * Writes wait for the disk (backpressure), the driver fetches the next
 * batch only as rows are taken: memory holds about one batch. When the
 * connection drops, the read resumes after the last key written.
 */
export async function dumpDocuments(
	link: DatabaseSession,
	ref: TableRef,
	primaryKey: string,
	file: string,
	options: {signal?: AbortSignal; estimate?: number; onProgress?: (progress: TableProgress) => void},
): Promise<{documents: number; bytes: number}> {
	const out = createWriteStream(file, {flags: 'w', mode: 0o600, highWaterMark: 1024 * 1024});
	const closed = once(out, 'close').catch(() => {});
	let documents = 0;
	let bytes = 0;
	let lastKey: unknown;
	let pending: string = JSON_ARRAY.open;
	let lastReport = 0;
	const flush = async () => {
		const text = pending;
		pending = '';
		bytes += Buffer.byteLength(text);
		if (!out.write(text)) await once(out, 'drain');
	};
	try {
		for (let attempt = 0; ; attempt++) {
			const source: Term = rql.db(ref.db).table(ref.table, {readMode: 'majority'});
			const ordered: Term =
				lastKey === undefined
					? source.orderBy({index: primaryKey})
					: source.between(lastKey, rql.maxval, {leftBound: 'open', index: primaryKey}).orderBy({index: primaryKey});
			let cursor: Term;
			try {
				cursor = await run(link, ordered, RAW_FORMATS);
				for (;;) {
					if (options.signal?.aborted) throw new CancelledError();
					let row: Record<string, unknown>;
					try {
						row = (await cursor.next()) as Record<string, unknown>;
					} catch (error) {
						if (isEndOfCursor(error)) break;
						throw error;
					}
					pending += (documents === 0 ? JSON_ARRAY.first : JSON_ARRAY.between) + JSON.stringify(row);
					lastKey = row[primaryKey];
					documents++;
					if (pending.length >= 256 * 1024) await flush();
					const now = Date.now();
					if (now - lastReport >= PROGRESS_MS) {
						lastReport = now;
						options.onProgress?.({
							table: ref,
							state: 'running',
							documents,
							bytes: bytes + Buffer.byteLength(pending),
							totalDocuments: options.estimate,
						});
					}
				}
				break;
			} catch (error) {
				if (error instanceof CancelledError || options.signal?.aborted) throw new CancelledError();
				if (!isConnectionError(error) || attempt >= RESUMES) throw error;
				await link.reconnect();
			} finally {
				cursor?.close().catch(() => {});
			}
		}
		pending += JSON_ARRAY.close;
		await flush();
	} finally {
		out.end();
		await closed;
	}
	options.onProgress?.({table: ref, state: 'done', documents, bytes, totalDocuments: documents});
	return {documents, bytes};
}

/**
 * Backs up tables one after another into `writer`: each table's
 * description, then its documents spooled to a file in `spoolDir` (a tar
 * entry needs its size first, as `rethinkdb dump` also knows it from its
 * temporary folder), then packed while the next table is read. At most two
 * spool files exist at once; each is removed once packed.
 */
export async function backupTables(options: {
	link: DatabaseSession;
	tables: readonly TableRef[];
	writer: ArchiveWriter;
	spoolDir: string;
	signal?: AbortSignal;
	onProgress?: (progress: TableProgress) => void;
}): Promise<DumpedTable[]> {
	const results: DumpedTable[] = [];
	let packing: Promise<void> = Promise.resolve();
	try {
		for (const [i, ref] of options.tables.entries()) {
			if (options.signal?.aborted) throw new CancelledError();
			const info = await readTableInfo(options.link, ref);
			const estimate = (info.doc_count_estimates ?? []).reduce((sum, n) => sum + n, 0);
			options.onProgress?.({table: ref, state: 'running', documents: 0, bytes: 0, totalDocuments: estimate});
			const spool = path.join(options.spoolDir, `${String(i).padStart(4, '0')}-${ref.db}.${ref.table}.json`);
			const {documents, bytes} = await dumpDocuments(options.link, ref, info.primary_key, spool, {
				signal: options.signal,
				estimate,
				onProgress: options.onProgress,
			});
			results.push({...ref, documents, bytes, indexes: info.indexes.length});
			// One table packs while the next is read; the one before must be packed first.
			await packing;
			packing = options.writer.addTable(ref, info, spool).finally(() => rmSync(spool, {force: true}));
			packing.catch(() => {});
		}
		await packing;
	} catch (error) {
		await packing.catch(() => {});
		if (error instanceof CancelledError || options.signal?.aborted) throw new CancelledError();
		if (error instanceof ExternalError || error instanceof InputError) throw error;
		throw new ExternalError(`the backup failed: ${(error as Error).message}`, {
			cause: error,
			nextSteps: ['run it again; a partial archive is never left under the final name'],
		});
	}
	return results;
}
