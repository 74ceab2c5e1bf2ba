/**
 * Docker CLI argument lists for local nodes, as pure functions so tests can
 * pin them as values (the way kamal tests its commands).
 */

export const LABEL_CLUSTER = 'swarmbee.cluster';
export const LABEL_NODE = 'swarmbee.node';
export const LABEL_OWNER = 'swarmbee.owner';
const LABEL_ROLE = 'swarmbee.role';
export const LABEL_NETWORK = 'swarmbee.network';

/** Networks are shared by every node of the cluster. */
export const ALL_NODES = 'all';

export type NetworkKind = 'public' | 'private';

export const names = {
	container: (cluster: string, node: string) => `swarmbee-${cluster}-${node}`,
	network: (cluster: string, kind: NetworkKind) => `swarmbee-${cluster}-${kind}`,
	volume: (cluster: string, node: string) => `swarmbee-${cluster}-${node}-docker`,
};

function labelArgs(labels: Record<string, string>): string[] {
	return Object.entries(labels).flatMap(([key, value]) => ['--label', `${key}=${value}`]);
}

/**
 * Two bridges per cluster, like a droplet's eth0 and eth1. The private one is
 * internal (no route out), as a VPC is: Swarm and the overlay run on it.
 * Subnets are chosen by swarmbee so every node keeps its address on reboot.
 */
export function networkCreateArgs(
	cluster: string,
	owner: string,
	kind: NetworkKind,
	subnet: string,
	labels: Record<string, string> = {},
	name = names.network(cluster, kind),
): string[] {
	return [
		'network',
		'create',
		'--driver',
		'bridge',
		'--subnet',
		subnet,
		...(kind === 'private' ? ['--internal'] : []),
		...labelArgs({
			[LABEL_CLUSTER]: cluster,
			[LABEL_NODE]: ALL_NODES,
			[LABEL_OWNER]: owner,
			[LABEL_NETWORK]: kind,
			...labels,
		}),
		name,
	];
}

export function volumeCreateArgs(
	cluster: string,
	owner: string,
	node: string,
	volume = names.volume(cluster, node),
): string[] {
	return [
		'volume',
		'create',
		...labelArgs({[LABEL_CLUSTER]: cluster, [LABEL_NODE]: node, [LABEL_OWNER]: owner}),
		volume,
	];
}

/** How much of the host a node container may touch. */
export type SecurityMode = 'privileged' | 'capabilities';

/**
 * A nested dockerd needs nearly everything. `--privileged` where the engine
 * allows it; otherwise every capability except SYS_RESOURCE (which some
 * sandboxes withhold), no seccomp/AppArmor filter, and the cgroup tree.
 */
export function securityArgs(mode: SecurityMode, cgroupVersion: 1 | 2): string[] {
	if (mode === 'privileged')
		return [
			'--privileged',
			...(cgroupVersion === 2 ? ['--cgroupns', 'private', '--env', 'SWARMBEE_CGROUP_NEST=1'] : []),
		];
	return [
		'--cap-add',
		'ALL',
		'--cap-drop',
		'SYS_RESOURCE',
		'--security-opt',
		'seccomp=unconfined',
		'--security-opt',
		'apparmor=unconfined',
		'--volume',
		'/sys/fs/cgroup:/sys/fs/cgroup:rw',
	];
}

export interface NodeContainerOptions {
	cluster: string;
	owner: string;
	/** The node's name, which is also its hostname. */
	node: string;
	role: string;
	image: string;
	memoryMb: number;
	vcpus: number;
	publicAddress: string;
	security: SecurityMode;
	cgroupVersion: 1 | 2;
	/**
	 * Container and volume names default to the local provider's. The
	 * DigitalOcean emulator names them after droplet ids instead, because
	 * droplet names are not unique and a duplicate must be representable.
	 */
	containerName?: string;
	volumeName?: string;
	/** Extra environment, e.g. the emulator's SWARMBEE_CLOUD_IMAGE=1. */
	env?: Record<string, string>;
	/** Extra labels besides cluster, node, owner and role. */
	labels?: Record<string, string>;
}

/** `docker create` for one node; its private NIC is attached before it starts. */
export function nodeCreateArgs(o: NodeContainerOptions): string[] {
	const memory = `${o.memoryMb}m`;
	return [
		'create',
		'--name',
		o.containerName ?? names.container(o.cluster, o.node),
		'--hostname',
		o.node,
		...labelArgs({
			[LABEL_CLUSTER]: o.cluster,
			[LABEL_NODE]: o.node,
			[LABEL_OWNER]: o.owner,
			[LABEL_ROLE]: o.role,
			...o.labels,
		}),
		'--network',
		names.network(o.cluster, 'public'),
		'--ip',
		o.publicAddress,
		'--memory',
		memory,
		'--memory-swap',
		memory,
		'--cpus',
		String(o.vcpus),
		'--env',
		`SWARMBEE_MEMORY_MB=${o.memoryMb}`,
		...Object.entries(o.env ?? {}).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
		'--mount',
		`type=volume,src=${o.volumeName ?? names.volume(o.cluster, o.node)},dst=/var/lib/docker`,
		'--restart',
		'unless-stopped',
		'--stop-timeout',
		'20',
		...securityArgs(o.security, o.cgroupVersion),
		o.image,
	];
}

export function connectPrivateArgs(
	cluster: string,
	node: string,
	privateAddress: string,
	container = names.container(cluster, node),
	network = names.network(cluster, 'private'),
): string[] {
	return ['network', 'connect', '--ip', privateAddress, network, container];
}

/** Nodes sit at .10, .11, … of each network: stable across reboots. */
export const FIRST_NODE_OFFSET = 10;
