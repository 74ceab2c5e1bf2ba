import {hostAddress} from '../../nodes/cidr.js';
import {DOCKER_DAEMON_FILE, dockerDaemonJson} from '../../nodes/docker-daemon.js';
import {eachLimited} from '../../concurrency.js';
import type {DockerCli} from '../../docker/cli.js';
import {InputError, SpecError, toSwarmbeeError} from '../../errors.js';
import {event} from '../../events.js';
import {counted} from '../../render/format.js';
import {memoryFitProblem, planNodes} from '../../spec.js';
import type {
	CreateOutcome,
	DestroyReport,
	InfraInfo,
	Machine,
	MachinePlan,
	MachineStatus,
	PlannedResource,
	Provider,
	ProviderCapabilities,
	ProviderContext,
	ProviderPlan,
} from '../types.js';
import {
	ALL_NODES,
	FIRST_NODE_OFFSET,
	LABEL_CLUSTER,
	LABEL_NETWORK,
	LABEL_NODE,
	LABEL_OWNER,
	names,
	type NetworkKind,
	type SecurityMode,
} from './commands.js';
import {
	createBridge,
	detectSecurityMode,
	engineInfo,
	ensureNodeImage,
	removeNodeContainer,
	startNodeContainer,
	type NetworkInspect,
} from './node.js';
import {LOCAL_IMAGES, LOCAL_SIZES, localSize, type LocalSize} from './sizes.js';
import type {TarEntry} from './tar.js';

interface ContainerSummary {
	ID: string;
	Names: string;
	State: string;
	Labels: string;
}

interface ContainerInspect {
	Id: string;
	Name: string;
	State: {Status: string; StartedAt: string; Running: boolean};
	Config: {Labels: Record<string, string> | null};
	NetworkSettings: {Networks: Record<string, {IPAddress: string}>};
}

/** Where local clusters take their bridge subnets: clear of Docker's default pools. */
const LOCAL_SUBNET_SPACE = '10.100.0.0/14';

/**
 * Nodes are containers on this machine's Docker engine, each with its own
 * sshd and dockerd, on two bridges (public and private) like droplets. Every
 * container, network and volume carries the cluster's labels.
 */
export class LocalProvider implements Provider {
	readonly name = 'local' as const;
	readonly capabilities: ProviderCapabilities = {
		encryptedOverlay: false,
		pullImages: false,
		hostKeyBeforeBoot: true,
		bootHostKeyExposed: false,
		sharesHostCpus: true,
	};

	private nodeImage?: string;
	/** Asked once, of the engine, the first time a node is to be made (a no-op `up` makes none and starts no container). */
	private security?: Promise<SecurityMode>;
	private cgroupVersion: 1 | 2 = 1;

	constructor(private readonly docker: DockerCli) {}

	async preflight(ctx: ProviderContext): Promise<string[]> {
		const {spec, signal} = ctx;
		const lines: string[] = [];
		// Cheap checks of the spec first: they need no engine.
		const size = this.checkSpec(spec);
		const version = await this.docker.serverVersion(signal);
		lines.push(`Docker engine ${version} reachable`);
		const info = await engineInfo(this.docker, signal);
		this.cgroupVersion = info.cgroupVersion;

		const nodes = planNodes(spec);
		const wanted = nodes.length * size.memoryMb * 1024 * 1024;
		if (wanted > info.memTotal * 2) {
			throw new InputError(
				`${nodes.length} nodes of ${spec.size} need ${Math.round(wanted / 1024 ** 3)} GiB, but this engine has ${Math.round(info.memTotal / 1024 ** 3)} GiB`,
				{
					nextSteps: ['ask for fewer workers (--workers) or a smaller size (--size s-1vcpu-512mb-10gb)'],
				},
			);
		}
		if (wanted > info.memTotal) {
			ctx.emit?.(
				event({
					type: 'warning',
					message: `${nodes.length} nodes may use up to ${Math.round(wanted / 1024 ** 3)} GiB; this engine has ${Math.round(info.memTotal / 1024 ** 3)} GiB`,
				}),
			);
		}

		const present = await this.checkNamesAreOurs(ctx);
		const image = await ensureNodeImage(this.docker, LOCAL_IMAGES[spec.image]!, {
			signal,
			preinstall: true,
			onLine: line => ctx.progress?.(`building node image: ${line}`),
		});
		this.nodeImage = image.tag;
		lines.push(`node image ${image.tag} ${image.built ? 'built' : 'cached'}`);
		if (nodes.some(node => !present.has(node.name))) {
			const security = await this.securityMode(signal);
			lines.push(
				security === 'privileged'
					? 'nodes run privileged'
					: 'this engine refuses --privileged: nodes get every capability but SYS_RESOURCE',
			);
		}
		return lines;
	}

	/** Size, image, memory and region, checked against what local nodes offer. */
	private checkSpec(spec: ProviderContext['spec']): LocalSize {
		const size = localSize(spec.size);
		const problems = [];
		if (!size) {
			problems.push({
				field: 'size',
				problem: `"${spec.size}" is not a local node size`,
				fix: `use one of: ${LOCAL_SIZES.map(s => `${s.slug} (${s.memoryMb} MB, ${s.vcpus} vCPU)`).join(', ')}`,
			});
		}
		if (!LOCAL_IMAGES[spec.image]) {
			problems.push({
				field: 'image',
				problem: `"${spec.image}" is not an image local nodes can be built from`,
				fix: `use one of: ${Object.keys(LOCAL_IMAGES).join(', ')}`,
			});
		}
		if (size) {
			const fit = memoryFitProblem(spec, size.memoryMb);
			if (fit) problems.push(fit);
		}
		if (spec.region !== 'local') {
			problems.push({
				field: 'region',
				problem: `local clusters have no region ("${spec.region}")`,
				fix: 'leave --region out with --provider local',
			});
		}
		if (problems.length > 0 || !size) throw new SpecError(problems);
		return size;
	}

	/** Containers, networks and volumes `up` would make; local nodes cost nothing. */
	async plan(ctx: ProviderContext): Promise<ProviderPlan> {
		const {spec} = ctx;
		const size = this.checkSpec(spec);
		const existing = new Set((await this.listMachines(ctx)).map(m => m.name));
		const networks = new Set((await this.clusterNetworks(spec.name, ctx.signal)).map(n => n.Name));
		const resources: PlannedResource[] = [];
		for (const node of planNodes(spec)) {
			resources.push({
				kind: 'container',
				name: names.container(spec.name, node.name),
				action: existing.has(node.name) ? 'exists' : 'create',
				detail: `${node.role}, ${size.slug}: ${size.memoryMb} MB, ${size.vcpus} vCPU`,
			});
			resources.push({
				kind: 'volume',
				name: names.volume(spec.name, node.name),
				action: existing.has(node.name) ? 'exists' : 'create',
				detail: `${node.name}'s /var/lib/docker`,
			});
		}
		for (const kind of ['public', 'private'] as const) {
			const name = names.network(spec.name, kind);
			resources.push({
				kind: 'network',
				name,
				action: networks.has(name) ? 'exists' : 'create',
				detail: kind === 'private' ? 'bridge, internal (like a VPC)' : 'bridge, reachable from this machine',
			});
		}
		return {resources, notes: ["local nodes are containers on this machine's Docker engine: they cost nothing"]};
	}

	/**
	 * A cluster name is ours if nothing on the engine uses it, or only things
	 * carrying our owner id. Anything else (another swarmbee state, a
	 * container someone named the same) is refused before we create anything.
	 * Returns the nodes that have a container already.
	 */
	private securityMode(signal?: AbortSignal): Promise<SecurityMode> {
		this.security ??= detectSecurityMode(this.docker, this.nodeImage!, signal);
		return this.security;
	}

	private async checkNamesAreOurs(ctx: ProviderContext): Promise<Set<string>> {
		const cluster = ctx.spec.name;
		const inspected = await this.clusterContainers(cluster, ctx.signal);
		const foreign = inspected.filter(c => c.Config.Labels?.[LABEL_OWNER] !== ctx.owner);
		const named = await this.docker.jsonLines<ContainerSummary>(
			['ps', '-a', '--filter', `name=^swarmbee-${cluster}-`, '--format', '{{json .}}'],
			{signal: ctx.signal},
		);
		// `ps` names a container by its short id, inspect by its full one.
		const unlabelled = named.filter(c => !inspected.some(l => l.Id.startsWith(c.ID)));
		const networks = await this.clusterNetworks(cluster, ctx.signal);
		const foreignNetworks = networks.filter(n => n.Labels?.[LABEL_OWNER] !== ctx.owner);
		if (foreign.length + unlabelled.length + foreignNetworks.length === 0)
			return new Set(inspected.map(c => c.Config.Labels?.[LABEL_NODE] ?? ''));
		const what = [
			...foreign.map(c => `container ${c.Name.replace(/^\//, '')}`),
			...unlabelled.map(c => `container ${c.Names} (not made by swarmbee)`),
			...foreignNetworks.map(n => `network ${n.Name}`),
		];
		throw new InputError(`the name "${cluster}" is already used on this Docker engine by another cluster`, {
			hint: `${what.slice(0, 5).join(', ')}${what.length > 5 ? `, and ${what.length - 5} more` : ''} belong to a cluster this swarmbee state did not create.`,
			nextSteps: [
				'choose another name for this cluster',
				`or, if that cluster is yours from another SWARMBEE_HOME, use that one; to delete it anyway: swarmbee down ${cluster} --force`,
			],
		});
	}

	private async clusterNetworks(cluster: string, signal?: AbortSignal): Promise<NetworkInspect[]> {
		const byLabel = (
			await this.docker.run(['network', 'ls', '-q', '--filter', `label=${LABEL_CLUSTER}=${cluster}`], {signal})
		)
			.split('\n')
			.filter(Boolean);
		const byName = (await this.docker.run(['network', 'ls', '-q', '--filter', `name=^swarmbee-${cluster}-`], {signal}))
			.split('\n')
			.filter(Boolean);
		return this.docker.inspect<NetworkInspect>('network', [...new Set([...byLabel, ...byName])], {signal});
	}

	async ensureInfra(ctx: ProviderContext): Promise<{infra: InfraInfo; changed: boolean}> {
		const cluster = ctx.spec.name;
		let changed = false;
		const existing = await this.clusterNetworks(cluster, ctx.signal);
		const ours = existing.filter(n => n.Labels?.[LABEL_OWNER] === ctx.owner);
		const result: Partial<Record<NetworkKind, {id: string; subnet: string}>> = {};
		for (const kind of ['public', 'private'] as const) {
			const matching = ours.filter(n => n.Labels?.[LABEL_NETWORK] === kind);
			// Docker lets two networks share a name; a crash mid-create can leave
			// two. Keep the oldest-listed one, remove the others.
			for (const extra of matching.slice(1)) await this.docker.run(['network', 'rm', extra.Id], {signal: ctx.signal});
			const found = matching[0];
			const subnet = found?.IPAM.Config?.[0]?.Subnet;
			if (found && subnet) {
				result[kind] = {id: found.Id, subnet};
				continue;
			}
			result[kind] = await this.createNetwork(ctx, kind);
			changed = true;
		}
		return {
			infra: {
				privateCidr: result.private!.subnet,
				publicCidr: result.public!.subnet,
				ids: {publicNetwork: result.public!.id, privateNetwork: result.private!.id},
			},
			changed,
		};
	}

	private createNetwork(ctx: ProviderContext, kind: NetworkKind): Promise<{id: string; subnet: string}> {
		return createBridge(this.docker, {
			cluster: ctx.spec.name,
			owner: ctx.owner,
			kind,
			space: LOCAL_SUBNET_SPACE,
			signal: ctx.signal,
		});
	}

	/** Every container labelled with the cluster's name (any owner), inspected. */
	private async clusterContainers(cluster: string, signal?: AbortSignal): Promise<ContainerInspect[]> {
		const ids = (await this.docker.run(['ps', '-aq', '--filter', `label=${LABEL_CLUSTER}=${cluster}`], {signal}))
			.split('\n')
			.filter(Boolean);
		return this.docker.inspect<ContainerInspect>('container', ids, {signal});
	}

	async listMachines(ctx: ProviderContext): Promise<Machine[]> {
		const cluster = ctx.spec.name;
		const inspected = await this.clusterContainers(cluster, ctx.signal);
		return inspected
			.filter(c => c.Config.Labels?.[LABEL_NODE] && c.Config.Labels[LABEL_NODE] !== ALL_NODES)
			.map(c => this.toMachine(cluster, c));
	}

	private toMachine(cluster: string, c: ContainerInspect): Machine {
		const labels = c.Config.Labels ?? {};
		const publicAddress = c.NetworkSettings.Networks[names.network(cluster, 'public')]?.IPAddress || undefined;
		const privateAddress = c.NetworkSettings.Networks[names.network(cluster, 'private')]?.IPAddress || undefined;
		const neverStarted = c.State.StartedAt.startsWith('0001-');
		let status: MachineStatus;
		if (c.State.Running) status = 'running';
		else if (c.State.Status === 'created' && neverStarted) status = 'unfinished';
		else if (c.State.Status === 'dead' || c.State.Status === 'removing') status = 'error';
		else status = 'stopped';
		return {
			name: labels[LABEL_NODE]!,
			providerId: c.Id,
			status,
			owner: labels[LABEL_OWNER],
			publicAddress,
			privateAddress,
			...(publicAddress ? {ssh: {host: publicAddress, port: 22, user: 'root'}} : {}),
		};
	}

	async createMachines(
		ctx: ProviderContext,
		plans: MachinePlan[],
		infra: InfraInfo,
		onProgress: (node: string, detail: string) => void,
	): Promise<CreateOutcome[]> {
		const results = await eachLimited(plans, 8, plan => this.createOne(ctx, plan, infra, onProgress));
		return results.map((r, i) =>
			r.status === 'fulfilled'
				? {name: plans[i]!.name, machine: r.value}
				: {name: plans[i]!.name, error: toSwarmbeeError(r.reason)},
		);
	}

	private async createOne(
		ctx: ProviderContext,
		plan: MachinePlan,
		infra: InfraInfo,
		onProgress: (node: string, detail: string) => void,
	): Promise<Machine> {
		const {spec, owner, signal} = ctx;
		if (!this.nodeImage) throw new Error('local provider: preflight must run before createMachines');
		const security = await this.securityMode(signal);
		const size = localSize(spec.size)!;
		const publicAddress = hostAddress(infra.publicCidr!, FIRST_NODE_OFFSET + plan.index);
		const privateAddress = hostAddress(infra.privateCidr, FIRST_NODE_OFFSET + plan.index);
		// The host key goes in before sshd first starts: the first connection
		// is already verified against it.
		const id = await startNodeContainer(this.docker, {
			cluster: spec.name,
			owner,
			node: plan.name,
			role: plan.role,
			image: this.nodeImage,
			memoryMb: size.memoryMb,
			vcpus: size.vcpus,
			publicAddress,
			privateAddress,
			security,
			cgroupVersion: this.cgroupVersion,
			files: nodeFiles(plan),
			signal,
			onStep: step => onProgress(plan.name, step),
		});
		return {
			name: plan.name,
			providerId: id,
			status: 'running',
			owner,
			publicAddress,
			privateAddress,
			ssh: {host: publicAddress, port: 22, user: 'root'},
		};
	}

	async startMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		await this.docker.run(['start', machine.providerId], {signal: ctx.signal});
	}

	async stopMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		// The node's init stops its services on SIGTERM (docker first), within the 20 s a reboot gets too.
		await this.docker.run(['stop', '--time', '20', machine.providerId], {signal: ctx.signal});
	}

	async deleteMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		await removeNodeContainer(this.docker, machine.providerId, names.volume(ctx.spec.name, machine.name), ctx.signal);
	}

	async rebootMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		await this.docker.run(['restart', '--time', '20', machine.providerId], {signal: ctx.signal});
	}

	async destroy(ctx: ProviderContext, options: {includeForeign: boolean}): Promise<DestroyReport> {
		const cluster = ctx.spec.name;
		const signal = ctx.signal;
		const mine = (labels: Record<string, string> | null) =>
			options.includeForeign || labels?.[LABEL_OWNER] === ctx.owner;
		const filter = `label=${LABEL_CLUSTER}=${cluster}`;

		const containers = await this.clusterContainers(cluster, signal);
		const doomedContainers = containers.filter(c => mine(c.Config.Labels));
		if (doomedContainers.length > 0)
			await this.docker.run(['rm', '-f', '-v', ...doomedContainers.map(c => c.Id)], {signal});

		const networkIds = (await this.docker.run(['network', 'ls', '-q', '--filter', filter], {signal}))
			.split('\n')
			.filter(Boolean);
		const networks = await this.docker.inspect<NetworkInspect>('network', networkIds, {signal});
		const doomedNetworks = networks.filter(n => mine(n.Labels));
		if (doomedNetworks.length > 0) await this.docker.run(['network', 'rm', ...doomedNetworks.map(n => n.Id)], {signal});

		const volumeNames = (await this.docker.run(['volume', 'ls', '-q', '--filter', filter], {signal}))
			.split('\n')
			.filter(Boolean);
		const volumes = await this.docker.inspect<{Name: string; Labels: Record<string, string> | null}>(
			'volume',
			volumeNames,
			{signal},
		);
		const doomedVolumes = volumes.filter(v => mine(v.Labels));
		if (doomedVolumes.length > 0)
			await this.docker.run(['volume', 'rm', '-f', ...doomedVolumes.map(v => v.Name)], {signal});

		// Listed again by owner too: another state's same-named cluster, even one made
		// while this ran, is not what this down failed to remove.
		const proof = [
			'--filter',
			filter,
			...(options.includeForeign ? [] : ['--filter', `label=${LABEL_OWNER}=${ctx.owner}`]),
		];
		const listed = async (args: string[]) => (await this.docker.run(args, {signal})).split('\n');
		const remaining = [
			...(await listed(['ps', '-a', ...proof, '--format', 'container {{.Names}}'])),
			...(await listed(['network', 'ls', ...proof, '--format', 'network {{.Name}}'])),
			...(await listed(['volume', 'ls', ...proof, '--format', 'volume {{.Name}}'])),
		].filter(Boolean);
		const foreign = [
			...containers.filter(c => !mine(c.Config.Labels)).map(c => `container ${c.Name.replace(/^\//, '')}`),
			...networks.filter(n => !mine(n.Labels)).map(n => `network ${n.Name}`),
			...volumes.filter(v => !mine(v.Labels)).map(v => `volume ${v.Name}`),
		];
		return {
			scope: `labelled ${LABEL_CLUSTER}=${cluster}`,
			removed: [
				counted(doomedContainers.length, 'container'),
				counted(doomedNetworks.length, 'network'),
				counted(doomedVolumes.length, 'volume'),
			],
			remaining,
			foreign,
		};
	}
}

/** The files a node needs before first boot, with exact modes. */
function nodeFiles(plan: MachinePlan): TarEntry[] {
	return [
		{path: 'etc/ssh/ssh_host_ed25519_key', mode: 0o600, contents: `${plan.hostKey.privateKey.trim()}\n`},
		{path: 'etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644, contents: `${plan.hostKey.publicKey}\n`},
		{path: 'root/.ssh', mode: 0o700},
		{path: 'root/.ssh/authorized_keys', mode: 0o600, contents: `${plan.authorizedKey}\n`},
		// Docker's first start already rotates logs: provisioning need not restart it.
		{path: DOCKER_DAEMON_FILE.slice(1), mode: 0o644, contents: dockerDaemonJson()},
	];
}
