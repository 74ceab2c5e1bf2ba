import {createHash, randomBytes} from 'node:crypto';
import r from 'rethinkdb';
import {registerSecret} from '../redact.js';
import {databaseName, databaseUser} from './names.js';

/**
 * An app's own RethinkDB user (RethinkDB 2.4 users and permissions): read,
 * write and config on the app's database only — config so the app can
 * create its tables and indexes there; nothing on any other database, the
 * system tables or the cluster. Its password is random, goes from memory
 * into the database and into a Swarm secret, and is written nowhere else.
 */

/** What RethinkDB grants the app's user on its database. */
export const APP_PERMISSIONS = {read: true, write: true, config: true} as const;

/** A new random password for an app's user (registered so that no log can show it). */
export function newAppPassword(): string {
	const password = randomBytes(24).toString('base64url');
	registerSecret(password);
	return password;
}

/** The hash in a password secret's name: of a random password, so it tells nothing. */
export function passwordHash(password: string): string {
	return createHash('sha256').update(password).digest('hex').slice(0, 12);
}

export interface AppDatabase {
	db: string;
	user: string;
	/** Whether the user exists (its password cannot be read back, only set). */
	userExists: boolean;
	dbExists: boolean;
}

/** What exists of an app's database and user. */
export async function readAppDatabase(connection: r.Connection, app: string): Promise<AppDatabase> {
	const db = databaseName(app);
	const user = databaseUser(app);
	const [dbs, found] = await Promise.all([
		r.dbList().run(connection) as Promise<string[]>,
		r.db('rethinkdb').table('users').get(user).run(connection) as Promise<unknown>,
	]);
	return {db, user, userExists: found !== null, dbExists: dbs.includes(db)};
}

/**
 * Makes the app's database and user what they should be: the database
 * created once, the user created once (or given `password` when the one it
 * had is lost), and its permissions granted (again: a grant is idempotent).
 * Returns what it changed.
 */
export async function ensureAppDatabase(
	connection: r.Connection,
	app: string,
	password: string | undefined,
): Promise<{createdDb: boolean; createdUser: boolean; newPassword: boolean}> {
	const state = await readAppDatabase(connection, app);
	if (!state.dbExists) await r.dbCreate(state.db).run(connection);
	if (password !== undefined) {
		const users = r.db('rethinkdb').table('users');
		if (state.userExists) await users.get(state.user).update({password}).run(connection);
		else await users.insert({id: state.user, password}).run(connection);
	}
	await (r.db(state.db) as unknown as {grant(user: string, permissions: object): r.Operation<unknown>})
		.grant(state.user, APP_PERMISSIONS)
		.run(connection);
	return {createdDb: !state.dbExists, createdUser: !state.userExists, newPassword: password !== undefined};
}

/** The app database's tables and rows (what `undeploy --drop-data` says before it drops them). */
export async function countAppRows(
	connection: r.Connection,
	app: string,
): Promise<{db: string; exists: boolean; tables: Array<{table: string; rows: number}>}> {
	const db = databaseName(app);
	const dbs = (await r.dbList().run(connection)) as string[];
	if (!dbs.includes(db)) return {db, exists: false, tables: []};
	const names = ((await r.db(db).tableList().run(connection)) as string[]).sort();
	const tables = [];
	for (const table of names)
		tables.push({table, rows: (await r.db(db).table(table).count().run(connection)) as number});
	return {db, exists: true, tables};
}

/** Drops the app's database and removes its user. */
export async function dropAppDatabase(connection: r.Connection, app: string): Promise<void> {
	const db = databaseName(app);
	const dbs = (await r.dbList().run(connection)) as string[];
	if (dbs.includes(db)) await r.dbDrop(db).run(connection);
	await r.db('rethinkdb').table('users').get(databaseUser(app)).delete().run(connection);
}
