import {stripVTControlCharacters} from 'node:util';
import {CancelledError} from '../errors.js';
import {checkAnswer} from '../spec-fields.js';
import {NoEngineError, type DockerEngine} from './cli.js';

/** An image the database could run from, and whether this machine can give it to nodes. */
export interface DatabaseImageChoice {
	image: string;
	/** It is on this engine, can be pulled, or (the official one) built from the real server's source folder at create. */
	usable: boolean;
	/** How it is had, in a few words for a list: `on this engine (2 hours ago, 110MB)`, `built at create`. */
	short: string;
	/** The same in full: from where, or why not. */
	says: string;
}

interface Where {
	/** The product's default (the official image): the one preflight builds from `source` where it cannot be pulled. */
	official: string;
	/** The real server's source folder, where one is at hand. */
	source?: string | undefined;
	signal?: AbortSignal;
}

/** C0 and C1 control characters (built from code points: Biome refuses them written in a pattern). */
const CONTROL = new RegExp(
	`[${String.fromCharCode(0)}-${String.fromCharCode(0x1f)}${String.fromCharCode(0x7f)}-${String.fromCharCode(0x9f)}]+`,
	'g',
);

/** Text from the engine, as shown: one line, no escapes or control characters. */
function shown(text: string): string {
	return stripVTControlCharacters(text).replace(CONTROL, ' ').trim();
}

/**
 * Whether nodes that load the database image from this machine's engine
 * (local) can be given `image`, asked before anything is created: there
 * already; else pullable (its registry answers for its manifest: the pull
 * itself is preflight's); else, for the official image only, built from
 * the real server's source folder at create, as preflight does.
 */
export async function checkDatabaseImage(
	docker: DockerEngine,
	image: string,
	where: Where,
): Promise<DatabaseImageChoice> {
	if ((await docker.imageId(image, {signal: where.signal})) !== undefined)
		return {image, usable: true, short: 'on this engine', says: 'on this engine'};
	try {
		await docker.run(['manifest', 'inspect', image], {signal: where.signal, timeoutMs: 20_000});
		return {
			image,
			usable: true,
			short: 'pulled at create',
			says: 'not on this engine yet: pulled from its registry at create',
		};
	} catch (error) {
		if (error instanceof CancelledError) throw error;
		if (image === where.official && where.source)
			return {
				image,
				usable: true,
				short: 'built from the source folder at create',
				says: `its registry cannot be reached from here: RethinkDB 2.4.4 is built from its source folder (${where.source}) at create`,
			};
		// The engine answered just now: a registry the CLI cannot reach is no missing engine, whatever DockerCli calls it.
		const detail = error instanceof NoEngineError ? (error.hint ?? error.message) : (error as Error).message;
		// The end of a long line says the cause (`… no such host`): kept from a word on.
		const line = shown(String(detail).split('\n')[0] ?? '');
		const why = line.length > 120 ? `…${line.slice(-120).replace(/^\S*\s/, '')}` : line;
		return {
			image,
			usable: false,
			short: 'not on this engine, cannot be pulled here',
			says: `not on this engine and cannot be pulled here (${why})`,
		};
	}
}

interface ImageRow {
	Repository: string;
	Tag: string;
	CreatedSince: string;
	Size: string;
}

/**
 * What the wizard offers for the database image on a side-loading
 * provider: the official image and the one asked before (each checked),
 * then every RethinkDB image already on this engine, newest first.
 *
 *     rethinkdb:2.4.4-bookworm-slim   its registry cannot be reached from here: RethinkDB 2.4.4 is built from …
 *     swarmbee-rethinkdb:7db37ad4e884 on this engine (22 minutes ago, 110MB): built by swarmbee from RethinkDB's source
 */
export async function databaseImageChoices(
	docker: DockerEngine,
	where: Where & {wanted?: string | undefined},
): Promise<DatabaseImageChoice[]> {
	const rows = await docker.jsonLines<ImageRow>(['images', '--format', '{{json .}}'], {signal: where.signal});
	const onEngine = rows
		.filter(row => row.Tag && row.Tag !== '<none>' && /rethinkdb/i.test(row.Repository.split('/').at(-1) ?? ''))
		.map(row => ({row, image: `${row.Repository}:${row.Tag}`}))
		// Only names the spec would take: text from the engine is checked before it is offered.
		.filter(({image}) => checkAnswer('rethinkdbImage', image, 'local') === true)
		.map(({row, image}) => ({
			image,
			usable: true,
			short: `on this engine (${shown(row.CreatedSince)}, ${shown(row.Size)})`,
			says: `on this engine (${shown(row.CreatedSince)}, ${shown(row.Size)})${row.Repository === 'swarmbee-rethinkdb' ? ": built by swarmbee from RethinkDB 2.4.4's source" : ''}`,
		}));
	const first = [...new Set([where.official, ...(where.wanted ? [where.wanted] : [])])];
	const checked = await Promise.all(
		first.map(image => onEngine.find(c => c.image === image) ?? checkDatabaseImage(docker, image, where)),
	);
	return [...checked, ...onEngine.filter(c => !first.includes(c.image))];
}
