import {locateServer} from '../database/rethinkdb.js';
import {ADMIN_PORT, DRIVER_PORT} from '../database/stack.js';
import type {SshConnection} from '../ssh/connection.js';
import type {NodeShells} from '../ssh/shell.js';
import type {Journal} from '../store/journal.js';
import type {TunnelControl} from './control.js';
import {Tunnel} from './tunnel.js';
import type {TunnelStatus} from './types.js';
import {firstNode} from '../store/nodes.js';

/** What a tunnel needs of a cluster (its session): where servers run, asked over the shared pool, and a connection of its own to hold. */
export interface TunnelCluster {
	journal: {readonly value: Readonly<Journal>};
	ssh: NodeShells;
	connect(node: string, signal?: AbortSignal): Promise<SshConnection>;
}

interface ClusterTunnelOptions {
	session: TunnelCluster;
	/** Local ports the user asked for; left out, 8080 and 28015, or any free port when those are taken. */
	adminPort?: number;
	driverPort?: number;
	/** Whose database server: the first node's by default. */
	server?: string;
	onChange?: (statuses: TunnelStatus[]) => void;
}

/**
 * The tunnel to a cluster's RethinkDB: admin panel and driver port, through
 * the node that runs the server. The forwards ride a connection of their
 * own (closed with the tunnel), so a dashboard refresh that drops one of
 * the session's pooled connections never cuts them.
 */
export function createClusterTunnel(options: ClusterTunnelOptions): {tunnel: Tunnel} {
	const {session} = options;
	const manager = firstNode(session.journal.value).name;
	const server = options.server ?? manager;
	const tunnel = new Tunnel({
		forwards: [
			{
				name: 'admin',
				localHost: '127.0.0.1',
				localPort: options.adminPort ?? ADMIN_PORT,
				remotePort: ADMIN_PORT,
				anyPortIfBusy: options.adminPort === undefined,
				guarded: true,
			},
			{
				name: 'driver',
				localHost: '127.0.0.1',
				localPort: options.driverPort ?? DRIVER_PORT,
				remotePort: DRIVER_PORT,
				anyPortIfBusy: options.driverPort === undefined,
			},
		],
		locate: () => locateServer(session.ssh, manager, server),
		connect: node => session.connect(node),
		onChange: options.onChange,
	});
	return {tunnel};
}

/**
 * The dashboard's handle on a tunnel it can open and close with a key. Safe
 * against a key pressed again mid-way: a close during an open stops what the
 * open started (nothing stays bound, no timer keeps the process alive), and
 * statuses stay readable after close.
 */
export function createTunnelControl(
	options: ClusterTunnelOptions,
	make: (options: ClusterTunnelOptions) => {tunnel: Tunnel} = createClusterTunnel,
): TunnelControl {
	const listeners = new Set<(tunnels: TunnelStatus[]) => void>();
	let running: ReturnType<typeof make> | undefined;
	let last: TunnelStatus[] = [];
	const publish = (statuses: TunnelStatus[]) => {
		last = statuses;
		for (const listener of listeners) listener(statuses);
	};
	// Counters move without state changes: publish them every second while open.
	let ticker: NodeJS.Timeout | undefined;
	return {
		current: () => last,
		subscribe(listener) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		async open() {
			if (running) return;
			const mine = make({...options, onChange: statuses => running === mine && publish(statuses)});
			running = mine;
			// A node with a host key swarmbee did not install: the tunnel stopped itself. Let go of it as close()
			// does, so the next `t` opens a new one, and keep its lastError in the statuses (the screen says why).
			void mine.tunnel.failed.then(() => {
				if (running !== mine) return;
				running = undefined;
				clearInterval(ticker);
				ticker = undefined;
				publish(mine.tunnel.statuses());
			});
			try {
				await mine.tunnel.start();
			} catch (error) {
				if (running === mine) running = undefined;
				throw error;
			}
			if (running !== mine) return;
			ticker = setInterval(() => running === mine && publish(mine.tunnel.statuses()), 1_000);
			ticker.unref();
		},
		async close() {
			clearInterval(ticker);
			ticker = undefined;
			if (!running) return;
			const {tunnel} = running;
			running = undefined;
			await tunnel.stop();
			// Closed on purpose: an error from before (a reconnect's) is no reason the tunnel is closed.
			publish(tunnel.statuses().map(({lastError: _, ...status}) => status));
		},
	};
}
