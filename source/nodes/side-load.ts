import {PassThrough, Writable} from 'node:stream';
import {onEveryNode} from '../concurrency.js';
import type {DockerEngine} from '../docker/cli.js';
import {defined} from '../errors.js';
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
 * One stream written to many: each chunk goes to every target still
 * listening, and the next is taken when all of them have taken this one, so
 * the slowest target sets the pace and nothing piles up in memory. A target
 * that fails is let go (the others go on); ending ends them all.
 */
export class FanOut extends Writable {
	private readonly targets = new Set<Writable>();

	constructor(targets: Iterable<Writable>) {
		super();
		for (const target of targets) this.targets.add(target);
	}

	/** Stops writing to `target` (its node failed): it no longer holds the others back. */
	drop(target: Writable): void {
		this.targets.delete(target);
		target.destroy();
	}

	override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
		let waiting = 0;
		const settled = () => {
			if (--waiting === 0) done();
		};
		for (const target of this.targets) {
			if (target.destroyed || target.write(chunk)) continue;
			waiting++;
			const resume = () => {
				target.off('drain', resume);
				target.off('close', resume);
				settled();
			};
			target.on('drain', resume);
			target.on('close', resume);
		}
		if (waiting === 0) done();
	}

	override _final(done: (error?: Error | null) => void): void {
		this.endTargets();
		done();
	}

	/**
	 * Ends every target where it is, written to the end or not: a source that
	 * failed halfway leaves each reader a cut stream to fail on, not one to
	 * wait on forever.
	 */
	endTargets(): void {
		for (const target of this.targets) if (!target.writableEnded) target.end();
	}
}

/**
 * `kind load docker-image`, over SSH: nodes that cannot pull (no registry,
 * rate limits) get images from this machine's engine. One `docker save` is
 * streamed into `docker load` on every node that lacks the image at once
 * (`limit` nodes per save), so no node waits for the archive to be written
 * first, nor for another node's load: the step's wall time is about one
 * load, not one per node (docs/benchmarks.md, Bring-up).
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
		/** Nodes one `docker save` feeds at once (default 16). */
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
	const limit = Math.max(1, options.limit ?? 16);
	for (let at = 0; at < missing.length; at += limit)
		await streamImage(docker, ssh, missing.slice(at, at + limit), image.tag, options);
	return {loaded: missing, present};
}

/** One `docker save` of `tag`, fanned out to `docker load` on every node of `group` at once. */
async function streamImage(
	docker: DockerEngine,
	ssh: NodeShells,
	group: string[],
	tag: string,
	options: {signal?: AbortSignal; onProgress?: (node: string, message: string, done: boolean) => void},
): Promise<void> {
	const {signal} = options;
	// 4 MiB buffered per node: enough to keep every node busy while the slowest sets the pace.
	const inputs = new Map(group.map(node => [node, new PassThrough({highWaterMark: 4 * 1024 * 1024})]));
	const fanOut = new FanOut(inputs.values());
	const loads = onEveryNode(
		'loading images',
		group.map(name => ({name})),
		async node => {
			const input = defined(inputs.get(node.name), `no image stream was opened for ${node.name}`);
			try {
				options.onProgress?.(node.name, `loading ${tag}`, false);
				const connection = await ssh.get(node.name, signal);
				await connection.run('docker load -q', {stdin: input, signal});
				options.onProgress?.(node.name, `${tag} loaded`, true);
			} catch (error) {
				fanOut.drop(input);
				throw error;
			}
		},
		{signal},
	);
	// Whatever the save did (finished, failed, was cancelled), every load's input ends with it.
	const saved = docker.run(['save', tag], {signal, stdoutTo: fanOut}).finally(() => fanOut.endTargets());
	// The loads' failures name their nodes; a save that failed is the cause of them all.
	const [save, load] = await Promise.allSettled([saved, loads]);
	if (save.status === 'rejected') throw save.reason;
	if (load.status === 'rejected') throw load.reason;
}
