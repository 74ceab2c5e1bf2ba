import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {
	buildTableInfo,
	classifyMember,
	defaultArchiveName,
	isSelected,
	parseTableInfo,
	parseTableSelection,
	planReplication,
	renderTableInfo,
	topFolderName,
	unmatchedSelection,
} from '../../source/backup/format.js';
import {JsonArrayError, JsonArrayScanner} from '../../source/backup/json-array.js';
import {checkTarget} from '../../source/backup/restore.js';
import {restoreFailure} from '../../steps/restore.js';
import {InputError} from '../../source/errors.js';

/** A `.info` exactly as the official `rethinkdb dump` (Python driver 2.4.9) wrote it from RethinkDB 2.4.4. */
const OFFICIAL_INFO = readFileSync(
	path.resolve(import.meta.dirname, '../fixtures/backup/official-orders.info'),
	'utf8',
);

describe('archive names', () => {
	it('names the top folder as _dump.py does, in local time', () => {
		expect(topFolderName(new Date(2026, 11, 1, 20, 3, 4))).toBe('rethinkdb_dump_2026-12-01T20:03:04');
	});

	it('names the default file without colons', () => {
		expect(defaultArchiveName('demo', new Date(2026, 0, 9, 7, 8, 9))).toBe('demo-backup-2026-01-09T07-08-09.tar.gz');
	});
});

describe('classifyMember: entry names read as rethinkdb restore reads them', () => {
	it('finds top/db/table.json and .info', () => {
		expect(classifyMember('rethinkdb_dump_2026-12-01T20:13:46/app/orders.json')).toEqual({
			kind: 'data',
			top: 'rethinkdb_dump_2026-12-01T20:13:46',
			db: 'app',
			table: 'orders',
		});
		expect(classifyMember('/top/app/orders.info')).toEqual({kind: 'info', top: 'top', db: 'app', table: 'orders'});
		expect(classifyMember('top/./app/my-table_2.json')).toMatchObject({kind: 'data', table: 'my-table_2'});
	});

	it('skips other files and names that climb out, as do_unzip does', () => {
		expect(classifyMember('top/README.txt').kind).toBe('ignored');
		expect(classifyMember('../evil/app/t.json').kind).toBe('ignored');
		expect(classifyMember('top/../../t.json').kind).toBe('ignored');
	});

	it('refuses a layout that is not <folder>/<db>/<table>, CSV, and the system database', () => {
		expect(classifyMember('top/app/deeper/t.json')).toMatchObject({
			kind: 'unsupported',
			reason: expect.stringContaining('<folder>/<db>/<table>.json'),
		});
		expect(classifyMember('app.json').kind).toBe('unsupported');
		expect(classifyMember('top/app/t.csv')).toMatchObject({
			kind: 'unsupported',
			reason: expect.stringContaining('CSV'),
		});
		expect(classifyMember('top/rethinkdb/users.json')).toMatchObject({
			kind: 'unsupported',
			reason: expect.stringContaining('system database'),
		});
		expect(classifyMember('top/app/bad name.json').kind).toBe('unsupported');
	});
});

describe('--tables', () => {
	it('takes databases and db.table names, as dump -e and restore -i do', () => {
		const selection = parseTableSelection('app, logs.events')!;
		expect(isSelected(selection, {db: 'app', table: 'anything'})).toBe(true);
		expect(isSelected(selection, {db: 'logs', table: 'events'})).toBe(true);
		expect(isSelected(selection, {db: 'logs', table: 'other'})).toBe(false);
		expect(isSelected(undefined, {db: 'x', table: 'y'})).toBe(true);
		expect(unmatchedSelection(selection, [{db: 'app', table: 'orders'}])).toEqual(['logs.events']);
		expect(unmatchedSelection(selection, [{db: 'logs', table: 'events'}])).toEqual(['app']);
	});

	it('refuses what is not a name, an empty list and the system database', () => {
		expect(() => parseTableSelection('a.b.c')).toThrow(InputError);
		expect(() => parseTableSelection('app.or ders')).toThrow(/is not DB or DB.TABLE/);
		expect(() => parseTableSelection(' , ')).toThrow(/empty/);
		expect(() => parseTableSelection('rethinkdb')).toThrow(/system database/);
	});
});

describe('.info', () => {
	it("reads the official dump's .info: primary key, indexes with their functions, the write hook", () => {
		const info = parseTableInfo(OFFICIAL_INFO, 'app/orders.info');
		expect(info.primary_key).toBe('id');
		expect(info.indexes.map(i => [i.index, i.multi, i.geo])).toEqual([
			['customer', false, false],
			['cx', false, false],
			['loc', false, true],
			['tags', true, false],
		]);
		expect(info.indexes[0]!.function.$reql_type$).toBe('BINARY');
		expect(info.write_hook?.query).toContain('setWriteHook');
		expect(info.shards).toBeUndefined();
	});

	it('writes one line: table.info() with index status, write hook and the configuration rethinkdb dump leaves out', () => {
		const official = JSON.parse(OFFICIAL_INFO);
		const shards = [{primary_replica: 'queenbee', replicas: ['queenbee', 'workerbee_1'], nonvoting_replicas: []}];
		const info = buildTableInfo({
			info: {...official, indexes: ['customer', 'cx', 'loc', 'tags'], write_hook: undefined},
			indexStatus: official.indexes,
			writeHook: official.write_hook,
			config: {shards, write_acks: 'majority', durability: 'hard'},
		});
		const text = renderTableInfo(info);
		expect(text.endsWith('}\n')).toBe(true);
		expect(text.split('\n')).toHaveLength(2);
		const back = parseTableInfo(text, 'x.info');
		expect(back.indexes).toEqual(official.indexes);
		expect(back.write_hook).toEqual(official.write_hook);
		expect(back.shards).toEqual(shards);
		expect(back.write_acks).toBe('majority');
		// What the official restore reads is where it looks for it (parse_info_file in _import.py).
		expect(Object.keys(back)).toEqual(expect.arrayContaining(['primary_key', 'indexes', 'write_hook']));
	});

	it('defaults the primary key to id, as the official import does', () => {
		expect(parseTableInfo('{"indexes": []}', 'x.info').primary_key).toBe('id');
	});

	it('says what is wrong, naming the file', () => {
		expect(() => parseTableInfo('{"primary_key": "id"', 'app/t.info')).toThrow(/app\/t.info is not JSON/);
		expect(() => parseTableInfo('[1]', 'app/t.info')).toThrow(/not a JSON object/);
		expect(() => parseTableInfo('{"indexes": "x"}', 'app/t.info')).toThrow(/indexes is not a list/);
		expect(() => parseTableInfo('{"indexes": [{"index": "by_name"}]}', 'app/t.info')).toThrow(
			/index by_name has no function/,
		);
		expect(() => parseTableInfo('{"write_hook": {"query": "x"}}', 'app/t.info')).toThrow(/write_hook has no function/);
		expect(() => parseTableInfo('{"shards": [{"replicas": []}]}', 'app/t.info')).toThrow(/shards/);
	});
});

describe("planReplication: the archive's shards and replicas on the target cluster", () => {
	const shards = [
		{primary_replica: 'queenbee', replicas: ['queenbee', 'workerbee_1', 'workerbee_2'], nonvoting_replicas: []},
		{primary_replica: 'workerbee_1', replicas: ['workerbee_1', 'queenbee'], nonvoting_replicas: []},
	];

	it('is exact where every server named is there', () => {
		expect(planReplication(shards, ['queenbee', 'workerbee_1', 'workerbee_2', 'workerbee_3'])).toEqual({
			kind: 'exact',
			shards,
		});
	});

	it('keeps the counts elsewhere, replicas capped at the servers there are', () => {
		expect(planReplication(shards, ['a', 'b', 'c'])).toEqual({kind: 'counts', shards: 2, replicas: 3, capped: false});
		expect(planReplication(shards, ['a', 'b'])).toEqual({kind: 'counts', shards: 2, replicas: 2, capped: true});
	});

	it("leaves an official archive (no shards) to the server's defaults", () => {
		expect(planReplication(undefined, ['a'])).toEqual({kind: 'default'});
	});
});

describe('JsonArrayScanner', () => {
	const documents = [
		{id: 1, name: 'é'},
		{id: 'two', nested: {a: [1, {b: null}]}, at: {$reql_type$: 'TIME', epoch_time: 1.5, timezone: '+00:00'}},
		{id: 3, text: 'a, b ] } ['},
	];
	const dump = `[\n${documents.map(d => JSON.stringify(d)).join(',\n')}\n]\n`;

	function readAll(text: string | Uint8Array, chunkSize: number) {
		const bytes = typeof text === 'string' ? Buffer.from(text) : text;
		const reader = new JsonArrayScanner('app/t.json', undefined, true);
		const out: unknown[] = [];
		for (let i = 0; i < bytes.length; i += chunkSize)
			out.push(...reader.write(bytes.subarray(i, i + chunkSize)).map(text => JSON.parse(text.toString('utf8'))));
		reader.end();
		return out;
	}

	it('hands out every document, however the bytes are cut (multi-byte characters included)', () => {
		for (const size of [1, 2, 3, 7, 64, 100_000]) expect(readAll(dump, size)).toEqual(documents);
	});

	it('reads the empty table of the official dump ("[" then "\\n]\\n") and leading whitespace', () => {
		expect(readAll('[\n]\n', 1)).toEqual([]);
		expect(readAll('  \n[{"id":1}]', 2)).toEqual([{id: 1}]);
	});

	it('refuses a cut file, saying how many documents were complete', () => {
		expect(() => readAll(dump.slice(0, dump.length - 10), 16)).toThrow(
			/ends inside the array, after 2 complete documents/,
		);
		expect(() => readAll('[', 1)).toThrow(JsonArrayError);
	});

	it('refuses what is not one array of objects', () => {
		expect(() => readAll('{"id": 1}', 4)).toThrow(/does not begin with "\["/);
		expect(() => readAll('[{"id": 1}, 2]', 4)).toThrow(/element 2 is a number, not a document/);
		expect(() => readAll('[{"id": 1}, [2]]', 4)).toThrow(/element 2 is an array/);
		expect(() => readAll('[{"id": 1},]', 4)).toThrow(/not a complete JSON array/);
		expect(() => readAll('[{"id": 1} {"id": 2}]', 4)).toThrow(/not a complete JSON array/);
		expect(() => readAll('', 4)).toThrow(/it is empty/);
		expect(() => readAll('   ', 1)).toThrow(/it is empty/);
	});

	it('measures each document as an insert query carries it (escaped in a JSON string), whatever the chunks', () => {
		const texts = ['{"a": "say \\"hi\\""}', '{"b":\n\t[1, 2.5e-3, true, null, {"c": "\\u00e9\\\\"}]}', '{ "é": "ü" }'];
		const dump = `[${texts.join(',')}]`;
		const escaped = Math.max(...texts.map(t => Buffer.byteLength(JSON.stringify(t))));
		for (const size of [1, 3, 1000]) {
			const scanner = new JsonArrayScanner('app/t.json', undefined, true);
			const out: string[] = [];
			const bytes = Buffer.from(dump);
			for (let i = 0; i < bytes.length; i += size)
				out.push(...scanner.write(bytes.subarray(i, i + size)).map(b => b.toString()));
			scanner.end();
			expect(out).toEqual(texts);
			expect(scanner.totals.largestQueryBytes).toBe(escaped);
		}
	});

	it('refuses a document over the size or depth limit, and counts the longest array', () => {
		const scan = (text: string, limits = {maxQueryBytes: 40, maxDepth: 3}) => {
			const scanner = new JsonArrayScanner('app/t.json', limits);
			scanner.write(Buffer.from(text));
			scanner.end();
			return scanner.totals;
		};
		expect(scan('[{"a": [[1, 2, 3]]}]').longestArray).toBe(3);
		expect(() => scan('[{"a": [[[1]]]}]')).toThrow(/document 1 is nested more than 3 levels deep/);
		expect(() => scan('[{"id": 1}, {"a": "0123456789012345678901234567890123456789"}]')).toThrow(
			/document 2 is larger than one RethinkDB query can carry/,
		);
		// Quotes count twice: a document of 30 bytes with 12 quotes is 44 bytes as a query.
		expect(() => scan('[{"a": "b", "c": "d", "e": "f"}]')).toThrow(/larger than one RethinkDB query/);
		expect(() => scan('[{"a": "b", "c": 1}]')).not.toThrow();
	});

	it('refuses anything after the closing bracket, in the same chunk or a later one', () => {
		expect(() => readAll('[{"id": 1}] x', 100)).toThrow(/app\/t.json is not a complete JSON array/);
		expect(() => readAll('[{"id": 1}]\n\nx', 1)).toThrow(/more after the array's closing/);
	});
});

describe('checkTarget: what a restore refuses before writing', () => {
	const table = (name: string, primaryKey = 'id') => ({
		db: 'app',
		table: name,
		info: {db: 'app', name, primary_key: primaryKey, indexes: []},
		documents: 1,
		bytes: 10,
		largestQueryBytes: 10,
		longestArray: 0,
	});
	const target = {
		databases: new Set(['app']),
		tables: new Map([
			['app.orders', 'id'],
			['app.users', 'email'],
		]),
		servers: ['queenbee'],
	};

	it('lets new tables through and names the ones that exist unless --force', () => {
		expect(checkTarget([table('fresh')], target, false)).toEqual(new Set());
		expect(() => checkTarget([table('fresh'), table('orders')], target, false)).toThrow(
			'table app.orders already exists in the cluster',
		);
		expect(checkTarget([table('fresh'), table('orders')], target, true)).toEqual(new Set(['app.orders']));
	});

	it('refuses a table whose primary key differs, even with --force', () => {
		expect(() => checkTarget([table('users', 'id')], target, true)).toThrow(
			/app.users exists with a different primary key/,
		);
	});
});

describe('restoreFailure', () => {
	it('names the table and what it was doing, and says how to finish', () => {
		const error = restoreFailure('app.orders', 'writing documents', 2, new Error('Duplicate primary key `id`'));
		expect(error.message).toBe('restoring app.orders failed while writing documents: Duplicate primary key `id`');
		expect(error.hint).toBe('2 tables before it were restored');
		expect(error.nextSteps.at(-1)).toContain('--force');
	});
});
