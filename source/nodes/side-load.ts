import {closeSync, createReadStream, createWriteStream, mkdtempSync, openSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {onEveryNode} from '../concurrency.js';
import type {DockerEngine} from '../docker/cli.js';
import {shellCommand} from '../shell.js';
import type {ClusterSpec} from '../spec.js';
import type {NodeShells} from '../ssh/shell.js';

/** Nodes get the database image from this machine when they cannot pull it (or were told not to). */
export function sideLoadsDatabase(
	spec: Pick<ClusterSpec, 'database' | 'sideLoad'>,
	capabilities: {pullImages: boolean},
): boolean {
	return spec.database !== 'none' && (!capabilities.pullImages || spec.sideLoad);
}

/**
 * A temporary file for an image archive (hundreds of MB) that is already
 * unlinked when `docker save` starts writing into it: it lives exactly as
 * long as its open descriptors (this process, and the `docker save` writing
 * into it), so no way of ending swarmbee, `kill -9` included, leaves it in
 * the temp folder. Where an open file cannot be unlinked (Windows), it is
 * removed on close instead.
 */
function openUnlinkedArchive(): {fd: number; close: () => void} {
	const folder = mkdtempSync(path.join(tmpdir(), 'swarmbee-image-'));
	const fd = openSync(path.join(folder, 'image.tar'), 'w+', 0o600);
	let unlinked = true;
	try {
		rmSync(folder, {recursive: true, force: true});
	} catch {
		unlinked = false;
	}
	return {
		fd,
		close: () => {
			closeSync(fd);
			if (!unlinked) rmSync(folder, {recursive: true, force: true});
		},
	};
}

/**
 * `kind load docker-image`, over SSH: nodes that cannot pull (no registry,
 * rate limits) get images from this machine's engine. The image is saved
 * once, then streamed into `docker load` on every node that lacks it.
 */
export async function sideLoadImage(
	docker: DockerEngine,
	ssh: NodeShells,
	nodes: ReadonlyArray<{name: string}>,
	image: {tag: string; id: string},
	/** `onProgress(node, message, done)`: `done` once the node has the image, so a view can stop calling it busy. */
	options: {
		signal?: AbortSignal;
		onProgress?: (node: string, message: string, done: boolean) => void;
		limit?: number;
	} = {},
): Promise<{loaded: string[]; present: string[]}> {
	const {signal} = options;
	const idCommand = `${shellCommand(['docker', 'image', 'inspect', '--format', '{{.Id}}', image.tag])} 2>/dev/null || true`;
	const missing: string[] = [];
	const present: string[] = [];
	await onEveryNode(
		'checking images',
		nodes,
		async node => {
			const connection = await ssh.get(node.name, signal);
			const id = (await connection.exec(idCommand, {signal})).stdout.trim();
			(id === image.id ? present : missing).push(node.name);
		},
		{signal},
	);
	if (missing.length === 0) return {loaded: [], present};

	const archive = openUnlinkedArchive();
	try {
		await docker.run(['save', image.tag], {
			signal,
			stdoutTo: createWriteStream('', {fd: archive.fd, autoClose: false}),
		});
		await onEveryNode(
			'loading images',
			missing.map(name => ({name})),
			async node => {
				options.onProgress?.(node.name, `loading ${image.tag}`, false);
				const connection = await ssh.get(node.name, signal);
				// Each node reads the archive from its start (positional reads): one file, many readers.
				await connection.run('docker load -q', {
					stdin: createReadStream('', {fd: archive.fd, start: 0, autoClose: false}),
					signal,
				});
				options.onProgress?.(node.name, `${image.tag} loaded`, true);
			},
			{signal, limit: options.limit ?? 4},
		);
	} finally {
		archive.close();
	}
	return {loaded: missing, present};
}
