import {existsSync} from 'node:fs';
import path from 'node:path';
import {ExternalError} from '../errors.js';
import {packageRoot} from '../paths.js';
import type {DockerEngine} from './cli.js';
import {ensureImage, type EnsuredImage, packagedImage} from './images.js';

/**
 * The real RethinkDB 2.4.4 server for machines that cannot pull
 * `rethinkdb:2.4.4-bookworm-slim`: built from RethinkDB's official v2.4.4
 * source (see that folder's README), turned into an image laid out like the
 * official one. This is what the tests, the benchmarks and the offline Quick
 * start deploy; the product's default stays the official image.
 */
const RETHINKDB_SOURCE_ENV = 'SWARMBEE_RETHINKDB_SOURCE';

/**
 * Where to look: the variable alone when it is set (a folder asked for by
 * name is never silently replaced by another), else the workplace's
 * `shared/rethinkdb` beside the checkout, then its usual place.
 */
function rethinkdbSourceCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
	const fromEnv = env[RETHINKDB_SOURCE_ENV];
	if (fromEnv) return [path.resolve(fromEnv)];
	return [path.resolve(packageRoot(), '../shared/rethinkdb'), '/work/shared/rethinkdb'];
}

/** The folder holding the server's Dockerfile and binary, or a clear error saying where it comes from. */
export function findRethinkdbSource(env: NodeJS.ProcessEnv = process.env): string {
	const candidates = rethinkdbSourceCandidates(env);
	const found = candidates.find(dir => existsSync(path.join(dir, 'Dockerfile')));
	if (found) return found;
	throw new ExternalError('cannot find the RethinkDB 2.4.4 server to build its image from', {
		hint: `looked in ${candidates.join(', ')}: none holds a Dockerfile. That folder is the real server built from RethinkDB's official v2.4.4 source, with a Dockerfile that lays it out like rethinkdb:2.4.4-bookworm-slim`,
		nextSteps: [
			`point ${RETHINKDB_SOURCE_ENV} at that folder, e.g. ${RETHINKDB_SOURCE_ENV}=/path/to/shared/rethinkdb npm run -s rethinkdb-image`,
			'or, where Docker Hub is reachable, use the official image: docker pull rethinkdb:2.4.4-bookworm-slim',
		],
	});
}

/**
 * Builds the server's image once (cached by the folder's content) and returns
 * its tag, `swarmbee-rethinkdb:<hash>`: the folder's own image
 * (`swarmbee-rethinkdb-source:<hash>`), made into one layer by
 * images/rethinkdb (why: that Dockerfile says).
 */
export async function ensureRethinkdbImage(
	docker: DockerEngine,
	options: {env?: NodeJS.ProcessEnv; signal?: AbortSignal; onLine?: (line: string) => void} = {},
): Promise<EnsuredImage> {
	const server = await ensureImage(
		docker,
		{
			name: 'rethinkdb-source',
			repository: 'swarmbee-rethinkdb-source',
			dir: findRethinkdbSource(options.env),
			bases: ['debian:bookworm'],
		},
		options,
	);
	const flat = await ensureImage(docker, packagedImage('rethinkdb', [server.tag], {SERVER: server.tag}), options);
	return {...flat, built: flat.built || server.built};
}
