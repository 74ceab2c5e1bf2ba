import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';

/**
 * The RethinkDB stand-in's pure parts, without processes: its option parser against
 * rethinkdb's rules, the issue rules of current_issues, its small ReQL evaluator, and its
 * term table against the driver's. The stand-in is plain .mjs, so its modules are loaded by
 * URL and typed here by what the tests use.
 */

const lib = path.resolve(import.meta.dirname, '../fixtures/rethinkdb-standin/lib');
const load = async <T>(file: string): Promise<T> => (await import(pathToFileURL(path.join(lib, file)).href)) as T;

interface Settings {
	ports: {driver: number; cluster: number; http: number};
	bind: Record<'cluster' | 'driver' | 'http', 'all' | string[]>;
	joins: Array<{host: string; port: number}>;
	canonicalAddresses: Array<{host: string; port: number | undefined}>;
	initialPassword: string | undefined;
	httpAdmin: boolean;
	cacheSizeMb: number;
}
interface OptionsModule {
	parseCommandLine(argv: string[]): {command: string; explicitServe: boolean; values: Map<string, string[]>};
	resolveSettings(values: Map<string, string[]>): Settings;
}
interface ServerInfo {
	id: string;
	name: string;
	connected_ids: string[];
}
interface Issue {
	type: string;
	critical: boolean;
	info: Record<string, unknown>;
}
interface SystemTablesModule {
	currentIssueRows(view: {self: ServerInfo; peers: Array<{info: ServerInfo}>}): Issue[];
}
interface ReqlModule {
	evaluate(term: unknown, context: {tables: Record<string, () => object[]>; globalOptargs: Record<string, unknown>}): unknown;
	toResponse(value: unknown): {sequence: boolean; rows: unknown[]};
}

let options: OptionsModule;
let tables: SystemTablesModule;
let reql: ReqlModule;
let termNames: Map<number, string>;
let scratch: string;

beforeAll(async () => {
	options = await load<OptionsModule>('options.mjs');
	tables = await load<SystemTablesModule>('system-tables.mjs');
	reql = await load<ReqlModule>('reql.mjs');
	termNames = (await load<{TERM_NAMES: Map<number, string>}>('term-types.mjs')).TERM_NAMES;
	scratch = mkdtempSync(path.join(tmpdir(), 'swarmbee-standin-pieces-'));
});
afterAll(() => rmSync(scratch, {recursive: true, force: true}));

describe('stand-in command line', () => {
	const settings = (argv: string[]) => options.resolveSettings(options.parseCommandLine(argv).values);
	const refusal = (argv: string[]) => {
		try {
			settings(argv);
		} catch (error) {
			return (error as Error).message;
		}
		return 'accepted';
	};

	it('applies the port offset to default and explicit ports, and binds loopback unless told otherwise', () => {
		const s = settings(['serve', '-o', '2', '--driver-port', '30000', '--bind', '10.0.0.5', '--bind-http', 'all']);
		expect(s.ports).toEqual({driver: 30_002, cluster: 29_017, http: 8082});
		expect(s.bind).toEqual({cluster: ['127.0.0.1', '10.0.0.5'], driver: ['127.0.0.1', '10.0.0.5'], http: 'all'});
		expect(settings(['--no-default-bind', '--bind', '10.0.0.5']).bind.cluster).toEqual(['10.0.0.5']);
		expect(settings(['-j', 'rdb-a', '--join', 'rdb-b:29100', '--canonical-address', '10.0.1.4']).joins.map(j => `${j.host}:${j.port}`)).toEqual(['rdb-a:29015', 'rdb-b:29100']);
	});

	it('refuses what rethinkdb refuses, in its words', () => {
		expect(refusal(['--bind=all'])).toBe('Unrecognized option \'--bind=all\'.');
		expect(refusal(['--join'])).toBe('Option \'--join\' is missing its parameter.');
		expect(refusal(['--join', '--bind', 'all'])).toBe('Option \'--join\' is missing its parameter.');
		expect(refusal(['--server-name', 'a', '-n', 'b'])).toMatch(/^Option '--server-name' specified too many times/);
		expect(refusal(['all'])).toMatch(/^Unexpected positional parameter 'all'/);
		expect(refusal(['--daemon'])).toMatch(/real rethinkdb 2.4 option that the swarmbee RethinkDB stand-in does not implement/);
		expect(refusal(['proxy'])).toMatch(/does not implement/);
		expect(refusal(['--cache-size', 'lots'])).toMatch(/cache-size/);
	});

	it('reads a config file as rethinkdb does: spaces around =, bare flags, # starts a comment anywhere, the command line wins', () => {
		const file = path.join(scratch, 'rethinkdb.conf');
		writeFileSync(file, '# the admin password\ninitial-password = s3cret#not-part-of-it\nno-http-admin\nbind=all\ncache-size=300\n');
		const s = settings(['--config-file', file, '--cache-size', '128']);
		expect(s.initialPassword).toBe('s3cret');
		expect(s.httpAdmin).toBe(false);
		expect(s.bind.cluster).toBe('all');
		expect(s.cacheSizeMb).toBe(128);
		writeFileSync(file, 'no-http-admin=yes\n');
		expect(refusal(['--config-file', file])).toMatch(/unexpected data after no-parameter option 'no-http-admin'/);
		writeFileSync(file, 'initial-password=\n');
		expect(refusal(['--config-file', file])).toMatch(/no parameter for option 'initial-password'/);
		writeFileSync(file, 'colour=blue\n');
		expect(refusal(['--config-file', file])).toMatch(/unrecognized option name 'colour'/);
	});
});

describe('stand-in current_issues rules', () => {
	const server = (id: string, name: string, sees: string[]): ServerInfo => ({id, name, connected_ids: sees});

	it('a full mesh with unique names has no issue', () => {
		const view = {self: server('a', 'rdb_1', ['b', 'c']), peers: [{info: server('b', 'rdb_2', ['a', 'c'])}, {info: server('c', 'rdb_3', ['a', 'b'])}]};
		expect(tables.currentIssueRows(view)).toEqual([]);
	});

	it('peers that do not see each other make one non_transitive_error naming them', () => {
		// a sees b and c, but b and c have lost each other.
		const view = {self: server('a', 'rdb_1', ['b', 'c']), peers: [{info: server('b', 'rdb_2', ['a'])}, {info: server('c', 'rdb_3', ['a'])}]};
		expect(tables.currentIssueRows(view)).toEqual([expect.objectContaining({type: 'non_transitive_error', critical: false, info: {servers: ['rdb_2', 'rdb_3']}})]);
	});

	it('a peer connected to a server this one cannot reach is non-transitive too', () => {
		const view = {self: server('a', 'rdb_1', ['b']), peers: [{info: server('b', 'rdb_2', ['a', 'z'])}]};
		expect(tables.currentIssueRows(view).map(issue => issue.info)).toEqual([{servers: ['rdb_2']}]);
	});

	it('two connected servers with one name make a critical server_name_collision', () => {
		const view = {self: server('a', 'rdb_1', ['c', 'b']), peers: [{info: server('c', 'rdb_2', ['a', 'b'])}, {info: server('b', 'rdb_2', ['a', 'c'])}]};
		expect(tables.currentIssueRows(view)).toEqual([expect.objectContaining({type: 'server_name_collision', critical: true, info: {name: 'rdb_2', ids: ['b', 'c']}})]);
	});
});

describe('stand-in ReQL evaluator', () => {
	const rows = [
		{id: 'a', name: 'rdb_1', network: {connected_to: {rdb_2: true}, canonical_addresses: [{host: '10.0.0.1', port: 29_015}], reql_port: 28_015}},
		{id: 'b', name: 'rdb_2', network: {connected_to: {rdb_1: false}, canonical_addresses: [{host: '10.0.0.2', port: 29_015}], reql_port: 28_015}, extra: 1},
	];
	const table = [15, [[14, ['rethinkdb']], 'server_status']];
	const run = (term: unknown) => reql.toResponse(reql.evaluate(term, {tables: {server_status: () => structuredClone(rows), current_issues: () => []}, globalOptargs: {}}));
	const failure = (term: unknown) => {
		try {
			run(term);
		} catch (error) {
			return {kind: (error as {kind: string}).kind, message: (error as Error).message};
		}
		return undefined;
	};

	it('plucks nested selectors from every row, as a sequence', () => {
		expect(run([33, [table, 'name', {network: [2, ['connected_to', {canonical_addresses: [2, ['host']]}]]}]])).toEqual({
			sequence: true,
			rows: [
				{name: 'rdb_1', network: {connected_to: {rdb_2: true}, canonical_addresses: [{host: '10.0.0.1'}]}},
				{name: 'rdb_2', network: {connected_to: {rdb_1: false}, canonical_addresses: [{host: '10.0.0.2'}]}},
			],
		});
	});

	it('filters by nested object and by function, counts with a predicate, skips rows without a field', () => {
		expect(run([31, [[39, [table, {network: {connected_to: {rdb_1: false}}}]], 'id']]).rows).toEqual(['b']);
		const hasTrue = [69, [[2, [1]], [17, [[170, [[170, [[10, [1]], 'network']], 'connected_to']], {rdb_2: true}]]]];
		expect(run([43, [table, hasTrue]])).toEqual({sequence: false, rows: [1]});
		expect(run([170, [table, 'extra']]).rows).toEqual([1]);
		expect(run([170, [table, -1]]).rows).toEqual([rows[1]]);
		expect(run([16, [table, 'b']]).rows[0]).toMatchObject({name: 'rdb_2'});
	});

	it('answers a missing field and an unimplemented term with the error kinds the driver maps', () => {
		expect(failure([170, [[16, [table, 'a']], 'extra']])).toEqual({kind: 'runtime', message: expect.stringMatching(/^No attribute `extra` in object:/)});
		expect(failure([56, [table, {id: 'x'}]])).toEqual({kind: 'runtime', message: expect.stringMatching(/does not implement the ReQL term INSERT \(56\)/)});
		expect(failure([43, [table, 1, 2]])).toEqual({kind: 'compile', message: 'Expected between 1 and 2 arguments but found 3.'});
	});

	it('names every term type exactly as the driver\'s proto-def does', () => {
		const protoDef = createRequire(import.meta.url)('rethinkdb/proto-def.js') as {Term: {TermType: Record<string, number>}};
		expect(Object.fromEntries([...termNames].map(([number, name]) => [name, number]))).toEqual(protoDef.Term.TermType);
	});
});
