import {createHash} from 'node:crypto';
import {readdirSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {ExternalError} from '../errors.js';
import {packageRoot} from '../paths.js';
import {DockerCommandError, type DockerEngine} from './cli.js';

/** An image swarmbee builds itself from a folder of the package. */
interface ImageRecipe {
	/** Short name: the folder under images/ (or a test fixture's). */
	name: string;
	/** Repository part of the tag, e.g. `swarmbee-node`. */
	repository: string;
	/** Build context. */
	dir: string;
	/** Images named in FROM lines: their ids go into the cache key. */
	bases: string[];
	/** `--build-arg`s: part of the cache key too, so each variant has its own tag. */
	buildArgs?: Record<string, string>;
}

export function packagedImage(
	name: string,
	bases: string[] = ['debian:bookworm'],
	buildArgs?: Record<string, string>,
): ImageRecipe {
	return {
		name,
		repository: `swarmbee-${name}`,
		dir: path.join(packageRoot(), 'images', name),
		bases,
		...(buildArgs ? {buildArgs} : {}),
	};
}

/** Content hash of every file in a build context: same files, same tag. */
function contextHash(dir: string, extra: string[] = []): string {
	const hash = createHash('sha256');
	const walk = (relative: string) => {
		const entries = readdirSync(path.join(dir, relative), {withFileTypes: true}).sort((a, b) =>
			a.name.localeCompare(b.name),
		);
		for (const entry of entries) {
			const child = path.join(relative, entry.name);
			if (entry.isDirectory()) {
				walk(child);
			} else {
				const full = path.join(dir, child);
				hash.update(`${child}\0${statSync(full).mode & 0o111 ? 'x' : '-'}\0`);
				hash.update(readFileSync(full));
				hash.update('\0');
			}
		}
	};
	walk('.');
	for (const item of extra) hash.update(`${item}\0`);
	return hash.digest('hex').slice(0, 12);
}

let buildkit: Promise<boolean> | undefined;

/** Whether `docker build` can use BuildKit here; the classic builder otherwise. */
function hasBuildx(docker: DockerEngine): Promise<boolean> {
	buildkit ??= docker.run(['buildx', 'version'], {timeoutMs: 15_000}).then(
		() => true,
		() => false,
	);
	return buildkit;
}

export interface EnsuredImage {
	tag: string;
	id: string;
	built: boolean;
}

/**
 * Builds the recipe unless an image with its content hash is already on the
 * engine. A first build of the node image takes about a minute; later runs
 * take a second.
 */
export async function ensureImage(
	docker: DockerEngine,
	recipe: ImageRecipe,
	options: {signal?: AbortSignal; onLine?: (line: string) => void} = {},
): Promise<EnsuredImage> {
	const baseIds: string[] = [];
	const missingBases: string[] = [];
	for (const base of recipe.bases) {
		const id = await docker.imageId(base, {signal: options.signal});
		// Not here yet: the build will pull it where a registry is reachable.
		if (id === undefined) missingBases.push(base);
		baseIds.push(id ?? base);
	}
	const buildArgs = Object.entries(recipe.buildArgs ?? {}).sort(([a], [b]) => a.localeCompare(b));
	const tag = `${recipe.repository}:${contextHash(recipe.dir, [...baseIds, ...buildArgs.map(([k, v]) => `${k}=${v}`)])}`;
	const existing = await docker.imageId(tag, {signal: options.signal});
	if (existing !== undefined) return {tag, id: existing, built: false};
	const env: Record<string, string> = (await hasBuildx(docker)) ? {DOCKER_BUILDKIT: '1'} : {DOCKER_BUILDKIT: '0'};
	const tail: string[] = [];
	try {
		await docker.run(
			[
				'build',
				'--label',
				`swarmbee.image=${recipe.name}`,
				...buildArgs.flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]),
				'-t',
				tag,
				recipe.dir,
			],
			{
				signal: options.signal,
				env,
				onLine: line => {
					tail.push(line);
					if (tail.length > 20) tail.shift();
					options.onLine?.(line);
				},
			},
		);
	} catch (error) {
		if (!(error instanceof DockerCommandError)) throw error;
		const missingBase = missingBases[0];
		throw new ExternalError(`building the ${recipe.name} image (${tag}) failed`, {
			hint: tail.slice(-6).join('\n') || error.message,
			nextSteps: missingBase
				? [
						`the base image ${missingBase} is not on this engine: \`docker pull ${missingBase}\` (or, offline, import one) and run this again`,
					]
				: [`try the build by hand: docker build ${recipe.dir}`],
		});
	}
	return {tag, id: (await docker.imageId(tag, {signal: options.signal})) ?? '', built: true};
}
