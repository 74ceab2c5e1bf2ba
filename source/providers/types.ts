import type {SwarmbeeError} from '../errors.js';
import type {RunEvent} from '../events.js';
import type {KeyPair} from '../ssh/keys.js';
import type {ClusterSpec, NodePlan, ProviderName} from '../spec.js';

/** What a provider can and cannot do; steps adapt instead of asking its name. */
export interface ProviderCapabilities {
	/** An IPsec-encrypted overlay carries traffic between its nodes. */
	encryptedOverlay: boolean;
	/** Nodes can pull images from a registry (otherwise images are side-loaded). */
	pullImages: boolean;
	/**
	 * Host keys are in place before sshd first starts. When false (cloud
	 * images whose first-boot script installs them), a different key during
	 * first boot means "not ready yet", never "trusted".
	 */
	hostKeyBeforeBoot: boolean;
}

/** Everything a provider call may need, threaded from the orchestrator. */
export interface ProviderContext {
	spec: ClusterSpec;
	/** Stamped on every resource; only resources with our owner are ours to change. */
	owner: string;
	signal?: AbortSignal;
	emit?: (event: RunEvent) => void;
}

export type MachineStatus =
	/** Booted; SSH may still be starting. */
	| 'running'
	/** Exists but stopped (powered off, container exited). */
	| 'stopped'
	/** Still being created by the provider. */
	| 'creating'
	/** Creation was interrupted before the machine got its keys: safe to replace. */
	| 'unfinished'
	| 'error';

export interface Machine {
	name: string;
	providerId: string;
	status: MachineStatus;
	owner?: string;
	publicAddress?: string;
	privateAddress?: string;
	ssh?: {host: string; port: number; user: string};
}

/** What a provider needs to make one machine. */
export interface MachinePlan extends NodePlan {
	hostKey: KeyPair;
	/** The cluster's public key, for root's authorized_keys. */
	authorizedKey: string;
}

export interface InfraInfo {
	privateCidr: string;
	publicCidr?: string;
	ids: Record<string, string>;
}

export interface CreateOutcome {
	name: string;
	machine?: Machine;
	error?: SwarmbeeError;
}

export interface DestroyReport {
	/** Human-readable lines, e.g. "4 containers". */
	removed: string[];
	/** Anything that still carries the cluster's label or tag afterwards. */
	remaining: string[];
	/** Resources of this name that belong to another owner and were left alone. */
	foreign: string[];
}

export interface Provider {
	readonly name: ProviderName;
	readonly capabilities: ProviderCapabilities;
	/**
	 * Every check that can fail before anything is created: engine or API
	 * reachable, sizes and images known, capacity, names free. Returns lines
	 * worth showing; throws InputError/ExternalError with the fix.
	 */
	preflight(ctx: ProviderContext): Promise<string[]>;
	/** Networks (and on clouds VPC, firewall) the nodes need. Idempotent. */
	ensureInfra(ctx: ProviderContext): Promise<{infra: InfraInfo; changed: boolean}>;
	/** Machines carrying the cluster's label/tag, found fresh (never from memory). */
	listMachines(ctx: ProviderContext): Promise<Machine[]>;
	/** Creates machines in parallel; one failing does not stop the rest. */
	createMachines(ctx: ProviderContext, plans: MachinePlan[], infra: InfraInfo, onProgress: (node: string, detail: string) => void): Promise<CreateOutcome[]>;
	startMachine(ctx: ProviderContext, machine: Machine): Promise<void>;
	deleteMachine(ctx: ProviderContext, machine: Machine): Promise<void>;
	rebootMachine(ctx: ProviderContext, machine: Machine): Promise<void>;
	/** Removes everything of the cluster this owner made; reports what remains. */
	destroy(ctx: ProviderContext, options: {includeForeign: boolean}): Promise<DestroyReport>;
}
