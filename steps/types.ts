import type {EmergencyRepair} from '../source/cluster/tables.js';
import type {DockerEngine} from '../source/docker/cli.js';
import type {Emit} from '../source/events.js';
import type {Provider, ProviderContext} from '../source/providers/types.js';
import type {KeyPair} from '../source/ssh/keys.js';
import type {NodeShells} from '../source/ssh/shell.js';
import type {ClusterPaths, JournalHandle} from '../source/store/cluster-store.js';
import type {ClusterState} from '../source/states.js';
import type {ClusterSpec} from '../source/spec.js';

/** What a step gets from the orchestrator besides its context. */
export interface StepIO {
	emit: Emit;
	/** Aborted on Ctrl-C: pass it to every child process and connection. */
	signal: AbortSignal;
	/** The steps of this run that finished before this one, and whether each changed anything. */
	earlier: ReadonlyArray<{step: string; changed: boolean}>;
}

/** A step reports whether it changed anything, so a re-run can say "unchanged". */
interface StepResult {
	changed: boolean;
	summary: string;
}

/**
 * One phase of a build: a plain async function, idempotent, reading the
 * spec (what was asked) and the journal (what exists). `C` is what it
 * needs: each step names the part of ClusterContext it reads, so a unit
 * test hands it exactly that (recorded SSH and Docker included).
 */
export interface Step<C = ClusterContext> {
	id: string;
	title: string;
	run(ctx: C, io: StepIO): Promise<StepResult>;
}

/** Everything the `up` and `scale` steps share; runCluster makes it before the first step. */
export interface ClusterContext {
	spec: ClusterSpec;
	paths: ClusterPaths;
	journal: JournalHandle;
	provider: Provider;
	/** The engine on this machine: builds and side-loads images. */
	docker: DockerEngine;
	ssh: NodeShells;
	/**
	 * The cluster's SSH key, there before any step runs: read from its file,
	 * or made in memory for a new cluster (the keys step writes it, after
	 * preflight, so a refused run leaves nothing on disk).
	 */
	clusterKey: KeyPair;
	/** The journal's state when this run began: how the run before it ended. */
	lastRun: ClusterState;
	options: ClusterOptions;
}

export interface ClusterOptions {
	/** Provision only nodes never provisioned successfully (scale adds nodes). */
	provisionNewOnly?: boolean;
	/** Run the playbook on every node even where what was applied is unchanged (`up --reprovision`). */
	reprovision?: boolean;
	/** `down --force`: also remove resources of the cluster's name that another swarmbee state made. */
	removeForeign?: boolean;
	/** `up --emergency-repair MODE --yes`: let RethinkDB recover tables that lost their majority. */
	emergencyRepair?: EmergencyRepair;
}

export function providerContext(
	ctx: Pick<ClusterContext, 'spec' | 'journal' | 'clusterKey'>,
	io: StepIO,
): ProviderContext {
	return {
		spec: ctx.spec,
		owner: ctx.journal.value.owner,
		signal: io.signal,
		emit: io.emit,
		sshPublicKey: ctx.clusterKey.publicKey,
	};
}
