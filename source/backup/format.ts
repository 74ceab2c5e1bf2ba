import path from 'node:path/posix';
import {tableKey} from '../database/placement.js';
import {InputError} from '../errors.js';

/**
 * The archive layout of RethinkDB's own `rethinkdb dump` (Python driver
 * 2.4.9, `rethinkdb/_dump.py` and `_export.py`), which `rethinkdb restore`
 * reads back (`_restore.py`, `_import.py`):
 *
 *     rethinkdb_dump_2026-12-01T20:13:46/        one top folder (_dump.py: "rethinkdb_dump_%Y-%m-%dT%H:%M:%S")
 *       app/orders.info                          one line of JSON: table.info(), with "indexes" replaced by
 *                                                index_status() and "write_hook" by get_write_hook() (raw binaries)
 *       app/orders.json                          "[" then "\n" doc, ",\n" doc, … then "\n]\n" (_export.py json_writer)
 *
 * The tar holds regular files only (no folder entries), gzip-compressed.
 * swarmbee adds what `rethinkdb dump` leaves out, in keys the official
 * restore ignores (it reads only primary_key, indexes and write_hook):
 * `shards`, `write_acks` and `durability`, exactly as `table.config()` has them.
 */

export const INFO_EXTENSION = '.info';
export const DATA_EXTENSION = '.json';

/** Database and table names as RethinkDB allows them (and `_tableNameRegex` in utils_common.py). */
export const NAME_PATTERN = /^[A-Za-z0-9_-]+$/;

/** `rethinkdb_dump_2026-12-01T20:13:46`, in local time, as `_dump.py` names its top folder. */
export function topFolderName(date: Date): string {
	const two = (n: number) => String(n).padStart(2, '0');
	return `rethinkdb_dump_${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())}T${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** `demo-backup-2026-12-01T20-13-46.tar.gz`: the default output (no colons: scp and other systems dislike them). */
export function defaultArchiveName(cluster: string, date: Date): string {
	return `${cluster}-backup-${topFolderName(date).slice('rethinkdb_dump_'.length).replace(/:/g, '-')}.tar.gz`;
}

export function memberPath(top: string, db: string, table: string, extension: string): string {
	return `${top}/${db}/${table}${extension}`;
}

export interface TableRef {
	db: string;
	table: string;
}

/** The `db.table` key: the one in the placement module, which every table map uses. */
export {tableKey};

export type MemberKind = 'info' | 'data';

/** What a tar entry is to a restore: one of our files, or skipped (and why). */
export type Member =
	| {kind: MemberKind; top: string; db: string; table: string}
	| {kind: 'ignored'; reason: string}
	| {kind: 'unsupported'; reason: string};

/**
 * Reads an entry's name the way `_restore.py` do_unzip does: leading
 * slashes dropped, normalized, names that climb out (`..`) and other
 * extensions ignored, then exactly `top/db/file`. A deeper or shallower
 * `.json`/`.info` is an error, as it is there ("unexpected directory
 * structure"). CSV (`rethinkdb export --format csv`) is not a dump.
 */
export function classifyMember(name: string): Member {
	const relative = path.normalize(name.trim().replace(/^\/+/, ''));
	if (relative === '..' || relative.startsWith('../')) return {kind: 'ignored', reason: 'outside the archive folder'};
	const extension = path.extname(relative);
	if (extension === '.csv')
		return {
			kind: 'unsupported',
			reason: `${name} is CSV (rethinkdb export --format csv); swarmbee restores JSON dumps`,
		};
	if (extension !== INFO_EXTENSION && extension !== DATA_EXTENSION)
		return {kind: 'ignored', reason: 'not a .json or .info file'};
	const parts = relative.split('/');
	if (parts.length !== 3)
		return {kind: 'unsupported', reason: `${name} is not laid out as <folder>/<db>/<table>${extension}`};
	const [top, db, file] = parts as [string, string, string];
	const table = file.slice(0, -extension.length);
	if (!NAME_PATTERN.test(db) || !NAME_PATTERN.test(table))
		return {kind: 'unsupported', reason: `${name}: ${db}.${table} is not a RethinkDB table name`};
	if (db.length > MAX_NAME_LENGTH || table.length > MAX_NAME_LENGTH)
		return {
			kind: 'unsupported',
			reason: `${db.slice(0, 40)}….${table.slice(0, 40)}…: a name is ${Math.max(db.length, table.length)} characters long; an archive holds names of up to ${MAX_NAME_LENGTH} (a table file's name must fit a file system's 255 bytes)`,
		};
	if (db === 'rethinkdb')
		return {kind: 'unsupported', reason: `${name} belongs to the system database, which cannot be restored into`};
	return {kind: extension === INFO_EXTENSION ? 'info' : 'data', top, db, table};
}

/**
 * Which tables a command works on: `--tables app,logs.events` is every
 * table of `app` and `logs.events` (as `rethinkdb dump -e` / `restore -i`).
 */
export interface TableSelection {
	databases: Set<string>;
	tables: Set<string>;
}

export function parseTableSelection(value: string | undefined): TableSelection | undefined {
	if (value === undefined) return undefined;
	const selection: TableSelection = {databases: new Set(), tables: new Set()};
	const items = value
		.split(',')
		.map(s => s.trim())
		.filter(Boolean);
	if (items.length === 0)
		throw new InputError('--tables is empty', {
			nextSteps: ['e.g. --tables app (a whole database) or --tables app.orders,app.users'],
		});
	for (const item of items) {
		const [db, table, extra] = item.split('.');
		if (extra !== undefined || !db || !NAME_PATTERN.test(db) || (table !== undefined && !NAME_PATTERN.test(table))) {
			throw new InputError(`--tables: "${item}" is not DB or DB.TABLE`, {
				nextSteps: ['names are letters, digits, _ and -; e.g. --tables app.orders'],
			});
		}
		if (db === 'rethinkdb')
			throw new InputError('--tables: the system database rethinkdb is not backed up or restored', {
				nextSteps: ['name your own databases'],
			});
		if (table === undefined) selection.databases.add(db);
		else selection.tables.add(tableKey({db, table}));
	}
	return selection;
}

export function isSelected(selection: TableSelection | undefined, ref: TableRef): boolean {
	return !selection || selection.databases.has(ref.db) || selection.tables.has(tableKey(ref));
}

/** The selection's names that match nothing in `available` (a typo, or a table that is not there). */
export function unmatchedSelection(selection: TableSelection | undefined, available: readonly TableRef[]): string[] {
	if (!selection) return [];
	const dbs = new Set(available.map(t => t.db));
	const tables = new Set(available.map(tableKey));
	return [...[...selection.databases].filter(db => !dbs.has(db)), ...[...selection.tables].filter(t => !tables.has(t))];
}

/** A RethinkDB binary as the server sends it with `binary_format: 'raw'`. */
export interface RawBinary {
	$reql_type$: 'BINARY';
	data: string;
}

export interface IndexRecord {
	index: string;
	/** The index function, serialized by the server: `indexCreate(name, binary)` rebuilds the index exactly (multi, geo included). */
	function: RawBinary;
	multi?: boolean;
	geo?: boolean;
	/** ReQL of the function, for people reading the archive. */
	query?: string;
	[key: string]: unknown;
}

export interface WriteHookRecord {
	function: RawBinary;
	query?: string;
}

export interface ShardRecord {
	primary_replica: string | null;
	replicas: string[];
	nonvoting_replicas?: string[];
}

/** One `.info` file, as the official dump writes it plus swarmbee's table configuration. */
export interface TableInfo {
	db: {name: string; id?: string; type?: string} | string;
	name: string;
	primary_key: string;
	indexes: IndexRecord[];
	write_hook?: WriteHookRecord | null;
	doc_count_estimates?: number[];
	/** swarmbee: `table.config().shards` (which servers hold which replicas). */
	shards?: ShardRecord[];
	/** swarmbee: `table.config().write_acks`. */
	write_acks?: unknown;
	/** swarmbee: `table.config().durability`. */
	durability?: 'hard' | 'soft';
	[key: string]: unknown;
}

/** What the server says of a table, gathered for its `.info`. */
export interface TableFacts {
	/** `table.info()` */
	info: Record<string, unknown>;
	/** `table.indexStatus()` with raw binaries */
	indexStatus: IndexRecord[];
	/** `table.getWriteHook()` with raw binaries */
	writeHook: WriteHookRecord | null;
	/** `table.config()` */
	config: {shards?: ShardRecord[]; write_acks?: unknown; durability?: 'hard' | 'soft'};
}

/**
 * The `.info` object: `table.info()` with "indexes" replaced by the index
 * status (functions included), as `_export.py` export_table does, the write
 * hook (2.3.7+), then the table configuration the official dump leaves out.
 */
export function buildTableInfo(facts: TableFacts): TableInfo {
	const info = {...facts.info, indexes: facts.indexStatus, write_hook: facts.writeHook} as TableInfo;
	if (facts.config.shards) info.shards = facts.config.shards;
	if (facts.config.write_acks !== undefined) info.write_acks = facts.config.write_acks;
	if (facts.config.durability !== undefined) info.durability = facts.config.durability;
	return info;
}

/** The `.info` file's text: one line, as `json.dumps(table_info) + "\n"`. */
export function renderTableInfo(info: TableInfo): string {
	return `${JSON.stringify(info)}\n`;
}

function isBinary(value: unknown): value is RawBinary {
	return (
		typeof value === 'object' &&
		value !== null &&
		(value as RawBinary).$reql_type$ === 'BINARY' &&
		typeof (value as RawBinary).data === 'string'
	);
}

/** How RethinkDB 2.4 begins a serialized index function and write hook (src/rdb_protocol/terms/sindex.cc, write_hook.hpp). */
export const INDEX_FUNCTION_PREFIX = '$reql_index_function$';
export const WRITE_HOOK_PREFIX = '$reql_write_hook_function$';
/** RethinkDB's most shards per table (generate_config.cc: "Maximum number of shards is 64"). */
export const MAX_SHARDS = 64;
/**
 * The longest database, table or index name an archive may hold. RethinkDB
 * itself takes any length, but a dump holds `<table>.json` as a file name,
 * which file systems cap at 255 bytes: `rethinkdb restore` and tar could not
 * unpack a longer one.
 */
export const MAX_NAME_LENGTH = 250;
/** A serialized function larger than this is not one the server wrote. */
const MAX_FUNCTION_BYTES = 1024 * 1024;

/** A server-serialized function: base64 whose bytes begin with the prefix RethinkDB gives that kind. */
function checkFunction(value: unknown, prefix: string, what: string, where: string): void {
	if (!isBinary(value))
		throw new Error(`${where}: ${what} has no function (a dump made with index_status and binary_format "raw" has it)`);
	// The server's base64 carries line breaks every 76 characters.
	const data = value.data.replace(/[\r\n]/g, '');
	if (data.length > (MAX_FUNCTION_BYTES * 4) / 3 + 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(data))
		throw new Error(`${where}: ${what}'s function is not the base64 of a serialized function`);
	const bytes = Buffer.from(data, 'base64');
	if (bytes.subarray(0, prefix.length).toString('latin1') !== prefix || bytes.length <= prefix.length)
		throw new Error(
			`${where}: ${what}'s function is not one RethinkDB serialized (it does not begin with ${prefix}); an index function comes from index_status, a write hook from get_write_hook`,
		);
}

function checkName(value: unknown, what: string, where: string): void {
	if (typeof value !== 'string' || value.length === 0) throw new Error(`${where}: ${what} is not a name`);
	if (value.length > MAX_NAME_LENGTH)
		throw new Error(
			`${where}: ${what} is ${value.length} characters long; an archive holds names of up to ${MAX_NAME_LENGTH} (a table file's name must fit a file system's 255 bytes)`,
		);
}

/**
 * Parses and checks one `.info` file, everything a restore will hand the
 * server, before anything is written; every problem is said with the file's
 * name. The primary key (RethinkDB's default `id` when absent, as the
 * official import does), each index's name and serialized function, the
 * write hook's, durability and write acknowledgements as `table.config()`
 * takes them, and the shards (1 to 64, each with replicas named as servers
 * are). What only the server can judge of a function (that it deserializes)
 * is checked on the server, in a scratch table, before the restore writes.
 */
export function parseTableInfo(text: string, where: string): TableInfo {
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch (error) {
		throw new Error(`${where} is not JSON (${(error as Error).message})`);
	}
	if (typeof value !== 'object' || value === null || Array.isArray(value))
		throw new Error(`${where} is not a JSON object`);
	const info = value as Partial<TableInfo>;
	if (info.primary_key === undefined) info.primary_key = 'id';
	if (typeof info.primary_key !== 'string' || info.primary_key === '')
		throw new Error(`${where}: primary_key is not a field name`);
	checkName(info.primary_key, 'primary_key', where);
	const indexes = info.indexes ?? [];
	if (!Array.isArray(indexes)) throw new Error(`${where}: indexes is not a list`);
	const names = new Set<string>();
	for (const [i, index] of indexes.entries()) {
		if (typeof index !== 'object' || index === null || typeof (index as IndexRecord).index !== 'string')
			throw new Error(`${where}: index ${i + 1} has no name`);
		const record = index as IndexRecord;
		checkName(record.index, `index ${i + 1}'s name`, where);
		if (names.has(record.index)) throw new Error(`${where}: the index ${record.index} is listed twice`);
		if (record.index === info.primary_key)
			throw new Error(`${where}: the index ${record.index} has the primary key's name (RethinkDB refuses it)`);
		names.add(record.index);
		checkFunction(record.function, INDEX_FUNCTION_PREFIX, `index ${record.index}`, where);
		for (const flag of ['multi', 'geo'] as const)
			if (record[flag] !== undefined && typeof record[flag] !== 'boolean')
				throw new Error(`${where}: index ${record.index}'s ${flag} is not true or false`);
	}
	info.indexes = indexes as IndexRecord[];
	if (info.write_hook !== undefined && info.write_hook !== null) {
		if (typeof info.write_hook !== 'object') throw new Error(`${where}: write_hook is not a write hook`);
		checkFunction(info.write_hook.function, WRITE_HOOK_PREFIX, 'write_hook', where);
	}
	if (info.durability !== undefined && info.durability !== 'hard' && info.durability !== 'soft')
		throw new Error(`${where}: durability is ${JSON.stringify(info.durability)}; RethinkDB takes "hard" or "soft"`);
	if (info.write_acks !== undefined && info.write_acks !== 'majority' && info.write_acks !== 'single')
		throw new Error(
			`${where}: write_acks is ${JSON.stringify(info.write_acks)}; RethinkDB takes "majority" or "single"`,
		);
	if (info.shards !== undefined) {
		if (!Array.isArray(info.shards) || info.shards.length === 0)
			throw new Error(`${where}: shards is not a list of shards with replicas`);
		if (info.shards.length > MAX_SHARDS)
			throw new Error(`${where}: it has ${info.shards.length} shards; RethinkDB allows at most ${MAX_SHARDS}`);
		for (const [i, shard] of info.shards.entries()) {
			const ok =
				typeof shard === 'object' &&
				shard !== null &&
				Array.isArray(shard.replicas) &&
				shard.replicas.length > 0 &&
				shard.replicas.every(r => typeof r === 'string' && NAME_PATTERN.test(r) && r.length <= MAX_NAME_LENGTH) &&
				(shard.primary_replica === null ||
					shard.primary_replica === undefined ||
					shard.replicas.includes(shard.primary_replica)) &&
				(shard.nonvoting_replicas === undefined ||
					(Array.isArray(shard.nonvoting_replicas) &&
						shard.nonvoting_replicas.every(r => typeof r === 'string' && shard.replicas.includes(r))));
			if (!ok)
				throw new Error(
					`${where}: shards: shard ${i + 1} is not a shard (replicas: a list of server names, the primary one of them)`,
				);
		}
	}
	return info as TableInfo;
}

/** How a `.json` file is written, piece by piece, as `_export.py` json_writer writes it. */
export const JSON_ARRAY = {
	open: '[',
	first: '\n',
	between: ',\n',
	close: '\n]\n',
} as const;

/** How many shards and replicas (per shard, the most of any) a configuration has. */
export function replicationOf(shards: readonly ShardRecord[]): {shards: number; replicas: number} {
	return {shards: shards.length, replicas: Math.max(...shards.map(s => s.replicas.length))};
}

/**
 * How a restore re-applies the archive's shards and replicas: exactly (same
 * servers, same primaries) when every server named is in the target
 * cluster, else as counts, with replicas capped at the servers there are.
 */
export type ReplicationPlan =
	| {kind: 'exact'; shards: ShardRecord[]}
	| {kind: 'counts'; shards: number; replicas: number; capped: boolean}
	| {kind: 'default'};

export function planReplication(
	shards: readonly ShardRecord[] | undefined,
	servers: readonly string[],
): ReplicationPlan {
	if (!shards || shards.length === 0) return {kind: 'default'};
	const present = new Set(servers);
	const named = shards.flatMap(s => [...s.replicas, ...(s.primary_replica ? [s.primary_replica] : [])]);
	if (named.every(server => present.has(server)))
		return {
			kind: 'exact',
			shards: shards.map(s => ({
				primary_replica: s.primary_replica,
				replicas: [...s.replicas],
				nonvoting_replicas: [...(s.nonvoting_replicas ?? [])],
			})),
		};
	const wanted = replicationOf(shards);
	const replicas = Math.max(1, Math.min(wanted.replicas, servers.length));
	// RethinkDB caps shards at 64 and at nothing else; more shards than servers is allowed.
	return {kind: 'counts', shards: wanted.shards, replicas, capped: replicas < wanted.replicas};
}
