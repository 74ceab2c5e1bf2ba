import {closeSync, createReadStream, fstatSync, open, openSync, read, readSync} from 'node:fs';
import path from 'node:path';
import {Writable, type Readable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {createGunzip} from 'node:zlib';
import tar from 'tar-stream';
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
import {DEFAULT_LIMITS, JsonArrayError, JsonArrayScanner, JsonLimitError, type DocumentLimits} from './json-array.js';

type Entry = AsyncIterable<Uint8Array> & {header: tar.Header; resume(): unknown};

/** One table found in an archive, checked whole. */
export interface ArchiveTable extends TableRef {
	info: TableInfo;
	documents: number;
	/** Size of its `.json` in the archive (uncompressed). */
	bytes: number;
	/** The largest document, as an insert query carries it (bytes). */
	largestQueryBytes: number;
	/** The longest array in any of its documents. */
	longestArray: number;
}

export interface ArchiveManifest {
	file: string;
	top: string;
	tables: ArchiveTable[];
	/** Entries skipped, as `rethinkdb restore` skips them (not .json/.info, outside the folder, folders). */
	ignored: string[];
}

export interface ReadArchiveOptions {
	selection?: TableSelection;
	signal?: AbortSignal;
	limits?: DocumentLimits;
	/** Check objects for a key given twice, and strings byte by byte (default on; off for a backup's own read back: the server wrote those). */
	strict?: boolean;
	/** Documents and bytes read so far of one table's `.json`. */
	onProgress?: (table: TableRef, documents: number, bytes: number, done: boolean) => void;
}

/** A table description larger than this is not one (index functions are a few KiB). */
export const MAX_INFO_BYTES = 16 * 1024 * 1024;

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

/** What a tar entry is, in words, when it is not a regular file. */
function describeEntryType(header: tar.Header): string {
	switch (header.type) {
		case 'symlink':
			return `a symbolic link (to ${printable(header.linkname ?? '?')})`;
		case 'link':
			return `a hard link (to ${printable(header.linkname ?? '?')})`;
		case 'fifo':
			return 'a FIFO (named pipe)';
		case 'character-device':
			return 'a character device';
		case 'block-device':
			return 'a block device';
		case 'directory':
			return 'a directory';
		default:
			return `an entry of type ${printable(String(header.type))}`;
	}
}

/** Text from an archive, with control characters (terminal escapes, CR) made visible. */
export function printable(text: string): string {
	// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is removed
	return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

interface WalkOptions extends ReadArchiveOptions {
	/** Hand out each table's documents (the restore); without it they are only checked. */
	onDocuments?: (table: TableRef, documents: Buffer[]) => Promise<void>;
	/** Before a table's documents (the restore sets the table up). */
	onTableStart?: (table: TableRef) => Promise<void>;
}

interface WalkResult {
	top: string | undefined;
	infos: Map<string, {ref: TableRef; info: TableInfo}>;
	data: Map<string, {ref: TableRef; documents: number; bytes: number; largestQueryBytes: number; longestArray: number}>;
	ignored: string[];
}

/**
 * Reads an archive through once: gzip and tar integrity (gzip's CRC and
 * length, tar's header checksums, no early end), every `.info` parses and
 * says only what RethinkDB accepts, every `.json` is one complete array of
 * documents within RethinkDB's limits, each checked byte by byte and never
 * held whole. Entries that are not regular files in a table file's place
 * are refused as what they are. Memory holds a chunk of the stream (and, when
 * documents are handed out, one batch of them), whatever the archive holds.
 */
async function walkArchive(file: string, options: WalkOptions): Promise<WalkResult> {
	const name = path.basename(file);
	let size: number;
	// Opened once, and that descriptor is what is read: a path swapped for a FIFO or a device after the check is not followed.
	let fd: number;
	try {
		fd = openSync(file, 'r');
	} catch (error) {
		throw new ArchiveError(name, `cannot read ${file} (${(error as Error).message})`, {nextSteps: ['check the path']});
	}
	try {
		const stat = fstatSync(fd);
		if (!stat.isFile()) throw new ArchiveError(name, `${file} is not a regular file`);
		size = stat.size;
	} catch (error) {
		closeSync(fd);
		throw error;
	}
	const kind = size === 0 ? 'empty' : sniffArchive(file);
	if (kind === 'empty') {
		closeSync(fd);
		throw new ArchiveError(name, 'the file is empty');
	}
	if (kind === 'unknown') {
		closeSync(fd);
		throw new ArchiveError(name, 'it is neither gzip nor tar (a rethinkdb dump archive is a .tar.gz)');
	}

	const result: WalkResult = {top: undefined, infos: new Map(), data: new Map(), ignored: []};
	const limits = options.limits ?? DEFAULT_LIMITS;
	// The descriptor stays open until the end: a broken tar stream inside a gzip one is read again for gzip's own check.
	// Positional reads (start: 0): no read of this stream moves the descriptor's offset.
	const source = createReadStream('', {fd, start: 0, highWaterMark: 1024 * 1024, fs: keepOpen});
	const extract = tar.extract();
	// tar-stream's streams are streamx streams, which node's pipeline drives like its own.
	const sink = extract as unknown as Writable;
	const stages: Array<Readable | Writable> =
		kind === 'gzip' ? [source, createGunzip({chunkSize: 1024 * 1024}), sink] : [source, sink];
	const abort = () => extract.destroy(new CancelledError());
	options.signal?.addEventListener('abort', abort, {once: true});
	let streamFailure: Error | undefined;
	const flowing = pipeline(stages as [Readable, ...Writable[]]).catch((error: Error) => {
		streamFailure = error;
	});

	/** Runs the caller's own work (the database, in a restore): its errors are passed on as they are. */
	const passOn = async (work: () => Promise<void> | undefined): Promise<void> => {
		try {
			await work();
		} catch (error) {
			foreign = error;
			throw error;
		}
	};
	/** An error of the caller's: passed on as it is. */
	let foreign: unknown;

	const takeEntry = async (entry: Entry): Promise<void> => {
		const header = entry.header;
		const member = classifyMember(header.name);
		if (member.kind === 'ignored') {
			result.ignored.push(printable(header.name));
			return;
		}
		if (member.kind === 'unsupported') {
			if (header.type === 'directory') {
				result.ignored.push(printable(header.name));
				return;
			}
			throw new ArchiveError(name, printable(member.reason));
		}
		const where = `${member.db}/${member.table}${member.kind === 'info' ? '.info' : '.json'}`;
		if (header.type !== 'file' && header.type !== 'contiguous-file')
			throw new ArchiveError(
				name,
				`${where} is ${describeEntryType(header)}, not a file: a dump holds its tables as regular files`,
				{nextSteps: ['use the archive swarmbee backup or rethinkdb dump wrote, as it was written']},
			);
		if (result.top === undefined) result.top = member.top;
		else if (member.top !== result.top)
			throw new ArchiveError(name, `it has two top folders (${result.top} and ${member.top}); a dump has one`);
		const ref = {db: member.db, table: member.table};
		const key = tableKey(ref);
		if (!isSelected(options.selection, ref)) return;
		if (member.kind === 'info') {
			if (result.infos.has(key)) throw new ArchiveError(name, `${where} is in it twice`);
			if ((header.size ?? 0) > MAX_INFO_BYTES)
				throw new ArchiveError(
					name,
					`${where} is ${(header.size ?? 0).toLocaleString('en-US')} bytes, too large for a table description`,
				);
			const chunks: Buffer[] = [];
			for await (const chunk of entry) chunks.push(chunk as Buffer);
			try {
				result.infos.set(key, {ref, info: parseTableInfo(Buffer.concat(chunks).toString('utf8'), where)});
			} catch (error) {
				throw new ArchiveError(name, printable((error as Error).message));
			}
			return;
		}
		if (result.data.has(key)) throw new ArchiveError(name, `${where} is in it twice`);
		const record = {ref, documents: 0, bytes: 0, largestQueryBytes: 0, longestArray: 0};
		result.data.set(key, record);
		await passOn(() => options.onTableStart?.(ref));
		const scanner = new JsonArrayScanner(
			where,
			limits,
			Boolean(options.onDocuments),
			options.strict ?? true,
			options.strict ?? true,
		);
		let lastReport = 0;
		let problem: JsonArrayError | undefined;
		for await (const chunk of entry) {
			record.bytes += chunk.length;
			// After a problem the entry is still read to its end (not scanned): see the loop below.
			if (problem) continue;
			let documents: Buffer[];
			try {
				documents = scanner.write(chunk);
			} catch (error) {
				// Over a limit (a bomb), or in a restore: stop reading at once.
				if (!(error instanceof JsonArrayError) || error instanceof JsonLimitError || options.onDocuments) throw error;
				problem = error;
				continue;
			}
			if (documents.length > 0) await passOn(() => options.onDocuments?.(ref, documents));
			const now = Date.now();
			if (now - lastReport >= 200) {
				lastReport = now;
				options.onProgress?.(ref, scanner.documents, record.bytes, false);
			}
		}
		if (problem) throw problem;
		scanner.end();
		record.documents = scanner.documents;
		record.largestQueryBytes = scanner.totals.largestQueryBytes;
		record.longestArray = scanner.totals.longestArray;
		options.onProgress?.(ref, record.documents, record.bytes, true);
	};

	// The first problem with the contents is kept while the rest of the
	// stream is still read (not parsed): a damaged gzip stream turns into
	// garbage before its checksum fails, and the checksum is the truer story.
	// When documents are handed out (a restore), the first problem stops at once.
	let contentFailure: ArchiveError | undefined;
	try {
		for await (const entry of extract as AsyncIterable<Entry>) {
			if (!contentFailure) {
				try {
					await takeEntry(entry);
				} catch (error) {
					if (error instanceof ArchiveError) contentFailure = error;
					else if (error instanceof JsonArrayError) contentFailure = new ArchiveError(name, error.message);
					else throw error;
					// A restore stops at its first problem, and so does every reader at a limit: the rest could be a bomb.
					if (options.onDocuments || error instanceof JsonLimitError) throw contentFailure;
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
		if (foreign !== undefined) throw foreign;
		if (error instanceof ExternalError || error instanceof ArchiveError) throw error;
		let first = firstCause(error as Error, streamFailure);
		let looked = contentFailure?.message;
		// tar gave up before gzip reached its checksum (a damaged header stops the stream): gzip's verdict on the whole file comes first.
		if (kind === 'gzip' && !(first as {code?: string}).code?.startsWith('Z_')) {
			const gzipFailure = await gzipCheck(fd);
			if (gzipFailure) {
				looked ??= describeStreamError(first);
				first = gzipFailure;
			}
		}
		throw new ArchiveError(
			name,
			describeStreamError(first),
			looked ? {hint: `it looked like this first: ${looked}`} : {},
		);
	} finally {
		options.signal?.removeEventListener('abort', abort);
		// Closed only once no read of the stream is in flight: a read left pending on a closed
		// descriptor would land on whatever file the next open is given that number.
		await closedStream(source);
		closeSync(fd);
	}
	if (contentFailure) throw contentFailure;
	return result;
}

/**
 * Checks a whole archive before anything is written anywhere (see
 * walkArchive): every table it holds (or `--tables` selects) with both its
 * files, its description and its documents within RethinkDB's limits.
 * Throws ArchiveError for any problem, naming the file and the entry.
 */
export async function readArchive(file: string, options: ReadArchiveOptions = {}): Promise<ArchiveManifest> {
	const name = path.basename(file);
	const {top, infos, data, ignored} = await walkArchive(file, options);
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
			largestQueryBytes: json.largestQueryBytes,
			longestArray: json.longestArray,
		});
	}
	const unmatched = unmatchedSelection(options.selection, tables);
	if (unmatched.length > 0)
		throw new ArchiveError(name, `--tables names what it does not hold: ${unmatched.join(', ')}`, {
			hint: `it holds ${tables.map(tableKey).join(', ')}`,
		});
	return {file, top: top!, tables, ignored};
}

/**
 * Reads a checked archive a second time and hands each selected table's
 * documents out, in batches as they are read, each one's JSON text as it
 * is in the archive. Every byte is checked again (the file could have
 * changed since), and each table must hold exactly what the check counted.
 */
export async function replayArchive(
	manifest: ArchiveManifest,
	options: ReadArchiveOptions & {
		onTableStart: (table: ArchiveTable) => Promise<void>;
		onDocuments: (table: ArchiveTable, documents: Buffer[]) => Promise<void>;
	},
): Promise<void> {
	const byKey = new Map(manifest.tables.map(t => [tableKey(t), t]));
	const selection: TableSelection = {databases: new Set(), tables: new Set(byKey.keys())};
	let data: WalkResult['data'];
	try {
		({data} = await walkArchive(manifest.file, {
			...options,
			selection,
			onTableStart: ref => options.onTableStart(byKey.get(tableKey(ref))!),
			onDocuments: (ref, documents) => options.onDocuments(byKey.get(tableKey(ref))!, documents),
		}));
	} catch (error) {
		// It passed the check a moment ago: a problem now means the file changed, and the cluster may have been written to.
		if (error instanceof ArchiveError)
			throw new ExternalError(`${error.message.replace(/ cannot be restored: /, ' changed while being restored: ')}`, {
				hint: error.hint,
				cause: error,
			});
		throw error;
	}
	for (const table of manifest.tables) {
		const seen = data.get(tableKey(table));
		if (seen?.documents !== table.documents)
			throw new ExternalError(
				`${path.basename(manifest.file)} changed while being restored: ${tableKey(table)} held ${table.documents} documents when checked, ${seen?.documents ?? 0} now`,
			);
	}
}

/** gzip's own error says most (it is where a damaged file shows first); a stream closed because of it says least. */
/** File streams that read a descriptor but leave closing it to its owner (a destroyed stream closes its descriptor otherwise). */
const keepOpen = {
	open,
	read,
	close: (_fd: number, done: (error: NodeJS.ErrnoException | null) => void) => done(null),
};

/** Resolves once a file stream has let go of its descriptor (destroyed first when it has not ended). */
function closedStream(stream: ReturnType<typeof createReadStream>): Promise<void> {
	if (stream.closed) return Promise.resolve();
	return new Promise(resolve => {
		stream.once('close', () => resolve());
		stream.destroy();
	});
}

/** Reads the whole file at fd through gunzip alone: gzip's own error (CRC, length, early end, bad data), or none. */
async function gzipCheck(fd: number): Promise<Error | undefined> {
	const again = createReadStream('', {fd, start: 0, highWaterMark: 1024 * 1024, fs: keepOpen});
	// Into a sink: the pipeline then ends only after gunzip's own end, when the CRC and length were checked
	// (a pipeline ending in the gunzip itself settles at its 'finish', before that check reports).
	const discard = new Writable({write: (_chunk, _encoding, done) => done()});
	try {
		await pipeline(again, createGunzip({chunkSize: 1024 * 1024}), discard);
		return undefined;
	} catch (error) {
		return error as Error;
	} finally {
		await closedStream(again);
	}
}

function firstCause(caught: Error & {code?: string}, stream: (Error & {code?: string}) | undefined): Error {
	if (stream?.code?.startsWith('Z_')) return stream;
	if (caught.code === 'ERR_STREAM_PREMATURE_CLOSE' && stream) return stream;
	return caught;
}
