import r from 'rethinkdb';
import driverNet from 'rethinkdb/net.js';
import {CancelledError, ExternalError} from '../errors.js';
import {shellCommand, shq} from '../shell.js';
import {LocalForward} from '../ssh/forward.js';
import type {NodeShells} from '../ssh/shell.js';
import {parseJsonLines} from './swarm.js';
import {DRIVER_PORT, serverName, stackServiceName} from './stack.js';

/** RethinkDB as its own system tables see it (filled once the database is deployed). */
export interface RethinkdbHealth {
	/** Servers in `server_status`, i.e. connected to the one we asked. */
	connected: number;
	/** One per node. */
	expected: number;
	/** Expected server names that are not connected. */
	missing: string[];
	issues: Array<{type: string; critical: boolean; description: string}>;
	/** Why the health query could not be made, when it could not. */
	error?: string;
}

/** Which node runs a server's task, from a manager. */
export function runningTaskCommand(node: string): string {
	return shellCommand(['docker', 'service', 'ps', stackServiceName(node), '--filter', 'desired-state=running', '--format', '{{json .}}']);
}

/**
 * On the node that runs the task: the task container's address on
 * docker_gwbridge. That bridge is local to the node (the node's own sshd
 * can reach it, nothing outside can), so an SSH forward to it reaches the
 * server without publishing a port.
 */
export function taskAddressCommand(node: string): string {
	return [
		`c=$(docker ps -q --filter ${shq(`label=com.docker.swarm.service.name=${stackServiceName(node)}`)} | head -n 1)`,
		'[ -n "$c" ] || { echo "no running task here" >&2; exit 3; }',
		'echo "$c"',
		"docker network inspect docker_gwbridge --format '{{json .Containers}}'",
	].join('; ');
}

export function parseTaskAddress(output: string): string | undefined {
	const [container, json] = output.trim().split('\n');
	if (!container || !json) return undefined;
	const containers = JSON.parse(json) as Record<string, {IPv4Address?: string}>;
	const entry = Object.entries(containers).find(([id]) => id.startsWith(container));
	return entry?.[1].IPv4Address?.split('/')[0] || undefined;
}

export interface ServerLocation {
	/** The database server's node (where it is pinned). */
	server: string;
	/** The node its task runs on now, whose sshd opens the forward. */
	host: string;
	address: string;
}

/** Finds where a server runs now and the address its node reaches it at. */
export async function locateServer(ssh: NodeShells, manager: string, server: string, signal?: AbortSignal): Promise<ServerLocation> {
	const tasks = parseJsonLines<{Node: string; CurrentState: string}>(await (await ssh.get(manager, signal)).run(runningTaskCommand(server), {signal}));
	const running = tasks.find(t => t.CurrentState.startsWith('Running'));
	if (!running) {
		throw new ExternalError(`the database server of ${server} is not running`, {
			hint: tasks.length > 0 ? `its task is ${tasks[0]!.CurrentState.toLowerCase()}` : 'Swarm has no task for it',
			nextSteps: [`look at it on queenbee: docker service ps ${stackServiceName(server)} --no-trunc`],
		});
	}
	const result = await (await ssh.get(running.Node, signal)).exec(taskAddressCommand(server), {signal});
	const address = result.code === 0 ? parseTaskAddress(result.stdout) : undefined;
	if (!address) throw new ExternalError(`could not find the address of ${server}'s database task on ${running.Node}`, {hint: result.stderr.trim() || undefined});
	return {server, host: running.Node, address};
}

interface ServerStatusRow {
	name: string;
	network: {connected_to: Record<string, boolean>};
}

interface IssueRow {
	type: string;
	critical: boolean;
	description: string;
}

let driverGuarded = false;

/**
 * The npm driver arms a connect timer it does not clear when a handshake is
 * refused (rethinkdb#6290): when it fires, it emits 'error' on a connection
 * nobody listens to any more, which throws and kills the process (swarmbee's
 * dashboard, a tunnel). Such an orphaned 'error' is dropped here; errors
 * that have a listener pass as before.
 */
export function guardDriverTimer(): void {
	if (driverGuarded) return;
	driverGuarded = true;
	const prototype = (driverNet as unknown as {TcpConnection: {prototype: NodeJS.EventEmitter}}).TcpConnection.prototype;
	const emit = prototype.emit;
	prototype.emit = function (this: NodeJS.EventEmitter, name: string | symbol, ...args: unknown[]) {
		if (name === 'error' && this.listenerCount('error') === 0) return false;
		return emit.call(this, name, ...args);
	};
}

/**
 * Asks a RethinkDB server, through the npm driver, what the admin panel
 * shows: servers connected (its `server_status`), which expected ones are
 * missing, and `current_issues`.
 */
export async function queryHealth(port: number, password: string, expectedNodes: string[], timeoutSeconds = 15): Promise<RethinkdbHealth> {
	guardDriverTimer();
	const connection = await r.connect({host: '127.0.0.1', port, user: 'admin', password, timeout: timeoutSeconds});
	try {
		const servers = await (await r.db('rethinkdb').table('server_status').pluck('name', {network: ['connected_to']} as never).run(connection)).toArray() as ServerStatusRow[];
		const issues = await (await r.db('rethinkdb').table('current_issues').run(connection)).toArray() as IssueRow[];
		const names = new Set(servers.map(s => s.name));
		return {
			connected: servers.length,
			expected: expectedNodes.length,
			missing: expectedNodes.map(serverName).filter(name => !names.has(name)),
			issues: issues.map(i => ({type: i.type, critical: i.critical, description: i.description})),
		};
	} finally {
		await connection.close().catch(() => {});
	}
}

/**
 * Health through an SSH forward to the first server that answers (the first
 * node's, normally), never a published port.
 */
export async function checkHealth(input: {ssh: NodeShells; manager: string; nodes: string[]; password: string; signal?: AbortSignal}): Promise<RethinkdbHealth> {
	let lastError: Error | undefined;
	for (const server of input.nodes) {
		if (input.signal?.aborted) throw new CancelledError();
		try {
			const location = await locateServer(input.ssh, input.manager, server, input.signal);
			const forward = await LocalForward.listen('127.0.0.1', 0, async () => (await input.ssh.get(location.host, input.signal)).forwardOut(location.address, DRIVER_PORT));
			try {
				return await queryHealth(forward.port, input.password, input.nodes);
			} finally {
				await forward.close();
			}
		} catch (error) {
			if (error instanceof CancelledError) throw error;
			lastError = error as Error;
		}
	}
	return {connected: 0, expected: input.nodes.length, missing: input.nodes.map(serverName), issues: [], error: lastError?.message.replace(/\s*\n\s*/g, ': ') ?? 'no server answered'};
}
