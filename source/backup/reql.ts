import r from 'rethinkdb';
import type {DatabaseSession} from '../database/rethinkdb.js';

/**
 * The npm driver (2.4.2) speaks all of RethinkDB 2.4, but its types
 * (@types/rethinkdb 2.3) lack what backups use: getWriteHook/setWriteHook,
 * r.json, r.binary as an index function, optargs such as readMode and
 * ignoreWriteHook. Queries are built here through one untyped handle and
 * proved against the real server by the tests, not by the compiler.
 */
// biome-ignore lint/suspicious/noExplicitAny: the driver's 2.3 types lack 2.4's terms; the real server checks these queries
export type Term = any;

export const rql: Term = r;

/** Runs a query on the link's current connection. */
export function run<T = unknown>(link: DatabaseSession, term: Term, options: Record<string, unknown> = {}): Promise<T> {
	return term.run(link.connection, options) as Promise<T>;
}

/** Runs a query whose answer is a sequence and collects it (small answers only: system tables, lists). */
export async function runArray<T>(
	link: DatabaseSession,
	term: Term,
	options: Record<string, unknown> = {},
): Promise<T[]> {
	const result = await run<unknown>(link, term, options);
	if (Array.isArray(result)) return result as T[];
	return (await (result as r.Cursor).toArray()) as T[];
}

/** Times, binaries and geometry as the server's own JSON (`$reql_type$` objects), as `_export.py` asks for them. */
export const RAW_FORMATS = {timeFormat: 'raw', binaryFormat: 'raw'} as const;

/** A binary the server serialized (an index function, a write hook), handed back as a term. */
export function binaryTerm(data: string): Term {
	return rql.binary(Buffer.from(data, 'base64'));
}
