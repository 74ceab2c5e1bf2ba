import path from 'node:path';
import type {DatabaseSession} from '../database/rethinkdb.js';
import {CancelledError, ExternalError, InputError} from '../errors.js';
import {readArchive, type ArchiveManifest} from './archive-reader.js';
import {ArchiveWriteError, type ArchiveWriter, type TableEntry} from './archive-writer.js';
import {formatBytes, formatCount} from '../render/table-progress.js';
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
import {rawBatches} from './raw-cursor.js';

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

/** A dropped connection or a timeout: worth resuming from the last key (as `_export.py` does). */
function isConnectionError(error: unknown): boolean {
	const name = (error as Error)?.name;
	return name === 'ReqlDriverError' || name === 'ReqlTimeoutError' || name === 'ReqlAvailabilityError';
}

/**
 * Streams one table's documents into the archive as a dump's `.json`
 * array, in primary-key order, each read once from a majority of its
 * replicas (`read_mode: majority`: never a write that could still be rolled
 * back). Serializing, compressing (in the thread pool) and writing go on
 * while the driver fetches the next batch; writes wait for the disk
 * (backpressure), so memory holds about one batch and a few pieces. When the
 * connection drops, the read resumes after the last key written.
 */
export async function dumpDocuments(
	link: DatabaseSession,
	ref: TableRef,
	primaryKey: string,
	entry: TableEntry,
	options: {signal?: AbortSignal; estimate?: number; onProgress?: (progress: TableProgress) => void},
): Promise<{documents: number; bytes: number}> {
	let documents = 0;
	let bytes = 0;
	let lastKey: unknown;
	let lastReport = 0;
	const write = async (data: Buffer) => {
		bytes += data.length;
		await entry.write(data);
	};
	await write(Buffer.from(JSON_ARRAY.open));
	for (let attempt = 0; ; attempt++) {
		const source: Term = rql.db(ref.db).table(ref.table, {readMode: 'majority'});
		const ordered: Term =
			lastKey === undefined
				? source.orderBy({index: primaryKey})
				: source.between(lastKey, rql.maxval, {leftBound: 'open', index: primaryKey}).orderBy({index: primaryKey});
		// A connection of its own, taken over for the raw read (see raw-cursor.ts).
		let connection: Awaited<ReturnType<DatabaseSession['open']>> | undefined;
		try {
			connection = await link.open();
			for await (const batch of rawBatches(connection, ordered, RAW_OPTARGS)) {
				if (options.signal?.aborted) throw new CancelledError();
				if (batch.documents.length === 0) continue;
				const parts: Buffer[] = [];
				for (const [start, end] of batch.documents) {
					parts.push(documents === 0 && parts.length === 0 ? FIRST : BETWEEN, batch.bytes.subarray(start, end));
				}
				const [lastStart, lastEnd] = batch.documents.at(-1)!;
				lastKey = (JSON.parse(batch.bytes.toString('utf8', lastStart, lastEnd)) as Record<string, unknown>)[primaryKey];
				documents += batch.documents.length;
				await write(Buffer.concat(parts));
				const now = Date.now();
				if (now - lastReport >= PROGRESS_MS) {
					lastReport = now;
					options.onProgress?.({table: ref, state: 'running', documents, bytes, totalDocuments: options.estimate});
				}
			}
			break;
		} catch (error) {
			if (error instanceof CancelledError || options.signal?.aborted) throw new CancelledError();
			if (error instanceof ArchiveWriteError) throw error;
			if (!isConnectionError(error) || attempt >= RESUMES) throw error;
		} finally {
			await connection?.close({noreplyWait: false}).catch(() => {});
		}
	}
	await write(Buffer.from(JSON_ARRAY.close));
	const written = await entry.end();
	// What went into the archive is what was read: a difference is a bug or a lost write, never a backup.
	if (written.bytes !== bytes)
		throw new ExternalError(
			`${tableKey(ref)}: ${bytes.toLocaleString('en-US')} bytes were read but ${written.bytes.toLocaleString('en-US')} written into the archive`,
		);
	options.onProgress?.({table: ref, state: 'done', documents, bytes, totalDocuments: documents});
	return {documents, bytes};
}

const FIRST = Buffer.from(JSON_ARRAY.first);
const BETWEEN = Buffer.from(JSON_ARRAY.between);
/** Times, binaries and geometry as the server's own JSON, as `_export.py` asks for them (global optargs, snake case). */
const RAW_OPTARGS = {time_format: 'raw', binary_format: 'raw'};

/** How far a backup got when the disk filled, and roughly what the rest needs. */
function diskFull(error: ArchiveWriteError, done: {documents: number; bytes: number}, estimate: number): ExternalError {
	const ratio = done.bytes > 0 ? error.written / done.bytes : 0.5;
	const perDocument = done.documents > 0 ? done.bytes / done.documents : 0;
	const remaining = Math.max(0, estimate - done.documents) * perDocument * ratio;
	const folder = path.dirname(error.file);
	return new ExternalError(`${error.message}: the backup stopped and kept nothing`, {
		hint: `the archive had reached ${formatBytes(error.written)} after ${formatCount(done.documents)} of about ${formatCount(Math.max(estimate, done.documents))} documents; it needs about ${formatBytes(remaining + 1024 * 1024)} more free in ${folder}`,
		nextSteps: [
			`free space in ${folder}, or write the archive to another disk with --out`,
			'the partial archive was removed; no file was left under the name asked for',
		],
		cause: error,
	});
}

/**
 * Backs up tables one after another into `writer`: each table's
 * description, then its documents streamed into the archive as they are
 * read. Nothing is spooled: the only file written is the archive's partial
 * file. Any write error (a full disk) stops the backup with the folder and
 * the space it needs.
 */
export async function backupTables(options: {
	link: DatabaseSession;
	tables: readonly TableRef[];
	writer: ArchiveWriter;
	signal?: AbortSignal;
	onProgress?: (progress: TableProgress) => void;
}): Promise<DumpedTable[]> {
	const results: DumpedTable[] = [];
	const done = {documents: 0, bytes: 0};
	let estimate = 0;
	try {
		const infos = await Promise.all(options.tables.map(ref => readTableInfo(options.link, ref)));
		const estimates = infos.map(info => (info.doc_count_estimates ?? []).reduce((sum, n) => sum + n, 0));
		estimate = estimates.reduce((sum, n) => sum + n, 0);
		for (const [i, ref] of options.tables.entries()) {
			if (options.signal?.aborted) throw new CancelledError();
			// Read again just before the table: an index made since the list was taken is in its .info.
			const info = i === 0 ? infos[0]! : await readTableInfo(options.link, ref);
			options.onProgress?.({table: ref, state: 'running', documents: 0, bytes: 0, totalDocuments: estimates[i]});
			const entry = await options.writer.beginTable(ref, info);
			const {documents, bytes} = await dumpDocuments(options.link, ref, info.primary_key, entry, {
				signal: options.signal,
				estimate: estimates[i],
				onProgress: p => {
					options.onProgress?.(p);
					if (p.state === 'running') {
						done.documents = results.reduce((sum, t) => sum + t.documents, 0) + p.documents;
						done.bytes = results.reduce((sum, t) => sum + t.bytes, 0) + p.bytes;
					}
				},
			});
			results.push({...ref, documents, bytes, indexes: info.indexes.length});
		}
	} catch (error) {
		if (error instanceof CancelledError || options.signal?.aborted) throw new CancelledError();
		if (error instanceof ArchiveWriteError) {
			if (error.code === 'ENOSPC' || error.code === 'EDQUOT') throw diskFull(error, done, estimate);
			throw new ExternalError(`${error.message}: the backup stopped and kept nothing`, {
				nextSteps: ['check the folder given to --out', 'the partial archive was removed'],
				cause: error,
			});
		}
		if (error instanceof ExternalError || error instanceof InputError) throw error;
		throw new ExternalError(`the backup failed: ${(error as Error).message}`, {
			cause: error,
			nextSteps: ['run it again; a partial archive is never left under the final name'],
		});
	}
	return results;
}

/** A finished archive read back does not hold what was read from the cluster. */
export class VerifyError extends ExternalError {}

/**
 * Reads the finished archive back from the disk before it is called done:
 * gzip's CRC and length and tar's checksums (every byte is what was
 * compressed), every `.info` parses as a restore would parse it, and each
 * table's `.json` holds exactly the documents read, as valid JSON.
 */
export async function verifyArchive(
	file: string,
	expected: readonly DumpedTable[],
	options: {
		signal?: AbortSignal;
		onProgress?: (table: TableRef, documents: number, bytes: number, done: boolean) => void;
	} = {},
): Promise<{documents: number}> {
	let manifest: ArchiveManifest;
	try {
		manifest = await readArchive(file, {
			signal: options.signal,
			onProgress: options.onProgress,
			limits: VERIFY_LIMITS,
			strict: false,
		});
	} catch (error) {
		if (error instanceof CancelledError) throw error;
		throw new VerifyError(`the archive written does not read back: ${(error as Error).message}`, {
			nextSteps: ['the archive was removed; run the backup again', 'if it fails the same way, check the disk'],
			cause: error,
		});
	}
	const found = new Map(manifest.tables.map(t => [tableKey(t), t]));
	const problems: string[] = [];
	for (const table of expected) {
		const inArchive = found.get(tableKey(table));
		if (!inArchive) problems.push(`${tableKey(table)} is missing`);
		else if (inArchive.documents !== table.documents || inArchive.bytes !== table.bytes)
			problems.push(
				`${tableKey(table)}: ${formatCount(table.documents)} documents (${table.bytes} bytes) read, ${formatCount(inArchive.documents)} (${inArchive.bytes} bytes) in the archive`,
			);
		found.delete(tableKey(table));
	}
	for (const extra of found.keys()) problems.push(`${extra} is in it but was not backed up`);
	if (problems.length > 0)
		throw new VerifyError(`the archive written does not hold what was read: ${problems.join('; ')}`, {
			nextSteps: ['the archive was removed; run the backup again'],
		});
	return {documents: manifest.tables.reduce((sum, t) => sum + t.documents, 0)};
}

/** A backup's own documents are checked for completeness, not held to the restore's limits (they came from the server). */
const VERIFY_LIMITS = {maxQueryBytes: Number.MAX_SAFE_INTEGER, maxDepth: 100_000};
