/**
 * Every state word swarmbee uses, in one place: the journal records them,
 * events carry them, the views colour them. Each user takes the subset that
 * can happen to it, named here, so a new word is added once and every
 * switch over it is checked by the compiler.
 */

/** A node, from its plan to its removal. */
type NodeState =
	/** In the journal, not yet asked of the provider. */
	| 'planned'
	/** In a run's view before any step touched it. */
	| 'pending'
	| 'creating'
	| 'booting'
	/** Something failed and is being tried again (a machine whose creation was cut off, the image's own host key during first boot). */
	| 'retrying'
	| 'running'
	/** An image is being loaded into the node (side-loading): busy, not done. */
	| 'loading'
	/** A service of the node is starting (its database server, until the database counts it connected). */
	| 'starting'
	| 'joining'
	| 'provisioning'
	| 'ready'
	/** Its tasks leave it (Swarm drain) before it restarts or stops. */
	| 'draining'
	/** Rebooting (or its services restarting) on purpose: a restart, an upgrade. */
	| 'restarting'
	/** Its packages, Docker or database image being upgraded. */
	| 'upgrading'
	| 'stopping'
	/** Shut down on purpose (`node stop`), until `node start`. */
	| 'stopped'
	| 'failed'
	| 'cancelled'
	| 'deleting'
	| 'deleted';

/**
 * A node as `status` and the dashboard see it now: Swarm's own word for a
 * member (`docker node ls`), why it is not one, or the machine's state when
 * it does not run.
 */
export type NodeStatusState =
	/** Swarm's words for a member (its node status). */
	| 'ready'
	| 'down'
	| 'disconnected'
	/** Swarm says it does not know, or no manager answered to ask. */
	| 'unknown'
	/** The machine runs and is no member of the Swarm. */
	| 'not-joined'
	/** The provider has no such machine. */
	| 'missing'
	/** It runs, and did not answer the dashboard's figures in time. */
	| 'not answering'
	/** The machine's own state when it is not running (a provider's MachineStatus). */
	| 'stopped'
	| 'creating'
	| 'unfinished'
	| 'error';

/** Swarm's node status (`Ready`, `Down`, …) as a NodeStatusState; a word Swarm does not define is `unknown`. */
export function swarmNodeState(status: string): NodeStatusState {
	const word = status.toLowerCase();
	return word === 'ready' || word === 'down' || word === 'disconnected' ? word : 'unknown';
}

/** What the journal keeps of a node between runs. */
export type MachineState = Extract<NodeState, 'planned' | 'creating' | 'running' | 'failed' | 'deleting'>;

/** What a node is doing in this run (events and the live view). */
export type NodeActivity = Exclude<NodeState, 'planned'>;

/** A step of a run: pending in the view until it starts; the journal keeps all but pending. */
export type StepState = 'pending' | 'running' | 'done' | 'failed' | 'cancelled';

/** How the last run on a cluster left it (the journal's `state`, what `ls` and the start screen show). */
export type ClusterState =
	| 'creating'
	| 'ready'
	/** Its tasks leave it (Swarm drain) before it restarts or stops. */
	| 'draining'
	/** Rebooting (or its services restarting) on purpose: a restart, an upgrade. */
	| 'restarting'
	/** Its packages, Docker or database image being upgraded. */
	| 'upgrading'
	| 'stopping'
	/** Shut down on purpose (`node stop`), until `node start`. */
	| 'stopped'
	| 'failed'
	| 'cancelled'
	/** The run stopped on a question only the user can answer (its error says which): nothing is broken. */
	| 'awaiting-input'
	| 'destroying'
	| 'down';

/** A table's part in a backup or restore. */
export type TableActivity = Extract<StepState, 'running' | 'done' | 'failed'>;
