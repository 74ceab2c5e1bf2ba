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
	/** Local ports the user asked for; left out, 8080 and 28015, or any free port when those are taken. */
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
			{
				name: 'admin',
				localHost: '127.0.0.1',
				localPort: options.adminPort ?? ADMIN_PORT,
				remotePort: ADMIN_PORT,
				anyPortIfBusy: options.adminPort === undefined,
			},
			{
				name: 'driver',
				localHost: '127.0.0.1',
				localPort: options.driverPort ?? DRIVER_PORT,
				remotePort: DRIVER_PORT,
				anyPortIfBusy: options.driverPort === undefined,
			},
		],
		locate: () => locateServer(ssh, manager, server),
		connect: node => ssh.get(node),
		onChange: options.onChange,
	});
	return {tunnel, ssh};
}

/**
 * The dashboard's handle on a tunnel it can open and close with a key. Safe
 * against a key pressed again mid-way: a close during an open stops what the
 * open started (nothing stays bound, no timer keeps the process alive), and
 * statuses stay readable after close.
 */
export function createTunnelControl(
	options: ClusterTunnelOptions,
	make: (options: ClusterTunnelOptions) => {tunnel: Tunnel; ssh: Pick<SshPool, 'closeAll'>} = createClusterTunnel,
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
				mine.ssh.closeAll();
				publish(mine.tunnel.statuses());
			});
			try {
				await mine.tunnel.start();
			} catch (error) {
				mine.ssh.closeAll();
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
			const {tunnel, ssh} = running;
			running = undefined;
			await tunnel.stop();
			ssh.closeAll();
			// Closed on purpose: an error from before (a reconnect's) is no reason the tunnel is closed.
			publish(tunnel.statuses().map(({lastError: _, ...status}) => status));
		},
	};
}
