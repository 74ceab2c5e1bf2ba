import {onEveryNode} from '../concurrency.js';
import type {DockerEngine} from '../docker/cli.js';
import {InputError} from '../errors.js';
import {sideLoadImage} from '../nodes/side-load.js';
import {shq} from '../shell.js';
import type {NodeShells} from '../ssh/shell.js';
import type {StackProblem} from './stack-file.js';

/**
 * Where an app's images are: on this machine's engine (then side-loaded onto
 * every node that lacks that very image id, as `kind load docker-image`
 * does), already on the nodes, or in a registry the nodes pull from.
 */

/** One command per node: each reference's image id on that node, or `-`, one per line in order. */
export function nodeImageIdsCommand(images: readonly string[]): string {
	return images.map(image => `docker image inspect --format '{{.Id}}' ${shq(image)} 2>/dev/null || echo -`).join('; ');
}

export function parseNodeImageIds(images: readonly string[], output: string): Map<string, string | undefined> {
	const lines = output.trim().split('\n');
	return new Map(images.map((image, i) => [image, lines[i]?.startsWith('sha256:') ? lines[i]!.trim() : undefined]));
}

/** Each image's id on each node (nodes that do not answer fail the whole look, naming themselves). */
export async function nodeImageIds(
	ssh: NodeShells,
	nodes: ReadonlyArray<{name: string}>,
	images: readonly string[],
	signal?: AbortSignal,
): Promise<Map<string, Map<string, string | undefined>>> {
	const found = new Map<string, Map<string, string | undefined>>();
	if (images.length === 0) return found;
	await onEveryNode(
		'looking for images',
		nodes,
		async node => {
			const output = await (await ssh.get(node.name, signal)).run(nodeImageIdsCommand(images), {signal});
			found.set(node.name, parseNodeImageIds(images, output));
		},
		{signal},
	);
	return found;
}

/** A reference pinned by digest (`name@sha256:…`) is a registry's: the nodes pull it. */
function pinnedByDigest(image: string): boolean {
	return /@sha256:[0-9a-f]{64}$/.test(image);
}

export interface ImagePlan {
	/** Images this engine has, to be side-loaded onto the nodes that lack that id. */
	load: Array<{tag: string; id: string}>;
	/** The id each reference is pinned to in the stack (a new build under the same tag rolls the service). */
	ids: Map<string, string>;
	/** References the nodes will pull themselves. */
	pulled: string[];
}

/**
 * What to do about each image a stack names: this engine's copy wins (it is
 * what the user just built); one that only the nodes have is used where it
 * is, if every node has the same; one nobody has is the nodes' to pull where
 * they can, and refused where they cannot (local nodes), naming the line.
 */
export function planImages(input: {
	images: ReadonlyArray<{image: string; line?: number; service: string}>;
	local: ReadonlyMap<string, string | undefined>;
	nodes: ReadonlyMap<string, ReadonlyMap<string, string | undefined>>;
	canPull: boolean;
	cluster: string;
}): {plan: ImagePlan; problems: StackProblem[]} {
	const plan: ImagePlan = {load: [], ids: new Map(), pulled: []};
	const problems: StackProblem[] = [];
	const seen = new Set<string>();
	for (const use of input.images) {
		if (seen.has(use.image)) continue;
		seen.add(use.image);
		const local = input.local.get(use.image);
		if (local) {
			plan.load.push({tag: use.image, id: local});
			plan.ids.set(use.image, local);
			continue;
		}
		const onNodes = [...input.nodes].map(([node, ids]) => ({node, id: ids.get(use.image)}));
		const ids = new Set(onNodes.map(n => n.id));
		const only = [...ids][0];
		if (ids.size === 1 && only) {
			plan.ids.set(use.image, only);
			continue;
		}
		if (input.canPull || pinnedByDigest(use.image)) {
			plan.pulled.push(use.image);
			continue;
		}
		const have = onNodes.filter(n => n.id).map(n => n.node);
		problems.push({
			...(use.line ? {line: use.line} : {}),
			message:
				have.length === 0
					? `${use.service}: image ${use.image} is neither on this machine’s engine nor on the nodes (they cannot pull)`
					: `${use.service}: image ${use.image} is on ${have.join(', ')} only, not on this machine’s engine`,
			fix: `build or pull it here (docker build -t ${use.image} . / docker images), then deploy again: the deploy loads it onto the nodes`,
		});
	}
	return {plan, problems};
}

/** This engine's id of each image (undefined where it has none). */
export async function localImageIds(
	docker: DockerEngine,
	images: readonly string[],
	signal?: AbortSignal,
): Promise<Map<string, string | undefined>> {
	const ids = new Map<string, string | undefined>();
	for (const image of new Set(images)) ids.set(image, await docker.imageId(image, {signal}));
	return ids;
}

/** Each image `load` was asked for, by id on this engine; one that is not here is refused before anything. */
export async function imagesToLoad(
	docker: DockerEngine,
	images: readonly string[],
	cluster: string,
	signal?: AbortSignal,
): Promise<Array<{tag: string; id: string}>> {
	const ids = await localImageIds(docker, images, signal);
	const missing = [...ids].filter(([, id]) => !id).map(([image]) => image);
	if (missing.length > 0)
		throw new InputError(
			`${missing.length === 1 ? `image ${missing[0]} is` : `images ${missing.join(', ')} are`} not on this machine’s Docker engine`,
			{
				nextSteps: [
					'build or pull it here first (docker build -t NAME:TAG . ; docker images lists what is here)',
					`then: swarmbee load ${cluster} ${missing.join(' ')}`,
				],
			},
		);
	return [...ids].map(([tag, id]) => ({tag, id: id!}));
}

/** What one image's load did: which nodes got it, which had it. */
export interface LoadResult {
	tag: string;
	loaded: string[];
	present: string[];
}

/**
 * Side-loads each image onto every node that lacks that image id (one
 * `docker save` streamed into every such node's `docker load`), saying per
 * node what it is doing: `onNode(node, message, done)`.
 */
export async function loadImages(input: {
	docker: DockerEngine;
	ssh: NodeShells;
	nodes: ReadonlyArray<{name: string}>;
	images: ReadonlyArray<{tag: string; id: string}>;
	signal?: AbortSignal;
	onNode?: (node: string, message: string, done: boolean) => void;
}): Promise<LoadResult[]> {
	const results: LoadResult[] = [];
	for (const image of input.images) {
		const started = Date.now();
		const result = await sideLoadImage(input.docker, input.ssh, input.nodes, image, {
			signal: input.signal,
			onProgress: (node, message, done) =>
				input.onNode?.(node, done ? `${message} in ${((Date.now() - started) / 1000).toFixed(1)} s` : message, done),
		});
		for (const node of result.present) input.onNode?.(node, `${image.tag} already here`, true);
		// In the cluster's node order, not the order the loads finished: the same summary every run.
		const order = (names: string[]) => input.nodes.map(n => n.name).filter(name => names.includes(name));
		results.push({tag: image.tag, loaded: order(result.loaded), present: order(result.present)});
	}
	return results;
}
