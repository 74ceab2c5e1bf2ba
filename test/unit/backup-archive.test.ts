import {
	copyFileSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	truncateSync,
	writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {gzipSync} from 'node:zlib';
import tar from 'tar-stream';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {readArchive} from '../../source/backup/archive-reader.js';
import {ArchiveWriter, partialName} from '../../source/backup/archive-writer.js';
import {ArchiveError} from '../../source/backup/errors.js';
import {JSON_ARRAY, parseTableSelection, type TableInfo} from '../../source/backup/format.js';
import {resolveArchivePath} from '../../source/commands/backup.js';

const INFO: TableInfo = {
	db: {name: 'app'},
	name: 'orders',
	primary_key: 'id',
	indexes: [{index: 'customer', function: {$reql_type$: 'BINARY', data: 'AAE='}}],
	write_hook: null,
};

let dir: string;
beforeEach(() => {
	dir = mkdtempSync(path.join(tmpdir(), 'sb-backup-'));
});
afterEach(() => rmSync(dir, {recursive: true, force: true}));

function jsonFile(name: string, documents: unknown[]): string {
	const file = path.join(dir, name);
	writeFileSync(
		file,
		documents.length === 0
			? `${JSON_ARRAY.open}${JSON_ARRAY.close}`
			: `${JSON_ARRAY.open}${JSON_ARRAY.first}${documents.map(d => JSON.stringify(d)).join(JSON_ARRAY.between)}${JSON_ARRAY.close}`,
	);
	return file;
}

async function writeArchive(
	file: string,
	tables: Array<{db: string; table: string; documents: unknown[]; info?: TableInfo}>,
): Promise<void> {
	const writer = ArchiveWriter.create(file, 'rethinkdb_dump_2026-12-01T20:13:46');
	for (const t of tables)
		await writer.addTable(t, {...(t.info ?? INFO), name: t.table}, jsonFile(`${t.db}.${t.table}.src`, t.documents));
	await writer.finish();
}

/** A .tar.gz made by hand, entries as given (to make archives our writer never would). */
async function handMade(file: string, entries: Array<{name: string; text: string}>, gzip = true): Promise<void> {
	const pack = tar.pack();
	const chunks: Buffer[] = [];
	pack.on('data', chunk => chunks.push(chunk as Buffer));
	const ended = new Promise<void>(resolve => pack.on('end', () => resolve()));
	for (const e of entries) pack.entry({name: e.name}, e.text);
	pack.finalize();
	await ended;
	writeFileSync(file, gzip ? gzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks));
}

const spool = () => mkdtempSync(path.join(dir, 'spool-'));
const orders = Array.from({length: 1000}, (_, i) => ({id: i, customer: `c${i % 7}`, note: 'x'.repeat(i % 50)}));

describe('ArchiveWriter and readArchive', () => {
	it('write the dump layout and read it back: infos, document counts, spooled documents', async () => {
		const file = path.join(dir, 'a.tar.gz');
		await writeArchive(file, [
			{db: 'app', table: 'orders', documents: orders},
			{db: 'app', table: 'empty', documents: []},
			{db: 'logs', table: 'events', documents: [{id: 'e1'}]},
		]);
		const progress: string[] = [];
		const manifest = await readArchive(file, {
			spoolDir: spool(),
			onProgress: (t, documents, _bytes, done) => done && progress.push(`${t.db}.${t.table}:${documents}`),
		});
		expect(manifest.top).toBe('rethinkdb_dump_2026-12-01T20:13:46');
		expect(manifest.tables.map(t => [t.db, t.table, t.documents])).toEqual([
			['app', 'empty', 0],
			['app', 'orders', 1000],
			['logs', 'events', 1],
		]);
		expect(progress.sort()).toEqual(['app.empty:0', 'app.orders:1000', 'logs.events:1']);
		const spooled = readFileSync(manifest.tables[1]!.spool, 'utf8')
			.trim()
			.split('\n')
			.map(line => JSON.parse(line));
		expect(spooled).toEqual(orders);
		expect(manifest.tables[1]!.info.indexes[0]!.index).toBe('customer');
		expect(manifest.tables[1]!.bytes).toBe(readFileSync(path.join(dir, 'app.orders.src')).length);
	});

	it('reads only the tables --tables names, and says which names it does not hold', async () => {
		const file = path.join(dir, 'a.tar.gz');
		await writeArchive(file, [
			{db: 'app', table: 'orders', documents: orders},
			{db: 'logs', table: 'events', documents: [{id: 'e1'}]},
		]);
		const manifest = await readArchive(file, {spoolDir: spool(), selection: parseTableSelection('logs')});
		expect(manifest.tables.map(t => t.table)).toEqual(['events']);
		await expect(
			readArchive(file, {spoolDir: spool(), selection: parseTableSelection('logs,app.users')}),
		).rejects.toThrow(/does not hold: app.users/);
	});

	it('never shows a half archive under the final name; abort leaves nothing', async () => {
		const file = path.join(dir, 'b.tar.gz');
		const writer = ArchiveWriter.create(file, 'top');
		await writer.addTable({db: 'app', table: 'orders'}, INFO, jsonFile('src', orders));
		expect(existsSync(file)).toBe(false);
		expect(existsSync(partialName(file))).toBe(true);
		await writer.abort();
		expect(readdirSync(dir).filter(f => f.includes('b.tar.gz'))).toEqual([]);
	});

	it('refuses a file that exists rather than replacing it, and puts the default name in a folder', () => {
		const now = new Date(2026, 0, 2, 3, 4, 5);
		expect(resolveArchivePath(undefined, 'demo', now, dir)).toBe(
			path.join(dir, 'demo-backup-2026-01-02T03-04-05.tar.gz'),
		);
		mkdirSync(path.join(dir, 'sub'));
		expect(resolveArchivePath('sub', 'demo', now, dir)).toBe(
			path.join(dir, 'sub', 'demo-backup-2026-01-02T03-04-05.tar.gz'),
		);
		expect(() => resolveArchivePath('missing/', 'demo', now, dir)).toThrow(/does not exist/);
		writeFileSync(path.join(dir, 'taken.tar.gz'), '');
		expect(() => resolveArchivePath('taken.tar.gz', 'demo', now, dir)).toThrow(/already exists/);
		expect(() => resolveArchivePath('nowhere/x.tar.gz', 'demo', now, dir)).toThrow(/does not exist/);
	});
});

describe('readArchive refuses a damaged or foreign archive, before anything is written', () => {
	async function refusal(file: string): Promise<ArchiveError> {
		const error = await readArchive(file, {spoolDir: spool()}).then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(ArchiveError);
		expect((error as ArchiveError).nextSteps).toContain('nothing was written to the cluster');
		return error as ArchiveError;
	}

	it('a truncated archive', async () => {
		const whole = path.join(dir, 'whole.tar.gz');
		const file = path.join(dir, 't.tar.gz');
		await writeArchive(whole, [{db: 'app', table: 'orders', documents: orders}]);
		const size = readFileSync(whole).length;
		// Cut in the middle, just before the end, and inside gzip's 8-byte trailer (CRC and length).
		for (const cut of [Math.floor(size / 2), size - 100, size - 4]) {
			copyFileSync(whole, file);
			truncateSync(file, cut);
			expect((await refusal(file)).message).toMatch(/the gzip stream ends early \(the file is truncated/);
		}
	});

	it("a corrupted archive: a flipped byte anywhere in the compressed data fails gzip's checks", async () => {
		const whole = path.join(dir, 'whole.tar.gz');
		const file = path.join(dir, 'c.tar.gz');
		await writeArchive(whole, [{db: 'app', table: 'orders', documents: orders}]);
		const original = readFileSync(whole);
		// Past the 10-byte gzip header (its mtime and OS bytes are not checked by gzip itself), and before
		// the deflate stream's last byte (whose unused padding bits change nothing when flipped).
		for (const at of [10, 200, Math.floor(original.length / 2), original.length - 60, original.length - 20]) {
			const bytes = Buffer.from(original);
			bytes[at]! ^= 0x5a;
			writeFileSync(file, bytes);
			// Whatever the flipped bits turned into first (a bad tar header, broken JSON), gzip's check is what is said.
			expect((await refusal(file)).message, `byte ${at}`).toMatch(
				/the gzip data is corrupt|the gzip stream ends early/,
			);
		}
	});

	it('a table file cut inside its array (the archive itself intact)', async () => {
		const file = path.join(dir, 'cut.tar.gz');
		await handMade(file, [
			{name: 'top/app/orders.info', text: JSON.stringify(INFO)},
			{name: 'top/app/orders.json', text: '[\n{"id": 1},\n{"id": 2'},
		]);
		expect((await refusal(file)).message).toMatch(
			/app\/orders.json is not a complete JSON array of documents: .*after 1 complete document/,
		);
	});

	it('an .info that is not JSON, a .json without its .info and the reverse', async () => {
		const file = path.join(dir, 'x.tar.gz');
		await handMade(file, [
			{name: 'top/app/orders.info', text: '{"primary_key": '},
			{name: 'top/app/orders.json', text: '[]'},
		]);
		expect((await refusal(file)).message).toMatch(/app\/orders.info is not JSON/);
		await handMade(file, [{name: 'top/app/orders.json', text: '[]'}]);
		expect((await refusal(file)).message).toMatch(/orders.json has no .info/);
		await handMade(file, [{name: 'top/app/orders.info', text: JSON.stringify(INFO)}]);
		expect((await refusal(file)).message).toMatch(/orders.info has no .json/);
	});

	it('two top folders, an empty archive, a file that is not an archive', async () => {
		const file = path.join(dir, 'y.tar.gz');
		await handMade(file, [
			{name: 'one/app/a.info', text: JSON.stringify(INFO)},
			{name: 'two/app/a.json', text: '[]'},
		]);
		expect((await refusal(file)).message).toMatch(/two top folders/);
		await handMade(file, []);
		expect((await refusal(file)).message).toMatch(/holds no table/);
		writeFileSync(file, 'hello, this is not a tarball');
		expect((await refusal(file)).message).toMatch(/neither gzip nor tar/);
		writeFileSync(file, '');
		expect((await refusal(file)).message).toMatch(/empty/);
	});

	it('reads an uncompressed tar too, and skips what is not part of a dump (as rethinkdb restore does)', async () => {
		const file = path.join(dir, 'plain.tar');
		await handMade(
			file,
			[
				{name: 'top/NOTES.txt', text: 'hi'},
				{name: 'top/app/a.info', text: JSON.stringify(INFO)},
				{name: 'top/app/a.json', text: '[{"id": 1}]'},
			],
			false,
		);
		const manifest = await readArchive(file, {spoolDir: spool()});
		expect(manifest.tables.map(t => [t.table, t.documents])).toEqual([['a', 1]]);
		expect(manifest.ignored).toEqual(['top/NOTES.txt']);
	});
});
