import {
	copyFileSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	statSync,
	truncateSync,
	utimesSync,
	writeFileSync,
} from 'node:fs';
import {execFileSync} from 'node:child_process';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {gunzipSync, gzipSync} from 'node:zlib';
import tar from 'tar-stream';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {readArchive, replayArchive} from '../../source/backup/archive-reader.js';
import {ArchiveWriter, partialName} from '../../source/backup/archive-writer.js';
import {ArchiveError} from '../../source/backup/errors.js';
import {JSON_ARRAY, parseTableSelection, type TableInfo} from '../../source/backup/format.js';
import {resolveArchivePath} from '../../source/commands/backup.js';
import {verifyArchive} from '../../source/backup/dump.js';
import {removeAbandonedPartials, removeOldSpools} from '../../source/backup/leftovers.js';

const INFO: TableInfo = {
	db: {name: 'app'},
	name: 'orders',
	primary_key: 'id',
	indexes: [{index: 'customer', function: {$reql_type$: 'BINARY', data: fn('$reql_index_function$')}}],
	write_hook: null,
};

/** A function as the server serializes it: its prefix, then bytes (only the server can judge those). */
function fn(prefix: string): string {
	return Buffer.concat([Buffer.from(prefix), Buffer.from([9, 7, 7, 7, 0, 1])]).toString('base64');
}

let dir: string;
beforeEach(() => {
	dir = mkdtempSync(path.join(tmpdir(), 'sb-backup-'));
});
afterEach(() => rmSync(dir, {recursive: true, force: true}));

/** The text of a table's `.json`, as the backup streams it. */
function jsonText(documents: unknown[]): string {
	return documents.length === 0
		? `${JSON_ARRAY.open}${JSON_ARRAY.close}`
		: `${JSON_ARRAY.open}${JSON_ARRAY.first}${documents.map(d => JSON.stringify(d)).join(JSON_ARRAY.between)}${JSON_ARRAY.close}`;
}

async function writeArchive(
	file: string,
	tables: Array<{db: string; table: string; documents: unknown[]; info?: TableInfo}>,
	pieces = 7,
): Promise<void> {
	const writer = await ArchiveWriter.create(file, 'rethinkdb_dump_2026-12-01T20:13:46');
	for (const t of tables) {
		const entry = await writer.beginTable(t, {...(t.info ?? INFO), name: t.table});
		// Handed over in uneven pieces, as a cursor's batches come.
		const text = jsonText(t.documents);
		const step = Math.max(1, Math.ceil(text.length / pieces));
		for (let i = 0; i < text.length; i += step) await entry.write(text.slice(i, i + step));
		expect((await entry.end()).bytes).toBe(Buffer.byteLength(text));
	}
	await writer.close();
	await writer.commit();
}

/** A .tar.gz made by hand, entries as given (to make archives our writer never would). */
async function handMade(
	file: string,
	entries: Array<{name: string; text?: string; type?: tar.Header['type']; linkname?: string}>,
	gzip = true,
): Promise<void> {
	const pack = tar.pack();
	const chunks: Buffer[] = [];
	pack.on('data', chunk => chunks.push(chunk as Buffer));
	const ended = new Promise<void>(resolve => pack.on('end', () => resolve()));
	for (const e of entries) {
		if (e.type && e.type !== 'file') pack.entry({name: e.name, type: e.type, linkname: e.linkname});
		else pack.entry({name: e.name}, e.text ?? '');
	}
	pack.finalize();
	await ended;
	writeFileSync(file, gzip ? gzipSync(Buffer.concat(chunks)) : Buffer.concat(chunks));
}

const orders = Array.from({length: 1000}, (_, i) => ({id: i, customer: `c${i % 7}`, note: 'x'.repeat(i % 50)}));

describe('ArchiveWriter and readArchive', () => {
	it('write the dump layout as a stream and read it back: infos, document counts, the exact bytes', async () => {
		const file = path.join(dir, 'a.tar.gz');
		await writeArchive(file, [
			{db: 'app', table: 'orders', documents: orders},
			{db: 'app', table: 'empty', documents: []},
			{db: 'logs', table: 'events', documents: [{id: 'e1'}]},
		]);
		const progress: string[] = [];
		const manifest = await readArchive(file, {
			onProgress: (t, documents, _bytes, done) => done && progress.push(`${t.db}.${t.table}:${documents}`),
		});
		expect(manifest.top).toBe('rethinkdb_dump_2026-12-01T20:13:46');
		expect(manifest.tables.map(t => [t.db, t.table, t.documents])).toEqual([
			['app', 'empty', 0],
			['app', 'orders', 1000],
			['logs', 'events', 1],
		]);
		expect(progress.sort()).toEqual(['app.empty:0', 'app.orders:1000', 'logs.events:1']);
		const handed: unknown[] = [];
		await replayArchive(manifest, {
			onTableStart: async () => {},
			onDocuments: async (table, documents) => {
				if (table.table === 'orders') handed.push(...documents.map(d => JSON.parse(d.toString('utf8'))));
			},
		});
		expect(handed).toEqual(orders);
		expect(manifest.tables[1]!.info.indexes[0]!.index).toBe('customer');
		expect(manifest.tables[1]!.bytes).toBe(Buffer.byteLength(jsonText(orders)));
		// gzip, GNU tar and Python's tarfile in stream mode (what rethinkdb restore opens it with) read it too.
		expect(execFileSync('tar', ['-tzf', file], {encoding: 'utf8'}).trim().split('\n')).toEqual([
			'rethinkdb_dump_2026-12-01T20:13:46/app/orders.info',
			'rethinkdb_dump_2026-12-01T20:13:46/app/orders.json',
			'rethinkdb_dump_2026-12-01T20:13:46/app/empty.info',
			'rethinkdb_dump_2026-12-01T20:13:46/app/empty.json',
			'rethinkdb_dump_2026-12-01T20:13:46/logs/events.info',
			'rethinkdb_dump_2026-12-01T20:13:46/logs/events.json',
		]);
		const python = execFileSync(
			'python3',
			[
				'-c',
				"import sys, tarfile\nfor t in tarfile.open(sys.argv[1], 'r|*'):\n    f = t.name.endswith('orders.json')\n    print(t.name, t.size)",
				file,
			],
			{encoding: 'utf8'},
		);
		expect(python).toContain(`app/orders.json ${Buffer.byteLength(jsonText(orders))}`);
	});

	it('writes tables of any size and long names (PAX headers) that gunzip, tar and Python read back byte for byte', async () => {
		const file = path.join(dir, 'long.tar.gz');
		const long = 'x'.repeat(200);
		const big = Array.from({length: 30_000}, (_, i) => ({id: i, pad: `${i}`.repeat(40), text: 'é"\\\n'}));
		await writeArchive(
			file,
			[
				{db: 'app', table: long, documents: big},
				{db: long, table: 'small', documents: [{id: 1}]},
			],
			3,
		);
		const manifest = await readArchive(file);
		expect(manifest.tables.map(t => [t.db.length, t.table.length, t.documents])).toEqual([
			[3, 200, 30_000],
			[200, 5, 1],
		]);
		const extracted = mkdtempSync(path.join(dir, 'x-'));
		execFileSync('tar', ['-xzf', file, '-C', extracted]);
		expect(readFileSync(path.join(extracted, manifest.top, 'app', `${long}.json`), 'utf8')).toBe(jsonText(big));
	});

	it('reads only the tables --tables names, and says which names it does not hold', async () => {
		const file = path.join(dir, 'a.tar.gz');
		await writeArchive(file, [
			{db: 'app', table: 'orders', documents: orders},
			{db: 'logs', table: 'events', documents: [{id: 'e1'}]},
		]);
		const manifest = await readArchive(file, {selection: parseTableSelection('logs')});
		expect(manifest.tables.map(t => t.table)).toEqual(['events']);
		await expect(readArchive(file, {selection: parseTableSelection('logs,app.users')})).rejects.toThrow(
			/does not hold: app.users/,
		);
	});

	it('never shows a half archive under the final name; abort leaves nothing', async () => {
		const file = path.join(dir, 'b.tar.gz');
		const writer = await ArchiveWriter.create(file, 'top');
		const entry = await writer.beginTable({db: 'app', table: 'orders'}, INFO);
		await entry.write(jsonText(orders));
		await entry.end();
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
		const error = await readArchive(file).then(
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

	it("a corrupted archive: a flipped byte anywhere in the compressed data fails gzip's checks, or changes nothing", async () => {
		const whole = path.join(dir, 'whole.tar.gz');
		const file = path.join(dir, 'c.tar.gz');
		await writeArchive(whole, [{db: 'app', table: 'orders', documents: orders.slice(0, 200)}]);
		const original = readFileSync(whole);
		const contents = gunzipSync(original);
		let refused = 0;
		// Every byte (each run writes different tar mtimes, so every byte is what makes this the same test each time) past the 10-byte gzip header (its mtime and OS bytes are not checked by gzip itself).
		for (let at = 10; at < original.length; at += 1) {
			const bytes = Buffer.from(original);
			bytes[at]! ^= 0x5a;
			writeFileSync(file, bytes);
			const error = await readArchive(file).then(
				() => undefined,
				(e: unknown) => e as Error,
			);
			if (error) {
				refused++;
				expect(error, `byte ${at}`).toBeInstanceOf(ArchiveError);
				// Whatever the flipped bits turned into first (a bad tar header, broken JSON), gzip's check is what is said.
				expect(error.message, `byte ${at}`).toMatch(/the gzip data is corrupt|the gzip stream ends early/);
			} else {
				// A flip the archive survived hit bits deflate ignores (a stored block's padding): the contents are the same.
				expect(gunzipSync(bytes).equals(contents), `byte ${at}`).toBe(true);
			}
		}
		expect(refused).toBeGreaterThan(original.length - 10 - 200);
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
		const manifest = await readArchive(file);
		expect(manifest.tables.map(t => [t.table, t.documents])).toEqual([['a', 1]]);
		expect(manifest.ignored).toEqual(['top/NOTES.txt']);
	});
});

describe('hostile archives: refused before anything is written, with memory bounded', () => {
	async function refusal(file: string, options: Parameters<typeof readArchive>[1] = {}): Promise<string> {
		const error = await readArchive(file, options).then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(ArchiveError);
		expect((error as ArchiveError).nextSteps).toContain('nothing was written to the cluster');
		return (error as ArchiveError).message;
	}

	/** A .tar.gz with one table whose .json is streamed from `pieces` (so a huge one never sits in memory here). */
	async function streamed(file: string, pieces: () => Iterable<string>): Promise<void> {
		const writer = await ArchiveWriter.create(file, 'top');
		const entry = await writer.beginTable({db: 'app', table: 't'}, INFO);
		for (const piece of pieces()) await entry.write(piece);
		await entry.end();
		await writer.close();
		await writer.commit();
	}

	it('a small archive holding a 150 MB document is refused at 128 MiB, never held whole', {
		timeout: 180_000,
	}, async () => {
		const file = path.join(dir, 'big.tar.gz');
		const block = 'a'.repeat(1024 * 1024);
		await streamed(file, function* () {
			yield '[{"id": 1, "blob": "';
			for (let i = 0; i < 150; i++) yield block;
			yield '"}]';
		});
		expect(statSync(file).size).toBeLessThan(1024 * 1024);
		const before = process.memoryUsage().rss;
		let peak = before;
		const sampler = setInterval(() => {
			peak = Math.max(peak, process.memoryUsage().rss);
		}, 5);
		const message = await refusal(file);
		clearInterval(sampler);
		expect(message).toMatch(/document 1 is larger than one RethinkDB query can carry .*128 MiB/);
		expect(peak - before).toBeLessThan(100 * 1024 * 1024);
	});

	it('billion-laughs nesting is refused at 1,000 levels, at the byte it goes over', {timeout: 120_000}, async () => {
		const file = path.join(dir, 'deep.tar.gz');
		await streamed(file, function* () {
			yield '[{"a": ';
			for (let i = 0; i < 50; i++) yield '['.repeat(100_000);
			for (let i = 0; i < 50; i++) yield ']'.repeat(100_000);
			yield '}]';
		});
		expect(statSync(file).size).toBeLessThan(200 * 1024);
		expect(await refusal(file)).toMatch(/document 1 is nested more than 1,000 levels deep.*near byte 1,006/);
	});

	it('links, FIFOs, devices and folders in place of a table file are said as what they are', async () => {
		const file = path.join(dir, 'links.tar.gz');
		const cases: Array<[tar.Header['type'], RegExp]> = [
			['symlink', /app\/t.json is a symbolic link \(to \/etc\/passwd\), not a file/],
			['link', /app\/t.json is a hard link \(to \/etc\/passwd\), not a file/],
			['fifo', /app\/t.json is a FIFO \(named pipe\), not a file/],
			['character-device', /app\/t.json is a character device, not a file/],
			['block-device', /app\/t.json is a block device, not a file/],
			['directory', /app\/t.json is a directory, not a file/],
		];
		for (const [type, expected] of cases) {
			await handMade(file, [
				{name: 'top/app/t.info', text: JSON.stringify(INFO)},
				{name: 'top/app/t.json', type, linkname: '/etc/passwd'},
			]);
			expect(await refusal(file), type).toMatch(expected);
		}
		// A folder of the dump itself is no table file: skipped, as tarfile's archives have them.
		await handMade(file, [
			{name: 'top/', type: 'directory'},
			{name: 'top/app/', type: 'directory'},
			{name: 'top/app/t.info', text: JSON.stringify(INFO)},
			{name: 'top/app/t.json', text: '[]'},
		]);
		expect((await readArchive(file)).tables.map(t => t.table)).toEqual(['t']);
	});

	it('.info metadata RethinkDB would refuse, or only half-create, is refused whole before writing', async () => {
		const file = path.join(dir, 'info.tar.gz');
		const long = 'n'.repeat(300);
		const cases: Array<[object, RegExp]> = [
			[
				{indexes: [{index: 'by', function: {$reql_type$: 'BINARY', data: Buffer.from('nope').toString('base64')}}]},
				/index by's function is not one RethinkDB serialized/,
			],
			[
				{write_hook: {function: {$reql_type$: 'BINARY', data: fn('$reql_index_function$')}}},
				/write_hook's function is not one RethinkDB serialized .*\$reql_write_hook_function\$/,
			],
			[{durability: 'bogus'}, /durability is "bogus"; RethinkDB takes "hard" or "soft"/],
			[{write_acks: 'all'}, /write_acks is "all"/],
			[
				{shards: Array.from({length: 65}, () => ({primary_replica: 'queenbee', replicas: ['queenbee']}))},
				/it has 65 shards; RethinkDB allows at most 64/,
			],
			[{primary_key: long}, /primary_key is 300 characters long/],
			[
				{indexes: [{index: long, function: {$reql_type$: 'BINARY', data: fn('$reql_index_function$')}}]},
				/300 characters long/,
			],
		];
		for (const [change, expected] of cases) {
			await handMade(file, [
				{name: 'top/app/t.info', text: JSON.stringify({...INFO, ...change})},
				{name: 'top/app/t.json', text: '[]'},
			]);
			expect(await refusal(file), JSON.stringify(change).slice(0, 60)).toMatch(expected);
		}
		await handMade(file, [
			{name: `top/app/${long}.info`, text: JSON.stringify(INFO)},
			{name: `top/app/${long}.json`, text: '[]'},
		]);
		expect(await refusal(file)).toMatch(/a name is 300 characters long; an archive holds names of up to 250/);
	});

	it('documents RethinkDB would refuse mid-restore: duplicate keys, numbers past a double, bad UTF-8', async () => {
		const file = path.join(dir, 'docs.tar.gz');
		const cases: Array<[string | Buffer, RegExp]> = [
			['[{"id": 1, "a": 1, "a": 2}]', /the key "a" twice/],
			['[{"id": 1e999}]', /too big for a double/],
			[Buffer.concat([Buffer.from('[{"id": "'), Buffer.from([0xc3, 0x28]), Buffer.from('"}]')]), /not UTF-8/],
			['[{"id": 01}]', /leading zero/],
			['[{"id": tru}]', /not true, false or null/],
			['[{"id": "a\\x"}]', /unknown escape/],
			['[{"id": 1,}]', /an object key is not a string/],
		];
		for (const [text, expected] of cases) {
			await handMade(file, [
				{name: 'top/app/t.info', text: JSON.stringify(INFO)},
				{name: 'top/app/t.json', text: text.toString()},
			]);
			if (Buffer.isBuffer(text)) {
				// tar-stream takes strings as UTF-8; the bad bytes go in as bytes.
				const pack = tar.pack();
				const chunks: Buffer[] = [];
				pack.on('data', c => chunks.push(c as Buffer));
				const ended = new Promise<void>(resolve => pack.on('end', () => resolve()));
				pack.entry({name: 'top/app/t.info'}, JSON.stringify(INFO));
				pack.entry({name: 'top/app/t.json'}, text);
				pack.finalize();
				await ended;
				writeFileSync(file, gzipSync(Buffer.concat(chunks)));
			}
			expect(await refusal(file), String(text)).toMatch(expected);
		}
	});
});

describe('what a killed backup leaves is removed by the next', () => {
	it('removes partial archives whose process is gone, keeps a running one and files that are not ours', () => {
		const dead = path.join(dir, '.demo-backup-2026.tar.gz.4000000.partial');
		const running = path.join(dir, `.demo-backup-2027.tar.gz.${process.ppid}.partial`);
		const other = path.join(dir, '.notes.txt.4000000.partial');
		for (const file of [dead, running, other]) writeFileSync(file, 'x');
		expect(removeAbandonedPartials(dir)).toEqual([dead]);
		expect(readdirSync(dir).sort()).toEqual([path.basename(running), path.basename(other)].sort());
	});

	it('removes spool folders of the versions that spooled, once an hour old', () => {
		const old = path.join(dir, 'swarmbee-backup-AbC123');
		const fresh = path.join(dir, 'swarmbee-restore-XyZ789');
		mkdirSync(old);
		mkdirSync(fresh);
		writeFileSync(path.join(old, '0000-app.t.json'), '[');
		const hourAgo = (Date.now() - 2 * 3600 * 1000) / 1000;
		utimesSync(old, hourAgo, hourAgo);
		expect(removeOldSpools(dir)).toEqual([old]);
		expect(existsSync(fresh)).toBe(true);
	});
});

describe('verifyArchive: a backup is done only when the archive reads back as what was read', () => {
	it('passes when the counts match and fails, naming the table, when they do not', async () => {
		const file = path.join(dir, 'v.tar.gz');
		await writeArchive(file, [{db: 'app', table: 'orders', documents: orders}]);
		const bytes = Buffer.byteLength(jsonText(orders));
		expect(await verifyArchive(file, [{db: 'app', table: 'orders', documents: 1000, bytes, indexes: 1}])).toEqual({
			documents: 1000,
		});
		await expect(
			verifyArchive(file, [{db: 'app', table: 'orders', documents: 1001, bytes, indexes: 1}]),
		).rejects.toThrow(/app.orders: 1,001 documents .* read, 1,000 .* in the archive/);
		await expect(
			verifyArchive(file, [
				{db: 'app', table: 'orders', documents: 1000, bytes, indexes: 1},
				{db: 'app', table: 'users', documents: 1, bytes: 10, indexes: 0},
			]),
		).rejects.toThrow(/app.users is missing/);
		const broken = Buffer.from(readFileSync(file));
		broken[Math.floor(broken.length / 2)]! ^= 0xff;
		writeFileSync(file, broken);
		await expect(
			verifyArchive(file, [{db: 'app', table: 'orders', documents: 1000, bytes, indexes: 1}]),
		).rejects.toThrow(/the archive written does not read back: .*gzip/);
	});
});
