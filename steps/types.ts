import {tableKey} from '../source/database/placement.js';
import type {EmergencyRepair} from '../source/database/tables.js';
import type {DockerEngine} from '../source/docker/cli.js';
import {event, nodeEvents, type Emit, type NodeEvents, type RunEvent} from '../source/events.js';
import type {Provider, ProviderContext} from '../source/providers/types.js';
import type {KeyPair} from '../source/ssh/keys.js';
import type {NodeShells} from '../source/ssh/shell.js';
import type {ClusterPaths, JournalHandle} from '../source/store/cluster-store.js';
import type {ClusterState} from '../source/states.js';
import type {ClusterSpec} from '../source/spec.js';

/**
 * What a step gets from the orchestrator besides its context. It knows
 * which step it serves, so a step never spells its own id: it says what it
 * does (`progress`), what a node does (`node`), and what is worth a warning.
 */
export interface StepIO {
	/** Any event, for what the helpers below do not cover (a table's progress). */
	emit: Emit;
	/** Aborted on Ctrl-C: pass it to every child process and connection. */
	signal: AbortSignal;
	/** The steps of this run that finished before this one, and whether each changed anything. */
	earlier: ReadonlyArray<{step: string; changed: boolean}>;
	/** The step's id, for events the helpers below do not make. */
	step: string;
	/** What the step is doing now: a line under its name in every view. */
	progress(message: string): void;
	/** What one node is doing, as part of this step (state, output lines, its log, its recap). */
	node(name: string): NodeEvents;
	/** Something the user should know that does not stop the step. */
	warn(message: string): void;
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
	/** `up --drop-lost-tables`: tables (`db.table`) to drop because every server that held them is gone. */
	dropLostTables?: string[];
	/** Said at the start of the run (what happens to an interrupted scale). */
	notice?: string;
}

/** What a provider call gets from the step that makes it: the cluster, Ctrl-C, and the step's way to say what it does. */
export function providerContext(
	ctx: Pick<ClusterContext, 'spec' | 'journal' | 'clusterKey'>,
	io: StepIO,
): ProviderContext {
	return {
		spec: ctx.spec,
		owner: ctx.journal.value.owner,
		signal: io.signal,
		emit: io.emit,
		progress: io.progress,
		sshPublicKey: ctx.clusterKey.publicKey,
	};
}

/**
 * The StepIO of one step: its events carry its id. The orchestrator makes
 * one per step; tests make one to run a step alone.
 */
export function stepIO(step: string, emit: Emit, signal: AbortSignal, earlier: StepIO['earlier'] = []): StepIO {
	return {
		emit,
		signal,
		earlier,
		step,
		progress: message => emit(event({type: 'step-progress', step, message})),
		node: name => nodeEvents(emit, name, step),
		warn: message => emit(event({type: 'warning', message})),
	};
}

/** One table's progress in a backup or restore, as the reader or writer reports it. */
export type TableProgressReport = Omit<
	Extract<RunEvent, {type: 'table-progress'}>,
	'type' | 'at' | 'step' | 'table'
> & {
	table: {db: string; table: string};
};

/** Says a table's progress as the step's `table-progress` event (backup and restore alike). */
export function emitTableProgress(io: StepIO, p: TableProgressReport): void {
	io.emit(
		event({
			type: 'table-progress',
			step: io.step,
			table: tableKey(p.table),
			state: p.state,
			detail: p.detail,
			documents: p.documents,
			bytes: p.bytes,
			totalDocuments: p.totalDocuments,
			totalBytes: p.totalBytes,
		}),
	);
}
