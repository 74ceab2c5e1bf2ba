import {errorInfo, type ErrorInfo} from '../errors.js';
import type {Machine, MachineStatus, Provider} from '../providers/types.js';
import type {NodeShells} from '../ssh/shell.js';
import type {ClusterSpec} from '../spec.js';
import type {Journal, ProvisionRecord} from '../store/journal.js';
import {isManager, nodeListCommand, parseJsonLines, type SwarmNode} from '../nodes/swarm.js';
import {checkHealth, driverTlsOf, type RethinkdbHealth} from '../database/rethinkdb.js';
import {changeStatus, type ChangeStatus} from '../store/change.js';
import {swarmNodeState, type NodeStatusState} from '../states.js';

export interface NodeStatus {
	name: string;
	role: 'manager' | 'worker';
	/** `ready`, `down`, … as Swarm reports it; the machine's state when it is not running. */
	state: NodeStatusState;
	publicAddress: string | null;
	privateAddress: string | null;
	machine: MachineStatus | 'missing';
	hostKeyFingerprint: string;
	/** The last provisioning run: PLAY RECAP per playbook and the full log. */
	provision: ProvisionRecord | null;
}

export interface ClusterStatus {
	cluster: string;
	provider: string;
	/** The journal's word for the last run: creating, ready, failed, … */
	state: string;
	nodes: NodeStatus[];
	swarm: {managers: number; workers: number; ready: number} | null;
	rethinkdb?: RethinkdbHealth | null;
	/**
	 * Whether the database servers run with TLS on their cluster port
	 * (29015, mutual) and their driver port (28015), as deployed (the
	 * journal); absent before a database is deployed. docs/tls.md.
	 */
	tls?: {cluster: boolean; driver: boolean};
	/** A scale asked for and not finished: in progress, or interrupted (`up` continues it). */
	change?: ChangeStatus;
	errors: ErrorInfo[];
}

/**
 * What is true now, asked of the provider (machines) and of a manager over
 * SSH (swarm membership), never only from the journal.
 */
export async function collectStatus(input: {
	spec: ClusterSpec;
	journal: Readonly<Journal>;
	provider: Provider;
	/** Connections to the nodes; without one, only the provider is asked. */
	ssh?: NodeShells;
	/** The RethinkDB admin password; without it, the database is not asked. */
	password?: string;
	signal?: AbortSignal;
	/** The command holding the cluster's lock now, if any (a change is then in progress, not interrupted). */
	running?: string;
}): Promise<ClusterStatus> {
	const {spec, journal, provider, signal, ssh} = input;
	const errors: ErrorInfo[] = [];
	const machines = await provider.listMachines({spec, owner: journal.owner, signal});
	const byName = new Map(machines.map(m => [m.name, m]));
	let members: SwarmNode[] | undefined;
	let manager: string | undefined;
	if (ssh) {
		const managers = journal.nodes.filter(
			n => n.role === 'manager' && byName.get(n.name)?.status === 'running' && n.ssh,
		);
		for (const candidate of managers) {
			try {
				members = parseJsonLines<SwarmNode>(
					await (await ssh.get(candidate.name, signal)).run(nodeListCommand, {signal}),
				);
				manager = candidate.name;
				break;
			} catch (error) {
				errors.push(errorInfo(error));
			}
		}
		if (members) errors.length = 0;
	}
	const rethinkdb =
		ssh && manager && input.password && journal.database
			? await checkHealth({
					ssh,
					manager,
					nodes: journal.nodes.map(n => n.name),
					password: input.password,
					signal,
					replicas: spec.replicas,
					...driverTlsOf(journal),
				})
			: null;
	return statusOf({spec, journal, machines, members, rethinkdb, errors, running: input.running});
}

/**
 * The status from what was asked: the provider's machines, Swarm's members
 * (undefined when no manager answered) and the database's health. Shared by
 * `status` and the dashboard, which asks the same things its own way.
 */
export function statusOf(input: {
	spec: Pick<ClusterSpec, 'name' | 'provider'>;
	journal: Readonly<Journal>;
	machines: Machine[];
	members: SwarmNode[] | undefined;
	rethinkdb: RethinkdbHealth | null;
	errors: ErrorInfo[];
	running?: string | undefined;
}): ClusterStatus {
	const {journal, members} = input;
	const byName = new Map(input.machines.map(m => [m.name, m]));
	const nodes: NodeStatus[] = journal.nodes.map(record => {
		const machine = byName.get(record.name);
		const member =
			members?.find(m => m.ID === record.swarmNodeId) ??
			members?.find(m => m.Hostname === record.name && m.Status === 'Ready');
		let state: NodeStatusState;
		if (!machine) state = 'missing';
		else if (machine.status !== 'running') state = machine.status;
		else if (!members) state = 'unknown';
		else if (!member) state = 'not-joined';
		else state = swarmNodeState(member.Status);
		return {
			name: record.name,
			role: record.role,
			state,
			publicAddress: machine?.publicAddress ?? record.publicAddress ?? null,
			privateAddress: machine?.privateAddress ?? record.privateAddress ?? null,
			machine: machine?.status ?? 'missing',
			hostKeyFingerprint: record.hostKey.fingerprint,
			provision: record.provision ?? null,
		};
	});
	const swarm = members
		? {
				managers: members.filter(isManager).length,
				workers: members.filter(m => !isManager(m)).length,
				ready: members.filter(m => m.Status === 'Ready').length,
			}
		: null;
	const change = changeStatus(journal, input.running);
	return {
		cluster: input.spec.name,
		provider: input.spec.provider,
		state: journal.state,
		nodes,
		swarm,
		rethinkdb: input.rethinkdb,
		...(journal.database ? {tls: {cluster: !!journal.database.tls, driver: !!journal.database.tls}} : {}),
		...(change ? {change} : {}),
		errors: input.errors,
	};
}
