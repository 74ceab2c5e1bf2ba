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
	/**
	 * The host key a machine is created with stays readable on it for its
	 * whole life (a cloud serves user_data from its metadata service to any
	 * process or container on the machine). swarmbee then replaces it over
	 * the first verified connection with one made on the node.
	 */
	bootHostKeyExposed: boolean;
	/**
	 * Nodes run on this machine and share its CPUs (the local provider).
	 * CPU-heavy work such as an Ansible run then goes on at most as many
	 * nodes at once as there are cores: more only makes each one slower.
	 */
	sharesHostCpus: boolean;
	/**
	 * Machines cost money while they exist (a cloud): what one is called and
	 * who bills it, so a run that stops early can say how many are left.
	 */
	billed?: {machine: string; by: string};
}

/** What reaching a provider takes: a secret read from `env` (or handed over in-process, or asked for). */
export interface ProviderCredential {
	/** The environment variable that holds it. */
	env: string;
	/** Where the provider's API can be pointed elsewhere (an emulator). */
	endpointEnv: string;
	/** What it is called when asked for: `DigitalOcean API token (read and write)`. */
	label: string;
	/** One line for --help and for errors without a terminal: where it is read from. */
	help: string;
}

/** Everything a provider call may need, threaded from the orchestrator. */
export interface ProviderContext {
	spec: ClusterSpec;
	/** Stamped on every resource; only resources with our owner are ours to change. */
	owner: string;
	signal?: AbortSignal;
	emit?: (event: RunEvent) => void;
	/** Says what the call is doing now, as the step that made it (a long image build's lines). */
	progress?: (message: string) => void;
	/**
	 * The cluster's public SSH key, once the keys step made it. Clouds
	 * register it with the account (DigitalOcean's ssh_keys) so droplets
	 * boot with it in root's authorized_keys.
	 */
	sshPublicKey?: string;
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
	/** The machine the journal holds for this node: the one adopted among same-name ones (see sameNameChoice). */
	providerId?: string;
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
	/** How `remaining` was looked for, e.g. "labelled swarmbee.cluster=demo". */
	scope: string;
	/** Human-readable lines, e.g. "4 containers". */
	removed: string[];
	/** Anything that still carries the cluster's label or tag afterwards. */
	remaining: string[];
	/** Resources of this name that belong to another owner and were left alone. */
	foreign: string[];
}

/**
 * How to tell, over SSH, that a machine's first-boot work (a cloud's
 * user_data) has finished: a command printing `done`, `running`, or
 * `failed: …`, and how long to wait for it.
 */
export interface FirstBootCheck {
	/** What the machine runs at first boot, as a user knows it, e.g. "the first-boot script (user_data)". */
	name: string;
	/** The file on the machine with its whole output. */
	log: string;
	command: string;
	parse: (stdout: string) => {state: 'done'} | {state: 'running'} | {state: 'failed'; detail: string};
	timeoutMs: number;
}

/** One thing `swarmbee plan` says would be made (or is there already). */
export interface PlannedResource {
	kind: string;
	name: string;
	action: 'create' | 'exists' | 'use';
	detail: string;
}

/** What `swarmbee plan` shows: resources and, on a cloud, their price. */
export interface ProviderPlan {
	resources: PlannedResource[];
	cost?: {
		currency: 'USD';
		nodes: number;
		size: string;
		perNodeHourly: number;
		perNodeMonthly: number;
		hourly: number;
		monthly: number;
	};
	notes: string[];
}

export interface Provider {
	readonly name: ProviderName;
	readonly capabilities: ProviderCapabilities;
	/** Absent where a machine is ready once SSH answers with its host key (local nodes). */
	readonly firstBoot?: FirstBootCheck;
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
	createMachines(
		ctx: ProviderContext,
		plans: MachinePlan[],
		infra: InfraInfo,
		onProgress: (node: string, detail: string) => void,
	): Promise<CreateOutcome[]>;
	startMachine(ctx: ProviderContext, machine: Machine): Promise<void>;
	/** Shuts a machine down, as its own OS would (`swarmbee node NAME stop`); it keeps its disk, and on a cloud its bill. */
	stopMachine(ctx: ProviderContext, machine: Machine): Promise<void>;
	deleteMachine(ctx: ProviderContext, machine: Machine): Promise<void>;
	rebootMachine(ctx: ProviderContext, machine: Machine): Promise<void>;
	/** What `up` would create, found by looking only: creates nothing. */
	plan(ctx: ProviderContext): Promise<ProviderPlan>;
	/** Removes everything of the cluster this owner made; reports what remains. */
	destroy(ctx: ProviderContext, options: {includeForeign: boolean}): Promise<DestroyReport>;
}
