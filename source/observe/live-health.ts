import {counted} from '../render/format.js';
import type {RethinkdbHealth, TableHealth} from '../database/rethinkdb.js';
import {tableKey} from '../database/placement.js';
import type {NodeStatus} from './status.js';

/**
 * How a cluster is doing now, from what was just asked of it (machines,
 * Swarm, services, the database), never from how the last run ended: the
 * journal can say "ready" about a cluster whose node stopped since.
 */
export type HealthLevel = 'ready' | 'degraded' | 'down';

/** One thing wrong, said as "<subject> <says>": `workerbee-1 stopped`, `app.users read-only`. */
export interface HealthProblem {
	subject: string;
	says: string;
}

export interface LiveHealth {
	level: HealthLevel;
	/** Worst first; empty when ready. */
	problems: HealthProblem[];
}

/** What assessHealth needs of a service (the dashboard's ServiceView has it). */
interface ServiceCounts {
	name: string;
	running: number;
	desired: number;
	/** Nodes of the tasks that should run and do not. */
	notRunningOn: string[];
}

const TABLE_WORDS: Record<Exclude<TableHealth['readiness'], 'ready'>, string> = {
	writable: 'not every replica ready (backfilling or missing)',
	readable: 'read-only (no primary for writes)',
	unavailable: 'unavailable (neither reads nor writes)',
};

/**
 * The headline's verdict and its reasons:
 *
 *     down       no node is running · no manager answered · no database server answers
 *     degraded   workerbee-1 stopped · rethinkdb 3 of 4 servers · app.users under-replicated
 *     ready      nothing of the above
 *
 * A service whose only missing tasks are on a node already named is not
 * named again (a stopped node takes its database server with it).
 */
export function assessHealth(input: {
	nodes: ReadonlyArray<Pick<NodeStatus, 'name' | 'role' | 'state' | 'machine'>>;
	/** null: no manager answered. */
	swarm: {ready: number} | null;
	/** Only the dashboard asks for services; `status --once` leaves them out. */
	services?: readonly ServiceCounts[] | null;
	/** null or undefined: no database deployed (or not asked). */
	rethinkdb?: RethinkdbHealth | null;
}): LiveHealth {
	const problems: HealthProblem[] = [];
	const running = input.nodes.filter(n => n.machine === 'running');
	if (input.nodes.length > 0 && running.length === 0)
		return {level: 'down', problems: [{subject: 'every node', says: 'is not running'}]};
	if (input.swarm === null) problems.push({subject: 'swarm', says: 'no manager answered'});
	const troubled = new Set<string>();
	for (const node of input.nodes) {
		if (node.state === 'ready') continue;
		troubled.add(node.name);
		problems.push({subject: node.name, says: node.state});
	}
	const db = input.rethinkdb;
	let databaseDown = false;
	if (db) {
		if (db.error || db.connected === 0) {
			databaseDown = true;
			problems.push({subject: 'rethinkdb', says: `no server answers${db.error ? `: ${db.error}` : ''}`});
		} else if (db.connected < db.expected || db.missing.length > 0) {
			problems.push({
				subject: 'rethinkdb',
				says: `${db.connected} of ${db.expected} servers${db.missing.length > 0 ? ` (missing ${db.missing.join(', ')})` : ''}`,
			});
		}
		const critical = db.issues.filter(i => i.critical);
		// server_disconnected repeats what `missing` says.
		const others = critical.filter(i => !(i.type === 'server_disconnected' && db.missing.length > 0));
		if (others.length > 0)
			problems.push({
				subject: 'rethinkdb',
				says: `${counted(others.length, 'critical issue')} (${[...new Set(others.map(i => i.type))].join(', ')})`,
			});
		for (const table of db.tables) {
			const name = tableKey(table);
			if (table.readiness !== 'ready') problems.push({subject: name, says: TABLE_WORDS[table.readiness]});
			else if (table.underReplicated) problems.push({subject: name, says: 'under-replicated'});
		}
	}
	for (const service of input.services ?? []) {
		if (service.running >= service.desired) continue;
		if (service.notRunningOn.length > 0 && service.notRunningOn.every(node => troubled.has(node))) continue;
		problems.push({subject: service.name, says: `${service.running}/${service.desired} running`});
	}
	const managersUp = input.nodes.some(n => n.role === 'manager' && n.state === 'ready');
	const down = input.swarm === null || !managersUp || databaseDown;
	return {level: problems.length === 0 ? 'ready' : down ? 'down' : 'degraded', problems};
}

/** `degraded: workerbee-1 stopped, rethinkdb 3 of 4 servers (+2 more)` */
export function describeLiveHealth(health: LiveHealth, max = 2): string {
	if (health.level === 'ready') return 'ready';
	const shown = health.problems
		.slice(0, max)
		.map(p => `${p.subject} ${p.says}`)
		.join(', ');
	const more = health.problems.length - max;
	return `${health.level}: ${shown}${more > 0 ? ` (+${more} more)` : ''}`;
}
