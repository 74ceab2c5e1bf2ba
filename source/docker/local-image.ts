import {InputError} from '../errors.js';
import {DockerCommandError, type DockerEngine} from './cli.js';

/**
 * An image that must be on this machine's engine (to be side-loaded into
 * nodes): there already, or pulled now. Checked before anything is created.
 */
export async function ensureLocalImage(
	docker: DockerEngine,
	image: string,
	options: {signal?: AbortSignal; onLine?: (line: string) => void; why: string; alternatives?: string[]},
): Promise<{id: string; pulled: boolean}> {
	const found = await docker.imageId(image, {signal: options.signal});
	if (found !== undefined) return {id: found, pulled: false};
	try {
		await docker.run(['pull', image], {signal: options.signal, onLine: options.onLine});
	} catch (error) {
		if (!(error instanceof DockerCommandError)) throw error;
		throw new InputError(`${image} is not on this Docker engine and could not be pulled`, {
			hint: `${options.why} ${error.message}`,
			nextSteps: [
				`pull it where its registry is reachable: docker pull ${image} (or docker load it from a file)`,
				'or use an image you have: --rethinkdb-image IMAGE',
				...(options.alternatives ?? []),
				'or build the Swarm without the database: --database none',
			],
		});
	}
	return {id: (await docker.imageId(image, {signal: options.signal})) ?? '', pulled: true};
}
