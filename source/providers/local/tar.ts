/**
 * A minimal ustar writer, enough to hand `docker cp -` a few files with exact
 * modes and root ownership: node host keys and authorized_keys go straight
 * from memory into a container, never through a temporary file.
 */

export interface TarEntry {
	/** Path inside the archive, without a leading slash (e.g. `etc/ssh/x`). */
	path: string;
	mode: number;
	/** File contents; absent for a directory. */
	contents?: string | Buffer;
}

function octal(value: number, width: number): string {
	return `${value.toString(8).padStart(width - 1, '0')}\0`;
}

function header(entry: TarEntry, size: number, mtime: number): Buffer {
	const block = Buffer.alloc(512, 0);
	const isDirectory = entry.contents === undefined;
	const name = isDirectory && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
	if (Buffer.byteLength(name) > 100) throw new Error(`tar path too long: ${name}`);
	block.write(name, 0, 100, 'utf8');
	block.write(octal(entry.mode & 0o7777, 8), 100, 8, 'ascii');
	block.write(octal(0, 8), 108, 8, 'ascii'); // uid root
	block.write(octal(0, 8), 116, 8, 'ascii'); // gid root
	block.write(octal(size, 12), 124, 12, 'ascii');
	block.write(octal(mtime, 12), 136, 12, 'ascii');
	block.write('        ', 148, 8, 'ascii'); // checksum placeholder
	block.write(isDirectory ? '5' : '0', 156, 1, 'ascii');
	block.write('ustar\0', 257, 6, 'ascii');
	block.write('00', 263, 2, 'ascii');
	block.write('root', 265, 32, 'ascii');
	block.write('root', 297, 32, 'ascii');
	let sum = 0;
	for (const byte of block) sum += byte;
	block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
	return block;
}

export function tarArchive(entries: TarEntry[], mtime = Math.floor(Date.now() / 1000)): Buffer {
	const parts: Buffer[] = [];
	for (const entry of entries) {
		const body = entry.contents === undefined ? Buffer.alloc(0) : Buffer.from(entry.contents);
		parts.push(header(entry, body.length, mtime));
		if (body.length > 0) {
			parts.push(body);
			const padding = (512 - (body.length % 512)) % 512;
			if (padding) parts.push(Buffer.alloc(padding, 0));
		}
	}
	parts.push(Buffer.alloc(1024, 0));
	return Buffer.concat(parts);
}
