import type {ErrorInfo} from '../errors.js';
import type {PlayRecap} from '../events.js';
import type {NodeRole, ProviderName} from '../spec.js';
import type {ClusterState, MachineState, StepState} from '../states.js';

/**
 * What exists, as far as swarmbee knows: written after every change, so a
 * crash or Ctrl-C at any point leaves a record the next `up` resumes from.
 * Holds no secrets: keys live in their own 0600 files, tokens nowhere.
 */
export interface Journal {
	version: 1;
	cluster: string;
	/** Random id stamped on every resource (label/tag) this state created. */
	owner: string;
	provider: ProviderName;
	state: ClusterState;
	createdAt: string;
	updatedAt: string;
	steps: Partial<Record<string, StepRecord>>;
	infra?: InfraRecord;
	nodes: NodeRecord[];
	swarm?: SwarmRecord;
	/** Last successful cross-host check. */
	verifiedAt?: string;
	database?: DatabaseRecord;
	/**
	 * A change to the cluster asked for and not finished yet (a scale): set
	 * before the change starts, cleared by the run that finishes it. One left
	 * behind is an interrupted change: `status` says so, `up` resumes it.
	 */
	change?: ChangeRecord;
	/**
	 * What swarmbee last saw of each user table, by `db.table`: a table whose
	 * every server is gone can then still be named with its rows and servers.
	 */
	tables?: Record<string, TableRecord>;
	/**
	 * Servers whose `default` tag swarmbee took off (a scale-down: no new
	 * table lands on a server that leaves); put back if they stay after all.
	 */
	untagged?: string[];
	/**
	 * A change rolled over the nodes one at a time and not finished yet
	 * (`node restart --all`, `upgrade`): written before the first node
	 * changes, each node added to `done` once it is back with every table
	 * ready, removed when the last is. One left behind is an interrupted
	 * change: the same command resumes it from the next node (bringing back
	 * first the one it was cut off on).
	 */
	rolling?: RollingChangeRecord;
}

/** Where a rolling change is with the node in hand. */
export type RollingNodeStage =
	/** Refusals checked: nothing done to it yet. */
	| 'checked'
	/** Its server leads no shard any more. */
	| 'primaries-moved'
	/** Being changed (drained, rebooted, its service updated): may be down. */
	| 'changing'
	/** Back, its tables catching up. */
	| 'back';

export interface RollingChangeRecord {
	kind: 'restart' | 'upgrade';
	/** The command line that resumes it. */
	command: string;
	startedAt: string;
	/** Every node it changes, in order. */
	nodes: string[];
	/** The nodes finished: back, every table ready. */
	done: string[];
	/** The node in hand and how far it got. */
	current?: {node: string; stage: RollingNodeStage};
	/** What an upgrade installs: a resumed run installs the same. */
	upgrade?: {rethinkdbImage?: string};
	/** Primaries moved off servers before their turn, put back at the end. */
	moved?: Array<{tableId: string; table: string; shard: number; from: string; to: string}>;
}

/** A scale asked for: to how many workers, from how many, and which nodes leave (a scale-down). */
export interface ChangeRecord {
	kind: 'scale';
	workers: number;
	from: number;
	/** Nodes a scale-down removes (empty when growing). */
	leaving: string[];
	/** The command that asked for it, to say it back. */
	command: string;
	startedAt: string;
}

/** A user table as last seen: its rows (exact when counted), the servers holding it, and when. */
export interface TableRecord {
	rows: number;
	servers: string[];
	seenAt: string;
}

/** What was deployed of RethinkDB, so a re-run can tell "already there". */
interface DatabaseRecord {
	image: string;
	/** Hash of the stack file last deployed. */
	stackHash: string;
	/** Docker secret holding the admin password (the password itself is in keys/, 0600). */
	secret: string;
	deployedAt: string;
	/**
	 * TLS as the servers run it (absent: plain, as every cluster deployed
	 * before swarmbee had TLS): the CAs clients trust (PEM, public), and
	 * each server's Swarm secrets (CA bundle, certificate, key; names carry
	 * a hash of their content). A rotation changes one server's entry at a time.
	 */
	tls?: {ca: string; servers: Record<string, {ca: string; cert: string; key: string}>};
	/**
	 * Seconds from `docker stack deploy` until every server was connected
	 * and every table ready, the last time all servers started at once (the
	 * first deploy, a move to or from TLS): what the next such restart is
	 * said to cost beforehand.
	 */
	restartSeconds?: number;
	/** Deployed with the first server waiting for a peer when it restarts with data (stack.ts seedWaits). */
	seedWaits?: boolean;
	/**
	 * Servers an unfinished `swarmbee upgrade` moved to another image than
	 * `image` so far, by node: every deploy keeps them there. Gone once the
	 * upgrade has changed every server (`image` is then the new one).
	 */
	images?: Record<string, string>;
}

interface StepRecord {
	status: Exclude<StepState, 'pending'>;
	startedAt: string;
	finishedAt?: string;
	summary?: string;
	error?: ErrorInfo;
}

/** Provider-level networking facts the later steps need. */
interface InfraRecord {
	/** The private network nodes share (Swarm and the overlay's underlay). */
	privateCidr: string;
	publicCidr?: string;
	/** Provider ids of what was made for the cluster (networks, VPC, firewall). */
	ids: Record<string, string>;
}

export interface NodeRecord {
	name: string;
	index: number;
	role: NodeRole;
	state: MachineState;
	/** Container id or droplet id. */
	providerId?: string;
	publicAddress?: string;
	privateAddress?: string;
	ssh?: {host: string; port: number; user: string};
	/**
	 * The node's host key: the one swarmbee generated and installed, or, once
	 * rotated (`rotatedAt`), the one the node made and swarmbee pinned over a
	 * verified connection. The only one accepted (but for `nextHostKey`).
	 */
	hostKey: {publicKey: string; fingerprint: string; rotatedAt?: string};
	/**
	 * A rotation under way: the node's new key, pinned before sshd is told to
	 * use it, so a run cut off at any point leaves a node whose key swarmbee
	 * knows (either one is accepted until the rotation is finished).
	 */
	nextHostKey?: {publicKey: string; fingerprint: string};
	swarmNodeId?: string;
	/**
	 * swarmbee set the node's Swarm availability to drain (a restart, a stop,
	 * an upgrade): set back to active when the node is back, by the command
	 * that drained it or, if that one was cut off, by the next run that finds
	 * the node running (its recovery, or `up`'s swarm step).
	 */
	drained?: {by: string; at: string};
	/** Stopped on purpose (`swarmbee node NAME stop`): `node NAME start` brings it back (so does `up`). */
	stopped?: {by: string; at: string};
	/** The volume its database server keeps its data on, which outlives the machine (see providers' dataVolumes). */
	dataVolume?: DataVolumeRecord;
	/** The last provisioning run on this node. */
	provision?: ProvisionRecord;
	error?: ErrorInfo;
}

/** A database server's own volume: a DigitalOcean block-storage volume, a local Docker volume. */
export interface DataVolumeRecord {
	/** Its name at the provider (one per node and cluster). */
	name: string;
	/** The provider's id, where it has one. */
	id?: string;
	/** Size in GiB, where it has one. */
	sizeGb?: number;
	/** When it was last seen mounted at DATA_MOUNT on the node. */
	mountedAt?: string;
}

export interface ProvisionRecord {
	at: string;
	ok: boolean;
	/** The node's full log of that run. */
	logFile: string;
	/** PLAY RECAP per playbook: swarmbee's, then the user's. */
	recaps: Array<{playbook: string; recap: PlayRecap}>;
	rebootedAt?: string;
	error?: string;
}

interface SwarmRecord {
	clusterId: string;
	managerAddress: string;
	overlay?: {name: string; subnet: string; encrypted: boolean};
	/** The database servers' own, non-attachable overlay (cluster traffic only). */
	databaseOverlay?: {name: string; subnet: string; encrypted: boolean};
}

export function newJournal(cluster: string, provider: ProviderName, owner: string, now = new Date()): Journal {
	return {
		version: 1,
		cluster,
		owner,
		provider,
		state: 'creating',
		createdAt: now.toISOString(),
		updatedAt: now.toISOString(),
		steps: {},
		nodes: [],
	};
}

/** Nodes that stay: all but those a scale-down is removing. */
export function liveNodes(journal: Readonly<Journal>): NodeRecord[] {
	return journal.nodes.filter(n => n.state !== 'deleting');
}

/**
 * What makes a journal read from disk unusable, or undefined when it holds
 * what every command relies on. A file edited by hand or written by
 * something else is refused with the field at fault, not met later as
 * "cannot read properties of undefined".
 */
export function journalProblem(value: unknown, cluster: string): string | undefined {
	const journal = value as Partial<Record<keyof Journal, unknown>>;
	if (journal.version !== 1) return `its version is ${JSON.stringify(journal.version)}, not 1`;
	if (journal.cluster !== cluster) return `it names cluster ${JSON.stringify(journal.cluster)}, not ${cluster}`;
	for (const key of ['owner', 'provider', 'state', 'createdAt', 'updatedAt'] as const) {
		if (typeof journal[key] !== 'string') return `"${key}" is missing or not text`;
	}
	if (!journal.steps || typeof journal.steps !== 'object') return '"steps" is missing';
	if (!Array.isArray(journal.nodes)) return '"nodes" is missing or not a list';
	for (const [i, node] of (journal.nodes as unknown[]).entries()) {
		const n = node as Partial<NodeRecord> | null;
		if (!n || typeof n.name !== 'string' || typeof n.index !== 'number' || typeof n.state !== 'string')
			return `node ${i + 1} lacks its name, index or state`;
		if (typeof n.hostKey?.publicKey !== 'string' || typeof n.hostKey.fingerprint !== 'string')
			return `node ${n.name} has no host key`;
	}
	return undefined;
}
