import type {DockerCli} from '../source/docker/cli.js';
import type {Emit} from '../source/events.js';
import type {Provider, ProviderContext} from '../source/providers/types.js';
import type {SshPool} from '../source/ssh/pool.js';
import type {KeyPair} from '../source/ssh/keys.js';
import type {ClusterPaths, JournalHandle} from '../source/store/cluster-store.js';
import type {ClusterSpec} from '../source/spec.js';

/** What a step gets from the orchestrator besides its context. */
export interface StepIO {
	emit: Emit;
	/** Aborted on Ctrl-C: pass it to every child process and connection. */
	signal: AbortSignal;
}

/** A step reports whether it changed anything, so a re-run can say "unchanged". */
export interface StepResult {
	changed: boolean;
	summary: string;
}

/**
 * One phase of a build: a plain async function, idempotent, reading the
 * spec (what was asked) and the journal (what exists).
 */
export interface Step<C = ClusterContext> {
	id: string;
	title: string;
	run(ctx: C, io: StepIO): Promise<StepResult>;
}

/** Everything the `up` steps share. */
export interface ClusterContext {
	spec: ClusterSpec;
	paths: ClusterPaths;
	journal: JournalHandle;
	provider: Provider;
	/** The engine on this machine: builds and side-loads images. */
	docker: DockerCli;
	ssh: SshPool;
	/** Filled by the keys step. */
	clusterKey?: KeyPair;
	options: ClusterOptions;
}

export interface ClusterOptions {
	/** Provision only nodes never provisioned successfully (scale adds nodes). */
	provisionNewOnly?: boolean;
	/** Run the playbook on every node even where what was applied is unchanged (`up --reprovision`). */
	reprovision?: boolean;
}

export function providerContext(ctx: ClusterContext, io: StepIO): ProviderContext {
	return {spec: ctx.spec, owner: ctx.journal.value.owner, signal: io.signal, emit: io.emit, sshPublicKey: ctx.clusterKey?.publicKey};
}
