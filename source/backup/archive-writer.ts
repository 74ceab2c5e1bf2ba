import {open, rename, rm, type FileHandle} from 'node:fs/promises';
import path from 'node:path';
import {promisify} from 'node:util';
import {constants, crc32, deflateRaw, deflateRawSync} from 'node:zlib';
import {crc32_combine, ready as crcReady} from '@balena/node-crc-utils';
import {DATA_EXTENSION, INFO_EXTENSION, memberPath, renderTableInfo, type TableInfo, type TableRef} from './format.js';

const BLOCK = 512;
/** Uncompressed bytes handed to the compressor at once: each is compressed independently, in the thread pool. */
const PIECE_BYTES = 1024 * 1024;
/** Pieces compressing or waiting for the disk at once: memory stays at a few MiB, both cores can compress. */
const PIECES_IN_FLIGHT = 4;
/** gzip level: 1 (fastest) to 9; the official dump uses Python's default, 9, and is slower for it. */
export const DEFAULT_LEVEL = 3;

const deflatePiece = promisify(deflateRaw) as (buffer: Buffer, options: object) => Promise<Buffer>;

/** Where an archive is written until it is complete: beside the final name, so the last step is a rename. */
export function partialName(file: string, pid = process.pid): string {
	return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.partial`);
}

/** A write of the archive failed: which file, why (a full disk said as such), and how much was written. */
export class ArchiveWriteError extends Error {
	constructor(
		readonly file: string,
		readonly code: string | undefined,
		readonly written: number,
		cause: unknown,
	) {
		super(
			code === 'ENOSPC' || code === 'EDQUOT'
				? `the disk holding ${path.dirname(file)} is full${code === 'EDQUOT' ? ' (over quota)' : ''}`
				: `could not write ${file}: ${(cause as Error).message}`,
			{cause},
		);
	}
}

/**
 * A ustar header (with a PAX record first when the name does not fit in
 * ustar's 100 + 155 bytes), as GNU tar, Python's tarfile and tar-stream read
 * it. Sizes past ustar's 8 GiB use the base-256 form those readers accept.
 */
export function tarHeader(name: string, size: number, mtime: Date): Buffer {
	const bytes = Buffer.from(name, 'utf8');
	let short = name;
	let prefix = '';
	let pax: Buffer | undefined;
	if (bytes.length > 100) {
		const cut = name.lastIndexOf('/', name.length - 1);
		const fits =
			cut > 0 && Buffer.byteLength(name.slice(0, cut)) <= 155 && Buffer.byteLength(name.slice(cut + 1)) <= 100;
		if (fits) {
			prefix = name.slice(0, cut);
			short = name.slice(cut + 1);
		} else {
			pax = paxRecord('path', name);
			short = Buffer.from(path.posix.basename(name)).subarray(0, 100).toString('latin1');
		}
	}
	const header = ustarBlock(short, prefix, size, mtime, '0');
	if (!pax) return header;
	const paxHeader = ustarBlock(`PaxHeader/${short}`.slice(0, 100), '', pax.length, mtime, 'x');
	return Buffer.concat([paxHeader, pad(pax), header]);
}

function paxRecord(key: string, value: string): Buffer {
	// "<length> key=value\n", the length counting its own digits.
	const body = Buffer.byteLength(` ${key}=${value}\n`);
	let length = body + String(body).length;
	while (String(length).length + body !== length) length = body + String(length).length;
	return Buffer.from(`${length} ${key}=${value}\n`);
}

function pad(data: Buffer): Buffer {
	const rest = data.length % BLOCK;
	return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

function ustarBlock(name: string, prefix: string, size: number, mtime: Date, type: string): Buffer {
	const block = Buffer.alloc(BLOCK);
	block.write(name, 0, 100, 'utf8');
	block.write('0000644\0', 100, 'latin1');
	block.write('0000000\0', 108, 'latin1');
	block.write('0000000\0', 116, 'latin1');
	if (size < 8 ** 11) block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
	else {
		// base-256: the high bit of the first byte, then the size big-endian.
		block[124] = 0x80;
		let rest = size;
		for (let i = 135; i > 124; i--) {
			block[i] = rest % 256;
			rest = Math.floor(rest / 256);
		}
	}
	block.write(
		`${Math.floor(mtime.getTime() / 1000)
			.toString(8)
			.padStart(11, '0')}\0`,
		136,
		'latin1',
	);
	block.write(type, 156, 'latin1');
	block.write('ustar\0', 257, 'latin1');
	block.write('00', 263, 'latin1');
	block.write(prefix, 345, 155, 'utf8');
	block.fill(0x20, 148, 156);
	let sum = 0;
	for (const byte of block) sum += byte;
	block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
	return block;
}

/** A deflate stored block holding `length` zero bytes, to be overwritten later: `00`, LEN, NLEN (little-endian), the bytes. */
function storedBlock(length: number): Buffer {
	const block = Buffer.alloc(5 + length);
	block.writeUInt16LE(length, 1);
	block.writeUInt16LE(~length & 0xffff, 3);
	return block;
}

/** One table's `.json` being written; `end` gives its size and puts the real tar header in place. */
export interface TableEntry {
	/** Appends text of the table's JSON array; resolves when there is room for more (backpressure). */
	write(text: string | Buffer): Promise<void>;
	end(): Promise<{bytes: number}>;
}

/**
 * A `.tar.gz` in `rethinkdb dump`'s layout, written as it is read, with no
 * spool file anywhere: each table's documents are compressed as they come,
 * 1 MiB at a time, each piece an independent raw-deflate stream ending in a
 * full flush (the way pigz compresses on several cores), all of them one
 * gzip member that any gunzip, Python's tarfile and `rethinkdb restore` read.
 * A tar entry must state its size before its data, which a table being read
 * does not know yet: its header goes out as a deflate *stored* block of
 * zeros, overwritten in place once the table ends, and the gzip CRC is
 * mended with zlib's crc32_combine.
 *
 * Everything goes to a partial file beside the final name (`.NAME.PID.partial`),
 * which only `commit` renames into place: an interrupted or failed backup
 * never leaves an archive under the name asked for, and `abort` removes the
 * partial file. Every write error (a full disk) is thrown to the caller.
 */
export class ArchiveWriter {
	/** Compressed bytes written so far. */
	written = 0;
	/** Uncompressed (tar) bytes so far. */
	private size = 0;
	private position = 0;
	private crc = 0;
	/** Uncompressed bytes since the last placeholder (for crc32_combine). */
	private segment = 0;
	private chain: Promise<void> = Promise.resolve();
	private readonly window: Array<Promise<void>> = [];
	private failure?: Error;
	private open = false;
	readonly partial: string;

	private constructor(
		readonly file: string,
		readonly top: string,
		readonly mtime: Date,
		private readonly handle: FileHandle,
		private readonly level: number,
	) {
		this.partial = partialName(file);
	}

	/** Opens the partial file (refusing to replace one a running backup holds) and writes the gzip header. */
	static async create(
		file: string,
		top: string,
		mtime = new Date(),
		options: {level?: number} = {},
	): Promise<ArchiveWriter> {
		await crcReady;
		const partial = partialName(file);
		let handle: FileHandle;
		try {
			handle = await open(partial, 'wx', 0o600);
		} catch (error) {
			throw new ArchiveWriteError(partial, (error as NodeJS.ErrnoException).code, 0, error);
		}
		const writer = new ArchiveWriter(file, top, mtime, handle, options.level ?? DEFAULT_LEVEL);
		// gzip member header: magic, deflate, no flags, mtime, no extra flags, OS unix.
		const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
		header.writeUInt32LE(Math.floor(mtime.getTime() / 1000) >>> 0, 4);
		writer.enqueue(Promise.resolve(header));
		return writer;
	}

	/** Adds a table: its `.info` (complete), then its `.json`, whose text the returned entry takes. */
	async beginTable(ref: TableRef, info: TableInfo): Promise<TableEntry> {
		if (this.open) throw new Error('one table at a time');
		this.open = true;
		const infoText = Buffer.from(renderTableInfo(info));
		await this.append(
			Buffer.concat([
				tarHeader(memberPath(this.top, ref.db, ref.table, INFO_EXTENSION), infoText.length, this.mtime),
				pad(infoText),
			]),
		);
		const name = memberPath(this.top, ref.db, ref.table, DATA_EXTENSION);
		const headerLength = tarHeader(name, 0, this.mtime).length;
		let placeholderAt = -1;
		const crcBefore = this.crc;
		await this.admit(this.enqueue(Promise.resolve(storedBlock(headerLength)), at => (placeholderAt = at + 5)));
		this.size += headerLength;
		this.crc = 0;
		this.segment = 0;

		let parts: Buffer[] = [];
		let pending = 0;
		let bytes = 0;
		const flush = async () => {
			if (pending === 0) return;
			const buffer = parts.length === 1 ? parts[0]! : Buffer.concat(parts, pending);
			parts = [];
			pending = 0;
			bytes += buffer.length;
			await this.append(buffer);
		};
		return {
			write: async chunk => {
				const buffer = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
				parts.push(buffer);
				pending += buffer.length;
				if (pending >= PIECE_BYTES) await flush();
			},
			end: async () => {
				await flush();
				const rest = bytes % BLOCK;
				if (rest !== 0) await this.append(Buffer.alloc(BLOCK - rest));
				await this.drain();
				const header = tarHeader(name, bytes, this.mtime);
				if (header.length !== headerLength || placeholderAt < 0) throw new Error('the tar header changed size');
				await this.writeAt(header, placeholderAt);
				const dataCrc = this.crc;
				this.crc = crc32_combine(crc32(header, crcBefore), dataCrc, this.segment).readUInt32LE(0);
				this.open = false;
				return {bytes};
			},
		};
	}

	/** Ends the tar (two zero blocks) and the gzip member (final block, CRC, size), and syncs the file. */
	async close(): Promise<void> {
		if (this.open) throw new Error('a table is still open');
		await this.append(Buffer.alloc(2 * BLOCK));
		const trailer = Buffer.alloc(8);
		trailer.writeUInt32LE(this.crc >>> 0, 0);
		trailer.writeUInt32LE(this.size % 2 ** 32, 4);
		await this.admit(this.enqueue(Promise.resolve(Buffer.concat([deflateRawSync(Buffer.alloc(0)), trailer]))));
		await this.drain();
		try {
			await this.handle.sync();
		} catch (error) {
			throw this.writeError(error);
		}
		await this.handle.close();
	}

	/** Puts the finished, checked archive under its final name. */
	async commit(): Promise<void> {
		await rename(this.partial, this.file);
	}

	/** Stops writing and removes the partial file; the final name is never touched. */
	async abort(): Promise<void> {
		this.failure ??= new Error('aborted');
		await this.chain.catch(() => {});
		await this.handle.close().catch(() => {});
		await rm(this.partial, {force: true});
	}

	private async append(data: Buffer): Promise<void> {
		this.crc = crc32(data, this.crc);
		this.segment += data.length;
		this.size += data.length;
		// One output buffer for the whole piece: zlib's default 16 KiB chunks cost the main thread a callback and a copy each.
		const compressed = deflatePiece(data, {
			level: this.level,
			finishFlush: constants.Z_FULL_FLUSH,
			chunkSize: data.length + 1024,
		});
		compressed.catch(() => {});
		await this.admit(this.enqueue(compressed));
	}

	/** Holds the caller while too many pieces are in flight; throws the first failure. */
	private async admit(written: Promise<void>): Promise<void> {
		this.window.push(written);
		while (this.window.length >= PIECES_IN_FLIGHT) await this.window.shift();
		if (this.failure) throw this.failure;
	}

	private async drain(): Promise<void> {
		while (this.window.length > 0) await this.window.shift();
		if (this.failure) throw this.failure;
	}

	/** Writes pieces in the order they were enqueued, whatever order they finish compressing in. */
	private enqueue(piece: Promise<Buffer>, onWritten?: (at: number) => void): Promise<void> {
		const written = this.chain.then(async () => {
			if (this.failure) throw this.failure;
			const buffer = await piece;
			const at = this.position;
			await this.writeAt(buffer, at);
			this.position += buffer.length;
			this.written += buffer.length;
			onWritten?.(at);
		});
		this.chain = written.catch(error => {
			this.failure ??= error as Error;
		});
		written.catch(() => {});
		return written;
	}

	private async writeAt(buffer: Buffer, at: number): Promise<void> {
		let done = 0;
		try {
			while (done < buffer.length) {
				const {bytesWritten} = await this.handle.write(buffer, done, buffer.length - done, at + done);
				done += bytesWritten;
			}
		} catch (error) {
			throw this.writeError(error);
		}
	}

	private writeError(error: unknown): ArchiveWriteError {
		return error instanceof ArchiveWriteError
			? error
			: new ArchiveWriteError(this.partial, (error as NodeJS.ErrnoException).code, this.written, error);
	}
}
