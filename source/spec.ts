import {isIP} from 'node:net';
import {SpecError, type FieldProblem} from './errors.js';

/**
 * What the user asked for. Together with the journal (what exists) it is the
 * single source of truth for a cluster; every step reads both.
 */
export interface ClusterSpec {
	/** DNS label: names containers, droplets, tags, the state folder. */
	name: string;
	provider: ProviderName;
	/** Swarm managers: 1, or 3 for a Raft quorum that survives one loss. */
	managers: 1 | 3;
	/** Worker nodes besides the first manager (`queenbee`). */
	workers: number;
	/** Provider size slug; decides each node's RAM and vCPUs. */
	size: string;
	region: string;
	/** Provider image: `debian-12` on local, a DigitalOcean slug there. */
	image: string;
	/** Memory limit of each database server, as written (`450m`, `1g`). */
	memoryLimit: string;
	/** IPsec on the overlay. Defaults to what the provider can carry. */
	encryptOverlay: boolean;
	/** Where SSH (22/tcp) may come from: the only port open on the public side. */
	sshFrom: string[];
	/** An extra playbook of the user's, run on every node after swarmbee's (absolute path). */
	playbook?: string;
	/** `rethinkdb`: one server per node (the point of it all); `none`: the Swarm only. */
	database: 'rethinkdb' | 'none';
	rethinkdbImage: string;
	/** Load the image from this machine's engine into every node instead of pulling. */
	sideLoad: boolean;
}

export const PROVIDERS = ['local', 'digitalocean'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

export const MAX_WORKERS = 50;
export const MIN_MEMORY_LIMIT = 256 * 1024 * 1024;

/** Loose input, as it comes from flags, a profile or the wizard. */
export interface SpecInput {
	name?: string;
	provider?: string;
	managers?: string | number;
	workers?: string | number;
	size?: string;
	region?: string;
	image?: string;
	memoryLimit?: string;
	encryptOverlay?: boolean;
	/** Comma-separated CIDRs, or a list. */
	sshFrom?: string | string[];
	playbook?: string;
	database?: string;
	rethinkdbImage?: string;
	sideLoad?: boolean;
}

/** Per-provider defaults, so a bare `swarmbee up demo` is a sensible cluster. */
export const SSH_FROM_ANYWHERE = ['0.0.0.0/0', '::/0'];
export const DEFAULT_RETHINKDB_IMAGE = 'rethinkdb:2.4.4-bookworm-slim';
export const DATABASES = ['rethinkdb', 'none'] as const;

export const PROVIDER_DEFAULTS: Record<ProviderName, Omit<ClusterSpec, 'name' | 'provider' | 'playbook' | 'database' | 'rethinkdbImage' | 'sideLoad'>> = {
	local: {
		managers: 1,
		workers: 3,
		size: 's-1vcpu-1gb',
		region: 'local',
		image: 'debian-12',
		memoryLimit: '450m',
		// IPsec between nested engines does not carry traffic on every host
		// (see the testbed notes); a local cluster never leaves this machine.
		encryptOverlay: false,
		sshFrom: SSH_FROM_ANYWHERE,
	},
	digitalocean: {
		managers: 1,
		workers: 3,
		size: 's-1vcpu-1gb',
		region: 'nyc3',
		image: 'debian-12-x64',
		memoryLimit: '450m',
		// Its Cloud Firewall cannot pass ESP (IPsec), see the provider.
		encryptOverlay: false,
		sshFrom: SSH_FROM_ANYWHERE,
	},
};

const NAME_PATTERN = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/;

/** Turns `My_Cluster` into `my-cluster`, for the fix we suggest. */
export function suggestName(raw: string): string {
	const cleaned = raw
		.toLowerCase()
		.replace(/[^a-z0-9-]+/g, '-')
		.replace(/^[^a-z]+/, '')
		.replace(/-+/g, '-')
		.slice(0, 40)
		.replace(/-+$/, '');
	return cleaned || 'demo';
}

export function checkName(name: string | undefined): FieldProblem | undefined {
	if (name === undefined || name === '') {
		return {field: 'name', problem: 'no cluster name was given', fix: 'pass one, e.g. `swarmbee up demo`'};
	}
	if (!NAME_PATTERN.test(name)) {
		return {
			field: 'name',
			problem: `"${name}" is not a valid cluster name (it names containers, droplets and DNS labels)`,
			fix: `use 1-40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, e.g. "${suggestName(name)}"`,
		};
	}
	return undefined;
}

const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)\s*(k|m|g|t)(?:i?b)?$/i;
const MEMORY_UNITS: Record<string, number> = {k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4};

/**
 * Parses a memory size the way Docker does (`450m`, `1g`, `1.5G`, `512MiB`).
 * A bare number is refused: bytes or megabytes is a guess we won't make.
 */
export function parseMemory(text: string): number | undefined {
	const match = MEMORY_PATTERN.exec(text.trim());
	if (!match?.[1] || !match[2]) return undefined;
	const bytes = Math.round(Number(match[1]) * (MEMORY_UNITS[match[2].toLowerCase()] ?? 0));
	return Number.isFinite(bytes) && bytes > 0 ? bytes : undefined;
}

export function formatMemory(bytes: number): string {
	const mib = bytes / 1024 ** 2;
	if (mib >= 1024 && Number.isInteger(mib / 1024)) return `${mib / 1024} GiB`;
	return `${Math.round(mib)} MiB`;
}

function checkMemoryLimit(text: string): FieldProblem | undefined {
	const bytes = parseMemory(text);
	if (bytes === undefined) {
		return {
			field: 'memory-limit',
			problem: `"${text}" is not a memory size`,
			fix: 'write a number with a unit, as Docker does: e.g. 450m, 512m, 1g',
		};
	}
	if (bytes < MIN_MEMORY_LIMIT) {
		return {
			field: 'memory-limit',
			problem: `${text} is too little for a RethinkDB server (its cache alone wants 100 MiB or more)`,
			fix: 'give each database server at least 256m',
		};
	}
	return undefined;
}

function toInteger(value: string | number | undefined): number | undefined {
	if (value === undefined) return undefined;
	if (typeof value === 'number') return Number.isInteger(value) ? value : Number.NaN;
	return /^-?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
}

/**
 * Fills defaults and checks every field, reporting all problems at once.
 * Provider-specific checks (does this size exist, does it fit) happen in the
 * provider's preflight, which knows its catalog.
 */
export function resolveSpec(input: SpecInput): ClusterSpec {
	const problems: FieldProblem[] = [];
	const nameProblem = checkName(input.name);
	if (nameProblem) problems.push(nameProblem);

	const providerText = input.provider ?? 'local';
	const provider = (PROVIDERS as readonly string[]).includes(providerText) ? (providerText as ProviderName) : undefined;
	if (!provider) {
		problems.push({
			field: 'provider',
			problem: `"${providerText}" is not a provider swarmbee knows`,
			fix: `use one of: ${PROVIDERS.join(', ')}`,
		});
	}
	const defaults = PROVIDER_DEFAULTS[provider ?? 'local'];

	const workers = toInteger(input.workers) ?? defaults.workers;
	if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS) {
		problems.push({
			field: 'workers',
			problem: `${String(input.workers)} is not a worker count swarmbee can build`,
			fix: `choose a whole number from 1 to ${MAX_WORKERS} (the database runs one server per node)`,
		});
	}

	const managers = toInteger(input.managers) ?? defaults.managers;
	if (managers !== 1 && managers !== 3) {
		problems.push({
			field: 'managers',
			problem: `${String(input.managers)} managers is not supported`,
			fix: 'use 1 (simplest) or 3 (survives the loss of one manager); even counts add no fault tolerance',
		});
	} else if (managers === 3 && Number.isInteger(workers) && workers < 2) {
		problems.push({
			field: 'managers',
			problem: '3 managers needs at least 2 workers (swarmbee promotes workerbee-1 and workerbee-2)',
			fix: 'pass --workers 2 or more, or --managers 1',
		});
	}

	const memoryLimit = (input.memoryLimit ?? defaults.memoryLimit).trim();
	const memoryProblem = checkMemoryLimit(memoryLimit);
	if (memoryProblem) problems.push(memoryProblem);

	const sshFrom = input.sshFrom === undefined
		? defaults.sshFrom
		: (Array.isArray(input.sshFrom) ? input.sshFrom : input.sshFrom.split(',')).map(c => c.trim()).filter(Boolean);
	const badSources = sshFrom.filter(source => !isCidrOrAddress(source));
	if (sshFrom.length === 0 || badSources.length > 0) {
		problems.push({
			field: 'ssh-from',
			problem: sshFrom.length === 0 ? 'no source is allowed to reach SSH, so swarmbee could not reach the nodes either' : `${badSources.join(', ')} ${badSources.length === 1 ? 'is' : 'are'} not an IP address or CIDR`,
			fix: 'give addresses or CIDRs separated by commas, e.g. 203.0.113.7/32,198.51.100.0/24 (default: anywhere)',
		});
	}

	const database = input.database ?? 'rethinkdb';
	if (!(DATABASES as readonly string[]).includes(database)) {
		problems.push({field: 'database', problem: `"${database}" is not a database swarmbee deploys`, fix: 'use rethinkdb (the default) or none (the Swarm only)'});
	}
	const rethinkdbImage = input.rethinkdbImage?.trim() || DEFAULT_RETHINKDB_IMAGE;
	if (!/^[a-z0-9][a-z0-9._\-/:@]*$/i.test(rethinkdbImage)) {
		problems.push({field: 'rethinkdb-image', problem: `"${rethinkdbImage}" is not an image reference`, fix: `e.g. ${DEFAULT_RETHINKDB_IMAGE} or registry.example.com/rethinkdb:2.4.4`});
	}

	for (const field of ['size', 'region', 'image'] as const) {
		const value = input[field];
		if (value !== undefined && value.trim() === '') {
			problems.push({field, problem: 'is empty', fix: `leave --${field} out for the default (${defaults[field]}) or give a value`});
		}
	}

	if (problems.length > 0) throw new SpecError(problems);
	return {
		name: input.name as string,
		provider: provider as ProviderName,
		managers: managers as 1 | 3,
		workers,
		size: input.size?.trim() || defaults.size,
		region: input.region?.trim() || defaults.region,
		image: input.image?.trim() || defaults.image,
		memoryLimit,
		encryptOverlay: input.encryptOverlay ?? defaults.encryptOverlay,
		sshFrom,
		...(input.playbook ? {playbook: input.playbook} : {}),
		database: database as ClusterSpec['database'],
		rethinkdbImage,
		sideLoad: input.sideLoad ?? false,
	};
}

/** An IPv4 or IPv6 address, with or without a /prefix. */
export function isCidrOrAddress(text: string): boolean {
	const [address, prefix, ...rest] = text.split('/');
	if (rest.length > 0 || !address) return false;
	const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
	if (v4) {
		if (v4.slice(1).some(part => Number(part) > 255)) return false;
		return prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32);
	}
	if (isIP(address) === 6) return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128);
	return false;
}

export function memoryLimitBytes(spec: ClusterSpec): number {
	return parseMemory(spec.memoryLimit) ?? 0;
}

/**
 * A database server's memory limit must leave the node room for its own
 * system and dockerd: at most 90% of the size's RAM (the walk-through ran
 * 450m on 512 MB droplets, 88%).
 */
export function memoryFitProblem(spec: Pick<ClusterSpec, 'memoryLimit' | 'size'>, nodeMemoryMb: number): FieldProblem | undefined {
	const limit = parseMemory(spec.memoryLimit);
	if (limit === undefined) return undefined;
	const ceiling = nodeMemoryMb * 1024 * 1024 * 0.9;
	if (limit <= ceiling) return undefined;
	return {
		field: 'memory-limit',
		problem: `${spec.memoryLimit} per database server does not fit on ${spec.size} (${nodeMemoryMb} MB of RAM per node)`,
		fix: `use at most ${Math.floor(ceiling / 1024 / 1024)}m, or a larger --size`,
	};
}

export type NodeRole = 'manager' | 'worker';

export interface NodePlan {
	name: string;
	/** 0 for queenbee, 1..N for workerbee-N. */
	index: number;
	/** The Swarm role this node should end with. */
	role: NodeRole;
}

/**
 * The nodes a spec asks for, named as in the 2015 walk-through:
 *
 *     queenbee      manager (swarm init happens here)
 *     workerbee-1   worker, or manager when --managers 3
 *     workerbee-2   worker, or manager when --managers 3
 *     workerbee-3   worker
 */
export function planNodes(spec: Pick<ClusterSpec, 'managers' | 'workers'>): NodePlan[] {
	const nodes: NodePlan[] = [{name: 'queenbee', index: 0, role: 'manager'}];
	for (let i = 1; i <= spec.workers; i++) {
		nodes.push({name: `workerbee-${i}`, index: i, role: i < spec.managers ? 'manager' : 'worker'});
	}
	return nodes;
}
