import {pollUntil} from '../concurrency.js';
import {ExternalError} from '../errors.js';
import type {NodeShells} from '../ssh/shell.js';
import {checkHealth, type RethinkdbHealth} from './rethinkdb.js';
import {stackServiceName} from './stack.js';

/**
 * Every server connected, none missing, no critical issue of the servers'
 * own. A table's availability is not the servers' to fix: the tables step
 * (after deploy) moves replicas or reports what was lost, so waiting for it
 * here would only wait out the timeout.
 */
function isHealthy(health: RethinkdbHealth): boolean {
	return (
		!health.error &&
		health.connected === health.expected &&
		health.missing.length === 0 &&
		!health.issues.some(i => i.critical && i.type !== 'table_availability')
	);
}

/** `3 of 4 servers connected; missing: workerbee_1; issues: non_transitive_error` */
export function describeHealth(health: RethinkdbHealth): string {
	const base = `${health.connected} of ${health.expected} servers connected`;
	if (health.error) return `${base} (${health.error})`;
	const extra = [
		health.missing.length > 0 ? `missing: ${health.missing.join(', ')}` : '',
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
}): Promise<RethinkdbHealth> {
	const {nodes, signal} = input;
	const timeoutMs = input.timeoutMs ?? 300_000;
	let said = '';
	const polled = await pollUntil(
		async () => {
			const health = await checkHealth({ssh: input.ssh, manager: nodes[0]!, nodes, password: input.password, signal});
			input.onHealth?.(health);
			const description = describeHealth(health);
			if (description !== said) input.onChange(description);
			said = description;
			return health;
		},
		isHealthy,
		{intervalMs: 2_000, timeoutMs, signal},
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
