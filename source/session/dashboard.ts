import {createDashboardSource, type DashboardActions, type DashboardTarget} from '../observe/dashboard-data.js';
import {openShell} from '../access/node-session.js';
import {readPassword} from '../database/password.js';
import {runningCommand} from '../store/cluster-store.js';
import {createTunnelControl} from '../tunnel/cluster-tunnel.js';
import type {TunnelControl} from '../tunnel/control.js';
import {terminalOf, type CommandIO} from './io.js';
import type {ClusterSession} from './session.js';

/**
 * The live dashboard of a cluster (TTY only), until the user quits: what
 * `status` shows in a terminal and what a finished `up` or `scale` opens,
 * over the session's own SSH connections. The tunnel control is handed in
 * by whoever owns the tunnel; by default the dashboard holds one (its `t`
 * key). `actions` are what its `l` and `s` keys do to the selected row: by
 * default `l` reads `swarmbee logs`'s way and `s` opens `swarmbee ssh` on
 * the row's node (see DashboardActions).
 */
export async function openDashboard(
	session: ClusterSession,
	io: CommandIO,
	options: {
		tunnels?: TunnelControl;
		refreshMs?: number;
		/** Local ports for the tunnel the user asked for (status --admin-port/--driver-port). */
		ports?: {admin?: number; driver?: number};
		actions?: Partial<DashboardActions>;
	} = {},
): Promise<number> {
	const {spec, journal, paths, name, store} = session;
	const reachable = session.hasKey;
	const source = createDashboardSource({
		current: () => {
			const running = runningCommand(paths.lock);
			try {
				return {journal: store.loadJournal(name), running};
			} catch {
				// A journal that cannot be read now: the one read at the start speaks.
				return {running};
			}
		},
		spec,
		journal: journal.value,
		provider: session.provider,
		...(reachable ? {ssh: session.ssh} : {}),
		password: readPassword(paths.rethinkdbPassword),
		logsDir: paths.logsDir,
	});
	// The dashboard's `t` key holds the same tunnel `swarmbee tunnel` does.
	const tunnels =
		options.tunnels ??
		(journal.value.database && reachable
			? createTunnelControl({
					session,
					...(options.ports?.admin ? {adminPort: options.ports.admin} : {}),
					...(options.ports?.driver ? {driverPort: options.ports.driver} : {}),
				})
			: undefined);
	// `l` reads `swarmbee logs`'s way; `s` is `swarmbee ssh NODE` (issue 14), with the terminal handed over.
	const terminal = terminalOf(io);
	const actions: DashboardActions = {
		logs: (target, signal) => source.logs(target, signal),
		...(reachable && terminal.stdin.isTTY
			? {
					ssh: async (target: DashboardTarget) => {
						const node = target.node;
						terminal.stdout.write(
							`swarmbee ssh ${name}${node ? ` ${node}` : ''} (exit the shell to come back to the dashboard)\n`,
						);
						await openShell({cluster: session, ...(node ? {node} : {}), terminal, env: io.env});
					},
				}
			: {}),
		...options.actions,
	};
	const {showDashboard} = await import('../../components/ink-renderer.js');
	try {
		await showDashboard(terminal, {
			load: signal => source.load(signal),
			tunnels,
			actions,
			refreshMs: options.refreshMs,
		});
	} finally {
		await tunnels?.close();
		await source.close();
	}
	return 0;
}
