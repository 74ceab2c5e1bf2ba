import r from 'rethinkdb';
import {guardDriverTimer, locateServer} from '../cluster/rethinkdb.js';
import {DRIVER_PORT} from '../cluster/stack.js';
import {CancelledError, ExternalError} from '../errors.js';
import {LocalForward} from '../ssh/forward.js';
import type {SshPool} from '../ssh/pool.js';
import {liveNodes, type Journal} from '../store/journal.js';

/**
 * A driver connection to one of the cluster's RethinkDB servers, carried
 * over swarmbee's own SSH (a LocalForward on 127.0.0.1:0 whose connections
 * become ssh2 channels to the server's task address): nothing published.
 * `reconnect` opens a new connection through the same forward (a new SSH
 * channel, and a new SSH session if the old one died).
 */
export interface DriverLink {
	connection: r.Connection;
	/** The node whose server answered. */
	server: string;
	reconnect(): Promise<r.Connection>;
	close(): Promise<void>;
}

export interface OpenDriverOptions {
	ssh: SshPool;
	/** A Swarm manager, to ask where each server's task runs. */
	manager: string;
	/** Nodes whose servers to try, in order (the first node's normally answers). */
	nodes: string[];
	password: string;
	signal?: AbortSignal;
	/** Seconds a connect may take. */
	timeoutSeconds?: number;
}

/** A link over `connect`, which opens one driver connection (through a forward or directly); `release` frees what carries it. */
async function linkOver(server: string, connect: () => Promise<r.Connection>, release: () => Promise<void> = async () => {}): Promise<DriverLink> {
	let connection = await connect();
	return {
		get connection() {
			return connection;
		},
		server,
		async reconnect() {
			await connection.close({noreplyWait: false}).catch(() => {});
			connection = await connect();
			return connection;
		},
		async close() {
			await connection.close({noreplyWait: false}).catch(() => {});
			await release();
		},
	};
}

export async function openDriver(options: OpenDriverOptions): Promise<DriverLink> {
	guardDriverTimer();
	const failures: string[] = [];
	for (const node of options.nodes) {
		if (options.signal?.aborted) throw new CancelledError();
		let forward: LocalForward | undefined;
		try {
			const location = await locateServer(options.ssh, options.manager, node, options.signal);
			forward = await LocalForward.listen('127.0.0.1', 0, async () => (await options.ssh.get(location.host, options.signal)).forwardOut(location.address, DRIVER_PORT));
			const {port} = forward;
			const held = forward;
			return await linkOver(node, () => r.connect({host: '127.0.0.1', port, user: 'admin', password: options.password, timeout: options.timeoutSeconds ?? 20}), () => held.close());
		} catch (error) {
			await forward?.close();
			if (error instanceof CancelledError || options.signal?.aborted) throw new CancelledError();
			failures.push(`${node}: ${(error as Error).message.replace(/\s*\n\s*/g, ' ')}`);
		}
	}
	throw new ExternalError('no RethinkDB server of the cluster answered over SSH', {
		hint: failures.join('\n'),
		nextSteps: ['swarmbee status NAME --once shows which servers are up', 'swarmbee up NAME repairs a cluster whose servers are down'],
	});
}

/**
 * A link to a server this machine reaches directly (tests and benchmarks
 * on a container's bridge address); the product always goes over SSH.
 */
export async function connectDirect(host: string, port: number, password: string): Promise<DriverLink> {
	guardDriverTimer();
	return linkOver(host, () => r.connect({host, port, user: 'admin', password, timeout: 20}));
}

/** A manager to ask Swarm where servers run, and the nodes whose servers may answer, first node first. */
export function databaseNodes(journal: Readonly<Journal>): {manager: string; nodes: string[]} {
	const nodes = liveNodes(journal);
	const manager = nodes.find(n => n.role === 'manager') ?? nodes[0]!;
	return {manager: manager.name, nodes: nodes.map(n => n.name)};
}
