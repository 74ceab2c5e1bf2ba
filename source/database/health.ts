import {pollUntil} from '../concurrency.js';
import {ExternalError} from '../errors.js';
import type {NodeShells} from '../ssh/shell.js';
import {checkHealth, type DriverTls, type RethinkdbHealth} from './rethinkdb.js';
import {stackServiceName} from './stack.js';

/**
 * Every server connected, none missing, no critical issue of the servers'
 * own. A table's availability is not the servers' to fix: the tables step
 * (after deploy) moves replicas or reports what was lost, so waiting for it
 * here would only wait out the timeout.
 */
function isHealthy(health: RethinkdbHealth, gone: readonly string[] = []): boolean {
	return (
		!health.error &&
		health.connected === health.expected &&
		health.missing.length === 0 &&
		!(health.extra ?? []).some(server => gone.includes(server)) &&
		!health.issues.some(i => i.critical && i.type !== 'table_availability')
	);
}

/** The critical `table_availability` issues of a health: tables that cannot serve. */
export function unavailableTables(health: RethinkdbHealth): string[] {
	return health.issues.filter(i => i.critical && i.type === 'table_availability').map(i => i.description);
}

/** `3 of 4 servers connected; missing: workerbee_1; issues: non_transitive_error` */
export function describeHealth(health: RethinkdbHealth): string {
	const base = `${health.connected} of ${health.expected} servers connected`;
	if (health.error) return `${base} (${health.error})`;
	const extra = [
		health.missing.length > 0 ? `missing: ${health.missing.join(', ')}` : '',
		(health.extra ?? []).length > 0 ? `also connected: ${health.extra!.join(', ')}` : '',
		health.issues.length > 0
			? `issues: ${health.issues.map(i => `${i.type}${i.critical ? ' (critical)' : ''}`).join(', ')}`
			: '',
	].filter(Boolean);
	return extra.length > 0 ? `${base}; ${extra.join('; ')}` : base;
}

/**
 * Polls the database's own view of itself until every server is connected
 * with no critical issue; `onChange` hears each new description. Shared by
 * the deploy and verify steps.
 */
export async function waitForHealthy(input: {
	ssh: NodeShells;
	/** The cluster's nodes, the first a manager. */
	nodes: string[];
	password: string;
	cluster: string;
	signal: AbortSignal;
	onChange: (description: string) => void;
	/** Every answer, for per-server progress. */
	onHealth?: (health: RethinkdbHealth) => void;
	timeoutMs?: number;
	/** Servers that must have disconnected (a scale-down's, whose services were removed). */
	gone?: readonly string[];
	/** The servers speak TLS (the journal's `database.tls`). */
	tls?: DriverTls;
	/** Also wait until every table has all its replicas ready (after every server restarted at once). */
	tablesReady?: boolean;
}): Promise<RethinkdbHealth> {
	const {nodes, signal} = input;
	const timeoutMs = input.timeoutMs ?? 300_000;
	let said = '';
	const polled = await pollUntil(
		async () => {
			const health = await checkHealth({
				ssh: input.ssh,
				manager: nodes[0]!,
				nodes,
				password: input.password,
				signal,
				...(input.tls ? {tls: input.tls} : {}),
			});
			input.onHealth?.(health);
			const description = describeHealth(health);
			if (description !== said) input.onChange(description);
			said = description;
			return health;
		},
		health =>
			isHealthy(health, input.gone) && (!input.tablesReady || health.tables.every(t => t.readiness === 'ready')),
		{intervalMs: input.tablesReady ? 500 : 2_000, timeoutMs, signal},
	);
	if (polled.met) return polled.value;
	throw new ExternalError(
		`RethinkDB did not come together within ${timeoutMs / 1000} s: ${polled.last ? describeHealth(polled.last) : 'no answer'}`,
		{
			nextSteps: [
				`see each server's log on its node: docker service logs ${stackServiceName(nodes[0]!)}`,
				`run swarmbee up ${input.cluster} again once the cause is fixed`,
			],
		},
	);
}

/**
 * The tables that stay unavailable (a critical `table_availability` issue)
 * for `timeoutMs`, asked again every 2 s: a table whose primary just moved
 * or came back is unavailable for a moment, which is not what this is about.
 * Empty when every table serves.
 */
export async function lastingUnavailableTables(input: {
	ssh: NodeShells;
	nodes: string[];
	password: string;
	signal: AbortSignal;
	first: RethinkdbHealth;
	timeoutMs?: number;
	/** The servers speak TLS (the journal's `database.tls`). */
	tls?: DriverTls;
}): Promise<string[]> {
	if (unavailableTables(input.first).length === 0) return [];
	const polled = await pollUntil(
		() =>
			checkHealth({
				ssh: input.ssh,
				manager: input.nodes[0]!,
				nodes: input.nodes,
				password: input.password,
				signal: input.signal,
				...(input.tls ? {tls: input.tls} : {}),
			}),
		health => !health.error && unavailableTables(health).length === 0,
		{intervalMs: 2_000, timeoutMs: input.timeoutMs ?? 30_000, signal: input.signal},
	);
	return polled.met ? [] : unavailableTables(polled.last ?? input.first);
}

/** Tables that stay unavailable after a change: the run stops with a cross, naming them in RethinkDB's words. */
export function tablesUnavailableError(descriptions: string[], cluster: string): ExternalError {
	return new ExternalError(
		`${descriptions.length === 1 ? '1 table is' : `${descriptions.length} tables are`} not available (a critical table_availability issue)`,
		{
			hint: descriptions.join('\n'),
			nextSteps: [`see what is wrong and the choices: swarmbee up ${cluster}`, `swarmbee status ${cluster} --once`],
		},
	);
}
