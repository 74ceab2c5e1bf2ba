import {
	createReadStream,
	createWriteStream,
	fsyncSync,
	openSync,
	closeSync,
	renameSync,
	rmSync,
	statSync,
} from 'node:fs';
import {once} from 'node:events';
import path from 'node:path';
import {pipeline} from 'node:stream/promises';
import {createGzip} from 'node:zlib';
import tar from 'tar-stream';
import {DATA_EXTENSION, INFO_EXTENSION, memberPath, renderTableInfo, type TableInfo, type TableRef} from './format.js';

/** Where an archive is written until it is complete: beside the final name, so the last step is a rename. */
export function partialName(file: string, pid = process.pid): string {
	return path.join(path.dirname(file), `.${path.basename(file)}.${pid}.partial`);
}

/**
 * A `.tar.gz` in `rethinkdb dump`'s layout, written as a stream: tar-stream
 * packs, zlib compresses, the bytes go to a partial file beside the final
 * name. Only `finish` renames it into place (after an fsync), so an
 * interrupted or failed backup never leaves a half archive under the name
 * asked for; `abort` removes the partial file.
 */
export class ArchiveWriter {
	private readonly pack = tar.pack();
	private readonly flowing: Promise<void>;
	private failure?: Error;
	private readonly partial: string;
	/** Compressed bytes written so far. */
	written = 0;

	private constructor(
		readonly file: string,
		readonly top: string,
		readonly mtime: Date,
	) {
		this.partial = partialName(file);
		const out = createWriteStream(this.partial, {flags: 'wx', mode: 0o600});
		const gzip = createGzip({level: 6});
		gzip.on('data', (chunk: Buffer) => {
			this.written += chunk.length;
		});
		this.flowing = pipeline(this.pack, gzip, out).catch((error: Error) => {
			this.failure = error;
		});
	}

	/** Opens the partial file (refusing to replace one a running backup holds). */
	static create(file: string, top: string, mtime = new Date()): ArchiveWriter {
		return new ArchiveWriter(file, top, mtime);
	}

	/** Adds one table: its `.info` first (a streaming reader can set the table up before its documents arrive), then its `.json`. */
	async addTable(ref: TableRef, info: TableInfo, jsonFile: string): Promise<void> {
		const infoText = Buffer.from(renderTableInfo(info));
		await this.entry(memberPath(this.top, ref.db, ref.table, INFO_EXTENSION), infoText.length, async writable => {
			writable.end(infoText);
		});
		const size = statSync(jsonFile).size;
		await this.entry(memberPath(this.top, ref.db, ref.table, DATA_EXTENSION), size, async writable => {
			// By hand rather than stream.pipeline: the entry is a streamx stream, which speaks write/drain/end.
			for await (const chunk of createReadStream(jsonFile, {highWaterMark: 1024 * 1024})) {
				if (!writable.write(chunk as Buffer)) await once(writable, 'drain');
			}
			writable.end();
		});
	}

	private async entry(
		name: string,
		size: number,
		write: (writable: NodeJS.WritableStream) => Promise<void>,
	): Promise<void> {
		if (this.failure) throw this.failure;
		let done!: () => void;
		let failed!: (error: Error) => void;
		const added = new Promise<void>((resolve, reject) => {
			done = resolve;
			failed = reject;
		});
		const writable = this.pack.entry(
			{name, size, mode: 0o644, mtime: this.mtime, uid: 0, gid: 0, type: 'file'},
			error => (error ? failed(error) : done()),
		);
		await Promise.all([write(writable as unknown as NodeJS.WritableStream), added]);
		if (this.failure) throw this.failure;
	}

	/** Ends the tar and the gzip stream, syncs the file and renames it to its final name. */
	async finish(): Promise<void> {
		this.pack.finalize();
		await this.flowing;
		if (this.failure) {
			await this.abort();
			throw this.failure;
		}
		const fd = openSync(this.partial, 'r');
		try {
			fsyncSync(fd);
		} finally {
			closeSync(fd);
		}
		renameSync(this.partial, this.file);
	}

	/** Stops writing and removes the partial file; the final name is never touched. */
	async abort(): Promise<void> {
		this.pack.destroy();
		// The file stream opens asynchronously: wait for it to close, or the file could appear after its removal.
		await this.flowing;
		rmSync(this.partial, {force: true});
	}
}
