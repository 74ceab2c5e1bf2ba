import {InputError} from '../errors.js';
import type {CommandIO} from '../main.js';
import {createClusterTunnel} from '../tunnel/cluster-tunnel.js';
import type {TunnelStatus} from '../tunnel/types.js';
import {loadCluster} from './status.js';

export interface TunnelCommandOptions {
	name: string;
	adminPort: number;
	driverPort: number;
	/** Whose server to reach: the first node's by default. */
	server?: string;
	json: boolean;
}

function describe(status: TunnelStatus): string {
	const target = status.target.node ? `${status.target.node} ${status.target.address}:${status.target.port}` : `port ${status.target.port}`;
	return `${status.name.padEnd(6)} 127.0.0.1:${status.local.port} → ${target}: ${status.state}${status.lastError && status.state !== 'open' ? ` (${status.lastError})` : ''}`;
}

/**
 * Holds 127.0.0.1:8080 → the RethinkDB admin panel and 127.0.0.1:28015 → its
 * driver port until Ctrl-C, over SSH only.
 */
export async function tunnelCommand(options: TunnelCommandOptions, io: CommandIO): Promise<number> {
	const {journal, privateKey, paths} = await loadCluster(options.name, io);
	if (!journal.database || !privateKey) {
		throw new InputError(`${options.name} has no database to tunnel to yet`, {nextSteps: [`run swarmbee up ${options.name} first`]});
	}
	const server = options.server ?? journal.nodes[0]!.name;
	if (!journal.nodes.some(n => n.name === server)) throw new InputError(`${options.name} has no node ${server}`, {nextSteps: [`choose one of: ${journal.nodes.map(n => n.name).join(', ')}`]});
	let last = '';
	const {tunnel, ssh} = createClusterTunnel({
		journal,
		privateKey,
		adminPort: options.adminPort,
		driverPort: options.driverPort,
		server,
		onChange: statuses => {
			const said = statuses.map(s => `${s.state}|${s.lastError ?? ''}|${s.target.address ?? ''}`).join(',');
			if (said === last) return;
			last = said;
			if (options.json) io.stdout.write(`${JSON.stringify({type: 'tunnel', at: new Date().toISOString(), tunnels: statuses})}\n`);
			else for (const status of statuses) io.stdout.write(`${describe(status)}\n`);
		},
	});
	await tunnel.start();
	if (!options.json) {
		io.stdout.write(`admin panel: http://127.0.0.1:${options.adminPort}/  driver: 127.0.0.1:${options.driverPort} (user admin, password in ${paths.rethinkdbPassword})\nCtrl-C closes the tunnel.\n`);
	}
	await new Promise<void>(resolve => {
		const stop = () => resolve();
		process.once('SIGINT', stop);
		process.once('SIGTERM', stop);
	});
	await tunnel.stop();
	ssh.closeAll();
	return 0;
}
