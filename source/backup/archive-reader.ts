import {createReadStream, createWriteStream, openSync, readSync, closeSync, statSync} from 'node:fs';
import {once} from 'node:events';
import path from 'node:path';
import {pipeline} from 'node:stream/promises';
import type {Readable, Writable} from 'node:stream';
import {createGunzip} from 'node:zlib';
import tar from 'tar-stream';

type Entry = AsyncIterable<unknown> & {header: tar.Header; resume(): unknown};
import {CancelledError, ExternalError} from '../errors.js';
import {ArchiveError} from './errors.js';
import {
	classifyMember,
	isSelected,
	parseTableInfo,
	tableKey,
	unmatchedSelection,
	type TableInfo,
	type TableRef,
	type TableSelection,
} from './format.js';
import {JsonArrayError, JsonArrayReader} from './json-array.js';

/** One table found in an archive, checked and spooled, ready to be written. */
export interface ArchiveTable extends TableRef {
	info: TableInfo;
	documents: number;
	/** Size of its `.json` in the archive (uncompressed). */
	bytes: number;
	/** Its documents, one JSON object a line, in a file of the spool folder. */
	spool: string;
	spoolBytes: number;
}

export interface ArchiveManifest {
	file: string;
	top: string;
	tables: ArchiveTable[];
	/** Entries skipped, as `rethinkdb restore` skips them (not .json/.info, outside the folder). */
	ignored: string[];
}

export interface ReadArchiveOptions {
	selection?: TableSelection;
	/** Where each table's documents are spooled (one JSON line each); the caller removes it. */
	spoolDir: string;
	signal?: AbortSignal;
	/** Documents and bytes read so far of one table's `.json`. */
	onProgress?: (table: TableRef, documents: number, bytes: number, done: boolean) => void;
}

const MAX_INFO_BYTES = 64 * 1024 * 1024;

/** gzip (what rethinkdb dump writes), or a plain tar, or neither, from the first bytes. */
export function sniffArchive(file: string): 'gzip' | 'tar' | 'unknown' | 'empty' {
	const fd = openSync(file, 'r');
	try {
		const head = Buffer.alloc(512);
		const read = readSync(fd, head, 0, 512, 0);
		if (read === 0) return 'empty';
		if (read >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
		if (read === 512 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
		return 'unknown';
	} finally {
		closeSync(fd);
	}
}

/** The library's words for a broken stream, turned into the user's. */
export function describeStreamError(error: Error & {code?: string}): string {
	const message = error.message;
	if (error.code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(message))
		return 'the gzip stream ends early (the file is truncated, or damaged near its end)';
	if (error.code === 'Z_DATA_ERROR') return `the gzip data is corrupt (${message})`;
	if (/Unexpected end of data/.test(message))
		return 'the tar stream ends in the middle of a file (the archive is truncated)';
	if (/Invalid tar header|Invalid header/.test(message)) return 'a tar header is corrupt (its checksum does not match)';
	return message;
}

/**
 * Reads a whole archive once, before anything is written anywhere: gzip
 * and tar integrity (gzip's CRC and length, tar's header checksums, no early
 * end), every `.info` parses, every `.json` is one complete array of
 * documents, each table has both files. The documents of the selected
 * tables are spooled to `spoolDir` (one per line) so the restore itself
 * reads them back without parsing again; memory holds one chunk at a time.
 * Throws ArchiveError for any problem, naming the file and the entry.
 */
export async function readArchive(file: string, options: ReadArchiveOptions): Promise<ArchiveManifest> {
	const name = path.basename(file);
	let size: number;
	try {
		const stat = statSync(file);
		if (!stat.isFile()) throw new ArchiveError(name, `${file} is not a file`);
		size = stat.size;
	} catch (error) {
		if (error instanceof ArchiveError) throw error;
		throw new ArchiveError(name, `cannot read ${file} (${(error as Error).message})`, {nextSteps: ['check the path']});
	}
	const kind = size === 0 ? 'empty' : sniffArchive(file);
	if (kind === 'empty') throw new ArchiveError(name, 'the file is empty');
	if (kind === 'unknown')
		throw new ArchiveError(name, 'it is neither gzip nor tar (a rethinkdb dump archive is a .tar.gz)');

	const infos = new Map<string, {ref: TableRef; info: TableInfo}>();
	const data = new Map<string, {ref: TableRef; documents: number; bytes: number; spool: string; spoolBytes: number}>();
	const ignored: string[] = [];
	let top: string | undefined;
	let spoolCount = 0;

	const source = createReadStream(file, {highWaterMark: 1024 * 1024});
	const extract = tar.extract();
	// tar-stream's streams are streamx streams, which node's pipeline drives like its own.
	const sink = extract as unknown as Writable;
	const stages: Array<Readable | Writable> = kind === 'gzip' ? [source, createGunzip(), sink] : [source, sink];
	const abort = () => extract.destroy(new CancelledError());
	options.signal?.addEventListener('abort', abort, {once: true});
	let streamFailure: Error | undefined;
	const flowing = pipeline(stages as [Readable, ...Writable[]]).catch((error: Error) => {
		streamFailure = error;
	});

	/** One entry, read whole (a problem with it is thrown only once it has been drained: tar-stream ends the archive with a destroyed entry). */
	const takeEntry = async (entry: Entry): Promise<void> => {
		const header = entry.header;
		if (header.type !== 'file' && header.type !== 'contiguous-file') return;
		const member = classifyMember(header.name);
		if (member.kind === 'ignored') {
			ignored.push(header.name);
			return;
		}
		if (member.kind === 'unsupported') throw new ArchiveError(name, member.reason);
		if (top === undefined) top = member.top;
		else if (member.top !== top)
			throw new ArchiveError(name, `it has two top folders (${top} and ${member.top}); a dump has one`);
		const ref = {db: member.db, table: member.table};
		const key = tableKey(ref);
		if (!isSelected(options.selection, ref)) return;
		const where = `${member.db}/${member.table}${member.kind === 'info' ? '.info' : '.json'}`;
		if (member.kind === 'info') {
			if (infos.has(key)) throw new ArchiveError(name, `${where} is in it twice`);
			if ((header.size ?? 0) > MAX_INFO_BYTES)
				throw new ArchiveError(name, `${where} is ${header.size} bytes, too large for a table description`);
			const chunks: Buffer[] = [];
			for await (const chunk of entry) chunks.push(chunk as Buffer);
			try {
				infos.set(key, {ref, info: parseTableInfo(Buffer.concat(chunks).toString('utf8'), where)});
			} catch (error) {
				throw new ArchiveError(name, (error as Error).message);
			}
			return;
		}
		if (data.has(key)) throw new ArchiveError(name, `${where} is in it twice`);
		const spool = path.join(
			options.spoolDir,
			`${String(++spoolCount).padStart(4, '0')}-${member.db}.${member.table}.jsonl`,
		);
		const record = {ref, documents: 0, bytes: 0, spool, spoolBytes: 0};
		data.set(key, record);
		record.spoolBytes = await spoolDocuments(entry as AsyncIterable<Uint8Array>, spool, where, (documents, bytes) => {
			record.documents = documents;
			record.bytes = bytes;
			options.onProgress?.(ref, documents, bytes, false);
		});
		options.onProgress?.(ref, record.documents, record.bytes, true);
	};

	// The first problem with the contents is kept while the rest of the
	// stream is still read (not parsed): a damaged gzip stream turns into
	// garbage before its checksum fails, and the checksum is the truer story.
	let contentFailure: ArchiveError | undefined;
	try {
		for await (const entry of extract) {
			if (!contentFailure) {
				try {
					await takeEntry(entry);
				} catch (error) {
					if (error instanceof ArchiveError) contentFailure = error;
					else if (error instanceof JsonArrayError) contentFailure = new ArchiveError(name, error.message);
					else throw error;
				}
			}
			entry.resume();
		}
		await flowing;
		if (streamFailure) throw streamFailure;
	} catch (error) {
		extract.destroy();
		source.destroy();
		await flowing;
		if (options.signal?.aborted) throw new CancelledError();
		if (error instanceof ExternalError) throw error;
		const cause = describeStreamError(firstCause(error as Error, streamFailure));
		throw new ArchiveError(
			name,
			cause,
			contentFailure ? {hint: `it looked like this first: ${contentFailure.message}`} : {},
		);
	} finally {
		options.signal?.removeEventListener('abort', abort);
	}
	if (contentFailure) throw contentFailure;

	const found = [...new Set([...infos.keys(), ...data.keys()])];
	if (found.length === 0) {
		const missing = unmatchedSelection(options.selection, []);
		throw new ArchiveError(
			name,
			options.selection
				? `it has no table matching --tables ${missing.join(',')}`
				: 'it holds no table (no <db>/<table>.json and .info)',
		);
	}
	const tables: ArchiveTable[] = [];
	for (const key of found.sort()) {
		const info = infos.get(key);
		const json = data.get(key);
		if (!info)
			throw new ArchiveError(
				name,
				`${key.replace('.', '/')}.json has no .info beside it (primary key and indexes unknown)`,
			);
		if (!json)
			throw new ArchiveError(
				name,
				`${key.replace('.', '/')}.info has no .json beside it (the table's documents are missing)`,
			);
		tables.push({
			...info.ref,
			info: info.info,
			documents: json.documents,
			bytes: json.bytes,
			spool: json.spool,
			spoolBytes: json.spoolBytes,
		});
	}
	const unmatched = unmatchedSelection(options.selection, tables);
	if (unmatched.length > 0)
		throw new ArchiveError(name, `--tables names what it does not hold: ${unmatched.join(', ')}`, {
			hint: `it holds ${tables.map(tableKey).join(', ')}`,
		});
	return {file, top: top!, tables, ignored};
}

/** gzip's own error says most (it is where a damaged file shows first); a stream closed because of it says least. */
function firstCause(caught: Error & {code?: string}, stream: (Error & {code?: string}) | undefined): Error {
	if (stream?.code?.startsWith('Z_')) return stream;
	if (caught.code === 'ERR_STREAM_PREMATURE_CLOSE' && stream) return stream;
	return caught;
}

/**
 * Parses one `.json` entry and writes its documents one per line, waiting
 * on the disk when it is slower; returns the bytes spooled. The entry is
 * read to its end even after a problem (see takeEntry), then the problem
 * is thrown.
 */
async function spoolDocuments(
	entry: AsyncIterable<Uint8Array>,
	spool: string,
	where: string,
	onProgress: (documents: number, bytes: number) => void,
): Promise<number> {
	const reader = new JsonArrayReader(where);
	const out = createWriteStream(spool, {highWaterMark: 1024 * 1024});
	const closed = once(out, 'close').catch(() => {});
	let failure: unknown;
	let bytes = 0;
	let spooled = 0;
	let lastReport = 0;
	try {
		for await (const chunk of entry) {
			if (failure) continue;
			bytes += chunk.length;
			try {
				const documents = reader.write(chunk);
				if (documents.length > 0) {
					let text = '';
					for (const document of documents) text += `${JSON.stringify(document)}\n`;
					spooled += Buffer.byteLength(text);
					if (!out.write(text)) await once(out, 'drain');
				}
			} catch (error) {
				failure =
					error instanceof JsonArrayError
						? error
						: new ExternalError(`could not write ${spool} (${(error as Error).message})`, {
								hint: "a restore spools the archive's documents to TMPDIR first: it needs about their size free there",
								nextSteps: ['free space, or point TMPDIR at a folder with room'],
							});
				continue;
			}
			const now = Date.now();
			if (now - lastReport >= 200) {
				lastReport = now;
				onProgress(reader.count, bytes);
			}
		}
		if (!failure) {
			try {
				reader.end();
			} catch (error) {
				failure = error;
			}
		}
		if (!failure) onProgress(reader.count, bytes);
	} finally {
		out.end();
		await closed;
	}
	if (failure) throw failure;
	return spooled;
}
