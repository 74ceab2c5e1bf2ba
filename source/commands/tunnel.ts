import {defined, InputError} from '../errors.js';
import {waitForInterrupt, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {createClusterTunnel} from '../tunnel/cluster-tunnel.js';
import {ADMIN_RIGHTS_NOTE, adminUrl, portOption} from '../tunnel/ports.js';
import type {TunnelStatus} from '../tunnel/types.js';
import {oneName, type CommandArgs} from './args.js';
import {firstNode} from '../store/nodes.js';

interface TunnelCommandOptions {
	name: string;
	/** Asked for; undefined: 8080 / 28015, or a free port when taken. */
	adminPort?: number;
	driverPort?: number;
	/** Whose server to reach: the first node's by default. */
	server?: string;
	json: boolean;
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const adminPort = portOption('admin-port', values['admin-port']);
	const driverPort = portOption('driver-port', values['driver-port']);
	// One local port cannot carry both: say so, rather than "in use" by ourselves.
	if (adminPort !== undefined && adminPort === driverPort) {
		throw new InputError(`--admin-port and --driver-port are both ${adminPort}`, {
			nextSteps: ['give each its own local port, e.g. --admin-port 8080 --driver-port 28015'],
		});
	}
	return tunnelCommand(
		{
			name: oneName('tunnel', positionals),
			...(adminPort === undefined ? {} : {adminPort}),
			...(driverPort === undefined ? {} : {driverPort}),
			...(typeof values.server === 'string' ? {server: values.server} : {}),
			json: Boolean(values.json),
		},
		io,
	);
}

function describe(status: TunnelStatus): string {
	const target = status.target.node
		? `${status.target.node} ${status.target.address}:${status.target.port}`
		: `port ${status.target.port}`;
	const busy = status.local.busy ? ` (${status.local.busy} is taken on this machine)` : '';
	return `${status.name.padEnd(6)} 127.0.0.1:${status.local.port}${busy} → ${target}: ${status.state}${status.lastError && status.state !== 'open' ? ` (${status.lastError})` : ''}`;
}

/**
 * Holds 127.0.0.1:8080 → the RethinkDB admin panel and 127.0.0.1:28015 → its
 * driver port until Ctrl-C, over SSH only.
 */
async function tunnelCommand(options: TunnelCommandOptions, io: CommandIO): Promise<number> {
	const session = await openCluster(options.name, io, {needs: ['database'], verb: 'tunnel to'});
	const journal = session.journal.value;
	const {paths} = session;
	const server = options.server ?? firstNode(journal).name;
	if (!journal.nodes.some(n => n.name === server))
		throw new InputError(`${options.name} has no node ${server}`, {
			nextSteps: [`choose one of: ${journal.nodes.map(n => n.name).join(', ')}`],
		});
	let last = '';
	const {tunnel} = createClusterTunnel({
		session,
		adminPort: options.adminPort,
		driverPort: options.driverPort,
		server,
		onChange: statuses => {
			const said = statuses.map(s => `${s.state}|${s.lastError ?? ''}|${s.target.address ?? ''}`).join(',');
			if (said === last) return;
			last = said;
			if (options.json)
				io.stdout.write(`${JSON.stringify({type: 'tunnel', at: new Date().toISOString(), tunnels: statuses})}\n`);
			else for (const status of statuses) io.stdout.write(`${describe(status)}\n`);
		},
	});
	const stop = waitForInterrupt(io);
	try {
		// A start that fails (a local port taken) has closed the tunnel itself.
		await tunnel.start();
		if (!options.json) {
			const statuses = tunnel.statuses();
			const forward = (name: string) =>
				defined(
					statuses.find(s => s.name === name),
					`the tunnel has no ${name} forward`,
				);
			const port = (name: string) => forward(name).local.port;
			const panel = forward('admin');
			io.stdout.write(
				`admin panel: ${panel.url ?? adminUrl(panel.local.port)}  driver: 127.0.0.1:${port('driver')} (user admin, password in ${paths.rethinkdbPassword})\nnote: ${ADMIN_RIGHTS_NOTE}.\nCtrl-C closes the tunnel.\n`,
			);
		}
		const fatal = await Promise.race([stop.interrupted.then(() => undefined), tunnel.failed]);
		await tunnel.stop();
		if (fatal) throw fatal;
	} finally {
		stop.release();
		await session.close();
	}
	return 0;
}
