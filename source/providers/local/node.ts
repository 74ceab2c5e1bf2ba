/**
 * The Docker work behind one node container, shared by the local provider
 * and the DigitalOcean emulator's real mode (whose droplets are these same
 * containers, booted like a cloud image). Argument lists come from
 * commands.ts; this file runs them in order.
 */
import {chooseFreeSubnet} from '../../nodes/cidr.js';
import {DockerCommandError, type DockerCli} from '../../docker/cli.js';
import {ensureImage, packagedImage, type EnsuredImage} from '../../docker/images.js';
import {ExternalError} from '../../errors.js';
import {
	connectPrivateArgs,
	names,
	networkCreateArgs,
	nodeCreateArgs,
	volumeCreateArgs,
	type NetworkKind,
	type NodeContainerOptions,
	type SecurityMode,
} from './commands.js';
import {tarArchive, type TarEntry} from './tar.js';

export interface EngineInfo {
	memTotal: number;
	cgroupVersion: 1 | 2;
}

export interface NetworkInspect {
	Id: string;
	Name: string;
	Labels: Record<string, string> | null;
	IPAM: {Config: Array<{Subnet?: string}> | null};
}

/** Memory and cgroup version of the engine, from `docker info`. */
export async function engineInfo(docker: DockerCli, signal?: AbortSignal): Promise<EngineInfo> {
	const info = JSON.parse(await docker.run(['info', '--format', '{{json .}}'], {signal})) as {
		MemTotal: number;
		CgroupVersion?: string;
	};
	return {memTotal: info.MemTotal, cgroupVersion: info.CgroupVersion === '2' ? 2 : 1};
}

/**
 * The node image for a base image, built once per content hash. `preinstall`
 * bakes in what provisioning installs (local nodes); without it the image is
 * as bare as a cloud image (the emulator's droplets).
 */
export function ensureNodeImage(
	docker: DockerCli,
	baseImage: string,
	options: {signal?: AbortSignal; onLine?: (line: string) => void; preinstall?: boolean} = {},
): Promise<EnsuredImage> {
	return ensureImage(docker, nodeImageRecipe(baseImage, options.preinstall ?? false), options);
}

function nodeImageRecipe(baseImage: string, preinstall: boolean) {
	return packagedImage('node', [baseImage], preinstall ? {SWARMBEE_PREINSTALL: 'provisioning'} : undefined);
}

/** `--privileged` where the engine allows it (laptops), the explicit set otherwise. */
export async function detectSecurityMode(
	docker: DockerCli,
	image: string,
	signal?: AbortSignal,
): Promise<SecurityMode> {
	try {
		await docker.run(['run', '--rm', '--privileged', '--network', 'none', '--entrypoint', 'true', image], {
			signal,
			timeoutMs: 60_000,
		});
		return 'privileged';
	} catch (error) {
		if (error instanceof DockerCommandError) return 'capabilities';
		throw error;
	}
}

/** Subnets every network on the engine uses, so a new one can avoid them. */
export async function takenSubnets(docker: DockerCli, signal?: AbortSignal): Promise<string[]> {
	const ids = (await docker.run(['network', 'ls', '-q'], {signal})).split('\n').filter(Boolean);
	const all = await docker.inspect<NetworkInspect>('network', ids, {signal});
	return all.flatMap(n => (n.IPAM.Config ?? []).map(c => c.Subnet ?? '')).filter(Boolean);
}

export type BridgeOptions = {
	cluster: string;
	/** Default: the cluster's bridge of that kind (swarmbee-<cluster>-<kind>). */
	name?: string;
	owner: string;
	kind: NetworkKind;
	labels?: Record<string, string>;
	signal?: AbortSignal;
	/** Where to pick a free /24 from, or a fixed subnet (a VPC's range). */
} & ({space: string; subnet?: undefined} | {subnet: string; space?: undefined});

/**
 * One of a cluster's two bridges. A free subnet is picked from `space` and
 * the next one tried when another cluster takes it first; a fixed subnet is
 * used as given.
 */
export async function createBridge(docker: DockerCli, o: BridgeOptions): Promise<{id: string; subnet: string}> {
	for (let attempt = 0; attempt < 8; attempt++) {
		const subnet =
			o.subnet ?? chooseFreeSubnet(o.space, await takenSubnets(docker, o.signal), `${o.cluster}:${o.kind}:${attempt}`);
		if (!subnet)
			throw new ExternalError(`no free subnet left in ${o.space} on this engine`, {
				nextSteps: ['remove unused Docker networks: docker network prune'],
			});
		try {
			const id = (
				await docker.run(networkCreateArgs(o.cluster, o.owner, o.kind, subnet, o.labels, o.name), {signal: o.signal})
			).trim();
			return {id, subnet};
		} catch (error) {
			// Another cluster took the same subnet a moment ago: try the next one.
			if (!o.subnet && error instanceof DockerCommandError && /overlap/i.test(error.stderr)) continue;
			throw error;
		}
	}
	throw new ExternalError(`could not create the ${o.kind} network for ${o.cluster}: every subnet tried was taken`);
}

/**
 * Creates and starts one node: its dockerd volume, the container on the
 * public bridge, its private NIC, the files it must have before first boot
 * (copied straight from memory), then `docker start`. Returns the id.
 */
export async function startNodeContainer(
	docker: DockerCli,
	options: NodeContainerOptions & {
		privateAddress: string;
		/** Default: the cluster's private bridge. */
		privateNetwork?: string;
		files: TarEntry[];
		signal?: AbortSignal;
		onStep?: (step: 'creating container' | 'booting') => void;
	},
): Promise<string> {
	const {signal} = options;
	const container = options.containerName ?? names.container(options.cluster, options.node);
	await docker.run(volumeCreateArgs(options.cluster, options.owner, options.node, options.volumeName), {signal});
	options.onStep?.('creating container');
	const id = (await docker.run(nodeCreateArgs(options), {signal})).trim();
	await docker.run(
		connectPrivateArgs(options.cluster, options.node, options.privateAddress, container, options.privateNetwork),
		{signal},
	);
	if (options.files.length > 0) await docker.run(['cp', '-', `${id}:/`], {signal, input: tarArchive(options.files)});
	options.onStep?.('booting');
	await docker.run(['start', id], {signal});
	return id;
}

/** Removes a node container and its dockerd volume; either may be gone already. */
export async function removeNodeContainer(
	docker: DockerCli,
	container: string,
	volume: string,
	signal?: AbortSignal,
): Promise<void> {
	await docker.run(['rm', '-f', '-v', container], {signal}).catch(error => {
		if (!(error instanceof DockerCommandError && /No such container/i.test(error.stderr))) throw error;
	});
	await docker.run(['volume', 'rm', '-f', volume], {signal});
}
