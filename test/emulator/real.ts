/**
 * The emulator's "real" backing: every droplet is a local-provider node
 * container (real sshd, real dockerd) booted like a cloud image. It makes its
 * own host keys at first boot, gets root's authorized_keys from the droplet's
 * ssh_keys (cloud-init's job), then runs the droplet's user_data once.
 *
 * Networks: one public bridge per cluster (the droplets' public IPv4s, which
 * this machine reaches directly) and one internal bridge per VPC on the VPC's
 * own ip_range (the private IPv4s). Everything carries
 * `swarmbee.cluster=<cluster>` (from the droplet's swarmbee-<cluster> tag) so
 * CI's cleanup finds it, and is removed with the droplet or on close().
 */
import {hostAddress} from '../../source/nodes/cidr.js';
import {DockerCli} from '../../source/docker/cli.js';
import type {SecurityMode} from '../../source/providers/local/commands.js';
import {names} from '../../source/providers/local/commands.js';
import {
	createBridge,
	detectSecurityMode,
	engineInfo,
	ensureNodeImage,
	removeNodeContainer,
	startNodeContainer,
	takenSubnets,
} from '../../source/providers/local/node.js';
import type {TarEntry} from '../../source/providers/local/tar.js';

/** Where public bridges take their /24s: clear of local clusters (10.100/14) and VPCs (10.104/13). */
const PUBLIC_SPACE = '10.112.0.0/14';

export interface BootRequest {
	dropletId: number;
	name: string;
	cluster: string;
	vpcId: string;
	vpcRange: string;
	memoryMb: number;
	vcpus: number;
	userData?: string;
	authorizedKeys: string[];
}

interface Bridge {
	name: string;
	subnet: string;
	/** Next host number to hand out. */
	next: number;
}

export class RealBacking {
	readonly docker: DockerCli;
	private image?: string;
	private security?: SecurityMode;
	private cgroupVersion: 1 | 2 = 1;
	private readonly publicBridges = new Map<string, Promise<Bridge>>();
	private readonly vpcBridges = new Map<string, Promise<Bridge>>();
	private readonly containers = new Map<number, {container: string; volume: string; networks: string[]}>();
	private running = 0;
	private readonly queue: Array<() => void> = [];

	constructor(
		private readonly instance: string,
		docker?: DockerCli,
		private readonly log: (line: string) => void = () => {},
	) {
		this.docker = docker ?? new DockerCli();
	}

	/** Builds (or finds) the node image and learns how the engine runs nested nodes. */
	async prepare(): Promise<void> {
		const info = await engineInfo(this.docker);
		this.cgroupVersion = info.cgroupVersion;
		const image = await ensureNodeImage(this.docker, 'debian:bookworm', {
			onLine: line => this.log(`node image: ${line}`),
		});
		this.image = image.tag;
		this.security = await detectSecurityMode(this.docker, image.tag);
	}

	/** Subnets in use on the engine, for VPC ranges to avoid. */
	takenSubnets(): Promise<string[]> {
		return takenSubnets(this.docker);
	}

	/** At most a few docker create/start sequences at once: two cores, shared. */
	private async limited<T>(work: () => Promise<T>): Promise<T> {
		if (this.running >= 3) await new Promise<void>(resolve => this.queue.push(resolve));
		this.running++;
		try {
			return await work();
		} finally {
			this.running--;
			this.queue.shift()?.();
		}
	}

	private bridge(
		cache: Map<string, Promise<Bridge>>,
		key: string,
		make: () => Promise<{subnet: string; name: string}>,
		firstHost: number,
	): Promise<Bridge> {
		let bridge = cache.get(key);
		if (!bridge) {
			bridge = make().then(made => ({...made, next: firstHost}));
			bridge.catch(() => cache.delete(key));
			cache.set(key, bridge);
		}
		return bridge;
	}

	/** Creates and starts the droplet's container; resolves with its addresses once it runs. */
	async boot(request: BootRequest): Promise<{publicIp: string; privateIp: string}> {
		if (!this.image || !this.security) throw new Error('RealBacking.prepare() was not called');
		const {cluster} = request;
		const owner = `do-emulator-${this.instance}`;
		const pub = await this.bridge(
			this.publicBridges,
			cluster,
			async () => {
				const made = await createBridge(this.docker, {cluster, owner, kind: 'public', space: PUBLIC_SPACE});
				return {subnet: made.subnet, name: names.network(cluster, 'public')};
			},
			10,
		);
		const priv = await this.bridge(
			this.vpcBridges,
			request.vpcId,
			async () => {
				// One bridge per VPC, on the VPC's range; named after the first cluster in it.
				const name = `${names.network(cluster, 'private')}-${request.vpcId.slice(0, 8)}`;
				const made = await createBridge(this.docker, {
					cluster,
					owner,
					kind: 'private',
					subnet: request.vpcRange,
					name,
					labels: {'swarmbee.vpc': request.vpcId},
				});
				return {subnet: made.subnet, name};
			},
			2,
		);
		const publicIp = hostAddress(pub.subnet, pub.next++);
		const privateIp = hostAddress(priv.subnet, priv.next++);
		const container = `${names.container(cluster, request.name)}-${request.dropletId}`;
		const volume = `${container}-docker`;
		this.containers.set(request.dropletId, {container, volume, networks: [pub.name, priv.name]});
		const files: TarEntry[] = [
			{path: 'root/.ssh', mode: 0o700},
			{
				path: 'root/.ssh/authorized_keys',
				mode: 0o600,
				contents: request.authorizedKeys.map(k => `${k.trim()}\n`).join(''),
			},
			{path: 'var/lib/cloud/instance', mode: 0o755},
			...(request.userData ? [{path: 'var/lib/cloud/user-data', mode: 0o700, contents: request.userData}] : []),
		];
		await this.limited(() =>
			startNodeContainer(this.docker, {
				cluster,
				owner,
				node: request.name,
				role: 'droplet',
				image: this.image!,
				memoryMb: request.memoryMb,
				vcpus: request.vcpus,
				publicAddress: publicIp,
				privateAddress: privateIp,
				privateNetwork: priv.name,
				security: this.security!,
				cgroupVersion: this.cgroupVersion,
				containerName: container,
				volumeName: volume,
				env: {SWARMBEE_CLOUD_IMAGE: '1'},
				labels: {'swarmbee.droplet': String(request.dropletId), 'swarmbee.emulator': this.instance},
				files,
			}),
		);
		this.log(`droplet ${request.dropletId} ${request.name}: container ${container} at ${publicIp} / ${privateIp}`);
		return {publicIp, privateIp};
	}

	async restart(dropletId: number): Promise<void> {
		const made = this.containers.get(dropletId);
		if (made) await this.docker.run(['restart', '--time', '20', made.container]);
	}

	async stop(dropletId: number): Promise<void> {
		const made = this.containers.get(dropletId);
		if (made) await this.docker.run(['stop', '--time', '20', made.container]);
	}

	async start(dropletId: number): Promise<void> {
		const made = this.containers.get(dropletId);
		if (made) await this.docker.run(['start', made.container]);
	}

	/** Removes the droplet's container and volume, then any bridge nothing uses any more. */
	async remove(dropletId: number): Promise<void> {
		const made = this.containers.get(dropletId);
		if (!made) return;
		this.containers.delete(dropletId);
		await removeNodeContainer(this.docker, made.container, made.volume);
		await this.collectBridges();
	}

	private async collectBridges(): Promise<void> {
		const inUse = new Set([...this.containers.values()].flatMap(c => c.networks));
		for (const cache of [this.publicBridges, this.vpcBridges]) {
			for (const [key, bridge] of cache) {
				const {name} = await bridge.catch(() => ({name: ''}));
				if (!name || inUse.has(name)) continue;
				cache.delete(key);
				await this.docker.run(['network', 'rm', name]).catch(() => {});
			}
		}
	}

	/** Everything this backing made goes. */
	async close(): Promise<void> {
		for (const id of [...this.containers.keys()])
			await this.remove(id).catch(error => this.log(`cleanup of droplet ${id}: ${(error as Error).message}`));
		await this.collectBridges();
	}
}
