import {assessHealth, describeLiveHealth, type LiveHealth} from '../observe/live-health.js';
import {tableKey} from '../database/placement.js';
import {collectStatus, type ClusterStatus} from '../observe/status.js';
import {counted, formatError, formatTable} from '../render/format.js';
import {readPassword} from '../database/password.js';
import {runningCommand} from '../store/cluster-store.js';
import {outputMode, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {portOption} from '../tunnel/ports.js';
import {oneName, type CommandArgs} from './args.js';

interface StatusOptions {
	name: string;
	/** One table and exit (also --plain, and anywhere without a terminal). */
	once: boolean;
	json: boolean;
	ports: {admin?: number; driver?: number};
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
		...(status.change ? [`change: ${status.change.says}`] : []),
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
			`rethinkdb: ${db.connected} of ${db.expected} servers connected${db.missing.length > 0 ? `, missing ${db.missing.join(', ')}` : ''}${(db.extra ?? []).length > 0 ? `; also connected: ${(db.extra ?? []).join(', ')}` : ''}${db.error ? ` (${db.error})` : ''}`,
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

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	return statusCommand(
		{
			name: oneName('status', positionals),
			once: Boolean(values.once) || outputMode(values, io) !== 'tty',
			json: Boolean(values.json),
			ports: {
				admin: portOption('admin-port', values['admin-port']),
				driver: portOption('driver-port', values['driver-port']),
			},
		},
		io,
	);
}

async function statusCommand(options: StatusOptions, io: CommandIO): Promise<number> {
	const session = await openCluster(options.name, io, {needs: ['provider']});
	try {
		if (!options.once && !options.json) {
			// The dashboard (and its tunnel code) loads only where it is shown.
			const {openDashboard} = await import('../session/dashboard.js');
			return await openDashboard(session, io, {ports: options.ports});
		}
		const {spec, journal, paths} = session;
		const status = await collectStatus({
			spec,
			journal: journal.value,
			provider: session.provider,
			...(session.hasKey ? {ssh: session.ssh} : {}),
			password: readPassword(paths.rethinkdbPassword),
			running: runningCommand(paths.lock),
		});
		// The verdict is from what was just asked, never the journal's last run (that is `state`).
		const health = assessHealth({nodes: status.nodes, swarm: status.swarm, rethinkdb: status.rethinkdb});
		if (options.json) io.stdout.write(`${JSON.stringify({...status, health})}\n`);
		else io.stdout.write(`${formatStatus(status, health).join('\n')}\n`);
		return status.swarm ? 0 : 1;
	} finally {
		await session.close();
	}
}
