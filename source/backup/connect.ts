import {connectDriver, openDatabase, sessionOver, type DatabaseSession} from '../cluster/rethinkdb.js';
import {liveNodes, type Journal} from '../store/journal.js';

/** A driver connection to one of the cluster's servers over swarmbee's SSH: the database session every command uses. */
export type DriverLink = DatabaseSession;

/** Opens one, trying the servers in order (see openDatabase). */
export const openDriver = openDatabase;

/**
 * A link to a server this machine reaches directly (tests and benchmarks
 * on a container's bridge address); the product always goes over SSH.
 */
export async function connectDirect(host: string, port: number, password: string): Promise<DriverLink> {
	return sessionOver(host, () => connectDriver({host, port, password, timeoutSeconds: 20}));
}

/** A manager to ask Swarm where servers run, and the nodes whose servers may answer, first node first. */
export function databaseNodes(journal: Readonly<Journal>): {manager: string; nodes: string[]} {
	const nodes = liveNodes(journal);
	const manager = nodes.find(n => n.role === 'manager') ?? nodes[0]!;
	return {manager: manager.name, nodes: nodes.map(n => n.name)};
}
