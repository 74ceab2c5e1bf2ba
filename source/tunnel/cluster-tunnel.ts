import {locateServer} from '../cluster/rethinkdb.js';
import {ADMIN_PORT, DRIVER_PORT} from '../cluster/stack.js';
import {sshTarget} from '../cluster/targets.js';
import {SshPool} from '../ssh/pool.js';
import type {Journal} from '../store/journal.js';
import type {TunnelControl} from './control.js';
import {Tunnel} from './tunnel.js';
import type {TunnelStatus} from './types.js';

interface ClusterTunnelOptions {
	journal: Readonly<Journal>;
	privateKey: string;
	adminPort?: number;
	driverPort?: number;
	/** Whose database server: the first node's by default. */
	server?: string;
	onChange?: (statuses: TunnelStatus[]) => void;
}

/** The tunnel to a cluster's RethinkDB: admin panel and driver port, through the node that runs the server. */
export function createClusterTunnel(options: ClusterTunnelOptions): {tunnel: Tunnel; ssh: SshPool} {
	const {journal, privateKey} = options;
	const ssh = new SshPool(node => sshTarget(journal, node, privateKey));
	const manager = journal.nodes[0]!.name;
	const server = options.server ?? manager;
	const tunnel = new Tunnel({
		forwards: [
			{name: 'admin', localHost: '127.0.0.1', localPort: options.adminPort ?? ADMIN_PORT, remotePort: ADMIN_PORT},
			{name: 'driver', localHost: '127.0.0.1', localPort: options.driverPort ?? DRIVER_PORT, remotePort: DRIVER_PORT},
		],
		locate: () => locateServer(ssh, manager, server),
		connect: node => ssh.get(node),
		onChange: options.onChange,
	});
	return {tunnel, ssh};
}

/** The dashboard's handle on a tunnel it can open and close with a key. */
export function createTunnelControl(options: ClusterTunnelOptions): TunnelControl {
	const listeners = new Set<(tunnels: TunnelStatus[]) => void>();
	let running: ReturnType<typeof createClusterTunnel> | undefined;
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
			running = createClusterTunnel({...options, onChange: publish});
			try {
				await running.tunnel.start();
			} catch (error) {
				running.ssh.closeAll();
				running = undefined;
				throw error;
			}
			ticker = setInterval(() => running && publish(running.tunnel.statuses()), 1_000);
		},
		async close() {
			clearInterval(ticker);
			if (!running) return;
			const {tunnel, ssh} = running;
			running = undefined;
			await tunnel.stop();
			ssh.closeAll();
			publish(tunnel.statuses());
		},
	};
}
