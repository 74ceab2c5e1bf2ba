import path from 'node:path';
import {InputError} from '../errors.js';
import {STACK_NAME} from '../database/stack.js';

/**
 * How an application is named everywhere it shows: its Swarm stack (`APP`,
 * services `APP_web`), its RethinkDB database and user, its Swarm secrets
 * and the labels swarmbee puts on all of them. Pure.
 */

/** On every service, secret and network swarmbee deploys for an app: which app it belongs to. */
export const APP_LABEL = 'swarmbee.app';
/** On an app's services: the stack file it was deployed from (an implicit app name is checked against it). */
export const SOURCE_LABEL = 'swarmbee.source';
/** On an app's secrets: the key the stack file names (`session_key`), or the database password's role. */
export const KEY_LABEL = 'swarmbee.key';
/** On an app's secrets: the value's size in bytes (Swarm never gives a value back, so `ls` reads it here). */
export const SIZE_LABEL = 'swarmbee.size';
/** On an app's containers: the image id the tag named at deploy (a new build under the same tag rolls the service). */
export const IMAGE_LABEL = 'swarmbee.image';

/** The key of the database password among an app's secrets (a label value, never a stack file's key). */
export const DATABASE_PASSWORD_KEY = 'rethinkdb_password';
/** Where the app finds the database password: /run/secrets/rethinkdb_password. */
export const DATABASE_PASSWORD_TARGET = 'rethinkdb_password';
/** Where the app will find the cluster's CA (the database's TLS): /run/secrets/rethinkdb_ca.pem. */
export const DATABASE_CA_TARGET = 'rethinkdb_ca.pem';

/** Swarm's limit on one secret's value (swarmkit's MaxSecretSize). */
export const SECRET_LIMIT_BYTES = 500 * 1024;

const APP_NAME = /^[a-z][a-z0-9-]{0,22}[a-z0-9]$|^[a-z]$/;
const KEY_NAME = /^[a-z][a-z0-9_]{0,25}$/;

/**
 * Names an app may not take: the database's own stack, RethinkDB's system
 * database, and the admin user (the app's user is named as the app).
 */
const RESERVED_APPS = new Map([
	[STACK_NAME, 'it is the Swarm stack of the cluster’s database servers'],
	['rethinkdb', 'it is RethinkDB’s system database'],
	['admin', 'it is the RethinkDB admin user (the app’s user takes the app’s name)'],
]);

/** Why `name` cannot be an app's name, or undefined when it can. */
export function appNameProblem(name: string): string | undefined {
	const reserved = RESERVED_APPS.get(name);
	if (reserved) return `${name} is taken: ${reserved}`;
	if (!APP_NAME.test(name))
		return `${JSON.stringify(name)} is not an app name: 1 to 24 lower-case letters, digits and dashes, starting with a letter, not ending with a dash`;
	return undefined;
}

/** Refuses a bad app name with the fix. */
export function checkAppName(name: string, where: string): string {
	const problem = appNameProblem(name);
	if (problem)
		throw new InputError(problem, {
			nextSteps: [RESERVED_APPS.has(name) ? `choose another name: ${where} ${name}-app` : `e.g. ${where} my-app`],
		});
	return name;
}

/**
 * The app name a stack file gets when none is given: its folder's name
 * made into one (`My_Shop` → `my-shop`), as Compose names a project. Undefined
 * when nothing usable is left.
 */
export function defaultAppName(file: string): string | undefined {
	const folder = path.basename(path.dirname(path.resolve(file)));
	const name = folder
		.toLowerCase()
		.replace(/[^a-z0-9-]+/g, '-')
		.replace(/^[^a-z]+/, '')
		.replace(/-+$/, '')
		.slice(0, 24)
		.replace(/-+$/, '');
	return name === '' ? undefined : name;
}

/** The app's RethinkDB database (names there allow only [A-Za-z0-9_]): `my-shop` → `my_shop`. */
export function databaseName(app: string): string {
	return app.replace(/-/g, '_');
}

/** The app's RethinkDB user: the database's name, so one look tells which database a user may touch. */
export function databaseUser(app: string): string {
	return databaseName(app);
}

/** Why `key` cannot name an app secret, or undefined. */
export function secretKeyProblem(key: string): string | undefined {
	if (key === DATABASE_PASSWORD_KEY || key === 'rethinkdb_ca')
		return `${key} is swarmbee's: it holds the app's database credentials`;
	if (!KEY_NAME.test(key))
		return `${JSON.stringify(key)} is not a secret key: 1 to 26 lower-case letters, digits and underscores, starting with a letter`;
	return undefined;
}

export function checkSecretKey(key: string): string {
	const problem = secretKeyProblem(key);
	if (problem) throw new InputError(problem, {nextSteps: ['e.g. session_key, api_token, smtp_password']});
	return key;
}

/**
 * A secret's Swarm name: app, key and a hash of the content, so a new value
 * is a new secret (Swarm secrets cannot change) and the same value is the
 * same one (`set` twice changes nothing): `shop_session_key_3f9a0c1d2e4b`.
 * At most 24 + 1 + 26 + 1 + 12 = 64 characters, Swarm's limit.
 */
export function secretName(app: string, key: string, contentHash: string): string {
	return `${app}_${key}_${contentHash}`;
}

/** `web` of app `shop` is the Swarm service `shop_web`. */
export function stackServiceName(app: string, service: string): string {
	return `${app}_${service}`;
}

/** The app a service of swarmbee's belongs to, from its Swarm name (app names have no underscore). */
export function appOfService(service: string): {app: string; service: string} | undefined {
	const at = service.indexOf('_');
	if (at <= 0) return undefined;
	return {app: service.slice(0, at), service: service.slice(at + 1)};
}
