import {assessHealth, describeLiveHealth, type LiveHealth} from '../cluster/live-health.js';
import {tableKey} from '../cluster/placement.js';
import {collectStatus, type ClusterStatus} from '../cluster/status.js';
import {DockerCli} from '../docker/cli.js';
import {swarmbeeHome} from '../paths.js';
import {createProvider} from '../providers/index.js';
import {counted, formatError, formatTable} from '../render/format.js';
import {ClusterStore} from '../store/cluster-store.js';
import {readPassword} from '../cluster/password.js';
import {sshTarget} from '../cluster/targets.js';
import {SshPool} from '../ssh/pool.js';
import {portOption} from '../tunnel/ports.js';
import {oneName, outputMode, type CommandArgs, type CommandIO} from './io.js';

interface StatusOptions {
	name: string;
	/** One table and exit (also --plain, and anywhere without a terminal). */
	once: boolean;
	json: boolean;
	ports: {admin?: number; driver?: number};
	/** A DigitalOcean token handed over in-process; see UpOptions.token. */
	token?: string;
}

/**
 *     demo (local): degraded: workerbee-1 stopped (last run: ready)
 *     NODE         ROLE     STATE  PUBLIC        PRIVATE
 *     queenbee     manager  ready  10.100.3.10   10.101.7.10
 *     workerbee-1  worker   ready  10.100.3.11   10.101.7.11
 *     swarm: 1 manager, 1 worker, 2 of 2 Ready
 */
function formatStatus(status: ClusterStatus, health: LiveHealth): string[] {
	const lines = [
		`${status.cluster} (${status.provider}): ${describeLiveHealth(health, 3)}${status.state === 'ready' ? '' : ` (last run: ${status.state})`}`,
	];
	lines.push(
		...formatTable([
			['NODE', 'ROLE', 'STATE', 'PUBLIC', 'PRIVATE'],
			...status.nodes.map(n => [n.name, n.role, n.state, n.publicAddress ?? '-', n.privateAddress ?? '-']),
		]),
	);
	if (status.swarm) {
		const s = status.swarm;
		lines.push(
			`swarm: ${counted(s.managers, 'manager')}, ${counted(s.workers, 'worker')}, ${s.ready} of ${s.managers + s.workers} Ready`,
		);
	} else {
		// Say why where the machines tell: a manager that is not running cannot answer.
		const stopped = status.nodes
			.filter(n => n.role === 'manager' && n.machine !== 'running')
			.map(n => `${n.name} is ${n.state}`);
		lines.push(`swarm: no manager answered${stopped.length > 0 ? ` (${stopped.join(', ')})` : ''}`);
	}
	if (status.rethinkdb) {
		const db = status.rethinkdb;
		lines.push(
			`rethinkdb: ${db.connected} of ${db.expected} servers connected${db.missing.length > 0 ? `, missing ${db.missing.join(', ')}` : ''}${db.error ? ` (${db.error})` : ''}`,
		);
		for (const issue of db.issues)
			lines.push(`  ${issue.critical ? 'critical ' : ''}${issue.type}: ${issue.description}`);
		if (db.tables.length > 0) {
			lines.push(
				...formatTable([
					['TABLE', 'SHARDS', 'REPLICAS', 'PRIMARY', 'SERVERS', 'STATE'],
					...db.tables.map(t => [
						tableKey(t),
						String(t.shards),
						String(t.replicas),
						t.primaries.join(','),
						t.servers.join(','),
						t.underReplicated ? `${t.readiness}, under-replicated` : t.readiness,
					]),
				]),
			);
		}
	}
	for (const error of status.errors) lines.push(...formatError(error));
	return lines;
}

export async function run({values, positionals, token}: CommandArgs, io: CommandIO): Promise<number> {
	return statusCommand(
		{
			name: oneName('status', positionals),
			once: Boolean(values.once) || outputMode(values, io) !== 'tty',
			json: Boolean(values.json),
			ports: {
				admin: portOption('admin-port', values['admin-port']),
				driver: portOption('driver-port', values['driver-port']),
			},
			...(token ? {token} : {}),
		},
		io,
	);
}

async function statusCommand(options: StatusOptions, io: CommandIO): Promise<number> {
	if (!options.once && !options.json) {
		// The dashboard (and its tunnel code) loads only where it is shown.
		const {openDashboard} = await import('./dashboard.js');
		return openDashboard(options.name, io, {ports: options.ports, token: options.token});
	}
	const {spec, journal, privateKey, paths} = new ClusterStore(swarmbeeHome(io.env)).loadCluster(options.name);
	const provider = createProvider(spec, new DockerCli(), {env: io.env, token: options.token});
	const ssh = privateKey ? new SshPool(node => sshTarget(journal, node, privateKey)) : undefined;
	try {
		const status = await collectStatus({spec, journal, provider, ssh, password: readPassword(paths.rethinkdbPassword)});
		// The verdict is from what was just asked, never the journal's last run (that is `state`).
		const health = assessHealth({nodes: status.nodes, swarm: status.swarm, rethinkdb: status.rethinkdb});
		if (options.json) io.stdout.write(`${JSON.stringify({...status, health})}\n`);
		else io.stdout.write(`${formatStatus(status, health).join('\n')}\n`);
		return status.swarm ? 0 : 1;
	} finally {
		ssh?.closeAll();
	}
}
