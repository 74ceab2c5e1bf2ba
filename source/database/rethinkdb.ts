import r from 'rethinkdb';
import driverNet from 'rethinkdb/net.js';
import {CancelledError, ExternalError} from '../errors.js';
import {shellCommand, shq} from '../shell.js';
import {LocalForward} from '../ssh/forward.js';
import type {NodeShells} from '../ssh/shell.js';
import {liveNodes, type Journal} from '../store/journal.js';
import {tableKey, wantedReplicas} from './placement.js';
import {parseJsonLines} from '../nodes/swarm.js';
import {DRIVER_PORT, serverName, stackServiceName} from './stack.js';

/** Which node runs a server's task, from a manager. */
export function runningTaskCommand(node: string): string {
	return shellCommand([
		'docker',
		'service',
		'ps',
		stackServiceName(node),
		'--filter',
		'desired-state=running',
		'--format',
		'{{json .}}',
	]);
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
export async function locateServer(
	ssh: NodeShells,
	manager: string,
	server: string,
	signal?: AbortSignal,
): Promise<ServerLocation> {
	const tasks = parseJsonLines<{Node: string; CurrentState: string}>(
		await (await ssh.get(manager, signal)).run(runningTaskCommand(server), {signal}),
	);
	const running = tasks.find(t => t.CurrentState.startsWith('Running'));
	if (!running) {
		throw new ExternalError(`the database server of ${server} is not running`, {
			hint: tasks.length > 0 ? `its task is ${tasks[0]!.CurrentState.toLowerCase()}` : 'Swarm has no task for it',
			nextSteps: [`look at it on queenbee: docker service ps ${stackServiceName(server)} --no-trunc`],
		});
	}
	const result = await (await ssh.get(running.Node, signal)).exec(taskAddressCommand(server), {signal});
	const address = result.code === 0 ? parseTaskAddress(result.stdout) : undefined;
	if (!address)
		throw new ExternalError(`could not find the address of ${server}'s database task on ${running.Node}`, {
			hint: result.stderr.trim() || undefined,
		});
	return {server, host: running.Node, address};
}

/** One user table as the database reports it: where its replicas are and whether it can serve. */
export interface TableHealth {
	db: string;
	table: string;
	shards: number;
	/** Replicas per shard as configured (the fewest over its shards). */
	replicas: number;
	/** Servers holding a replica of any shard, by name. */
	servers: string[];
	/** Each shard's primary replica. */
	primaries: string[];
	/**
	 * ready: every replica ready (`all_replicas_ready`); writable: writes
	 * work, some replica is still backfilling or missing; readable: reads
	 * only; unavailable: neither.
	 */
	readiness: 'ready' | 'writable' | 'readable' | 'unavailable';
	/** Fewer replicas than swarmbee's policy wants (`min(servers, --replicas)`); the next up or scale places it. Set where the policy is known. */
	underReplicated?: boolean;
}

/** RethinkDB as its own system tables see it (filled once the database is deployed). */
export interface RethinkdbHealth {
	/** Expected servers in `server_status`, i.e. connected to the one we asked (never more than `expected`). */
	connected: number;
	/** One per node. */
	expected: number;
	/** Expected server names that are not connected. */
	missing: string[];
	/** Connected servers that are not expected (a leaving node's, until it stops). */
	extra?: string[];
	issues: Array<{type: string; critical: boolean; description: string}>;
	/** Every user table (not the `rethinkdb` system database), by database then name. */
	tables: TableHealth[];
	/** Why the health query could not be made, when it could not. */
	error?: string;
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

interface TableStatusRow {
	db: string;
	name: string;
	shards: Array<{primary_replicas: string[]; replicas: Array<{server: string; state: string}>}> | null;
	status: {all_replicas_ready: boolean; ready_for_writes: boolean; ready_for_reads: boolean};
}

interface TableConfigRow {
	db: string;
	name: string;
	shards: Array<{primary_replica: string | null; replicas: string[]}>;
}

export function readinessOf(status: TableStatusRow['status']): TableHealth['readiness'] {
	if (status.all_replicas_ready) return 'ready';
	if (status.ready_for_writes) return 'writable';
	if (status.ready_for_reads) return 'readable';
	return 'unavailable';
}

/** A table's health from its `table_config` (what is asked) and `table_status` (what is so) rows. */
export function tableHealth(config: TableConfigRow | undefined, status: TableStatusRow): TableHealth {
	const shards =
		config?.shards ??
		(status.shards ?? []).map(s => ({
			primary_replica: s.primary_replicas[0] ?? null,
			replicas: s.replicas.map(r => r.server),
		}));
	return {
		db: status.db,
		table: status.name,
		shards: shards.length,
		replicas: shards.length > 0 ? Math.min(...shards.map(s => s.replicas.length)) : 0,
		servers: [...new Set(shards.flatMap(s => s.replicas))].sort(),
		primaries: shards.map(s => s.primary_replica ?? '-'),
		readiness: readinessOf(status.status),
	};
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
 * Asks a RethinkDB server what the admin panel shows: servers connected
 * (its `server_status`), which expected ones are missing, `current_issues`,
 * and every user table's replicas and readiness.
 */
export async function queryHealth(
	connection: r.Connection,
	expectedNodes: string[],
	replicas?: number,
): Promise<RethinkdbHealth> {
	const system = r.db('rethinkdb');
	const [servers, issues, configs, statuses] = await Promise.all([
		system
			.table('server_status')
			.pluck('name', {network: ['connected_to']} as never)
			.run(connection)
			.then(c => c.toArray()) as Promise<ServerStatusRow[]>,
		system
			.table('current_issues')
			.run(connection)
			.then(c => c.toArray()) as Promise<IssueRow[]>,
		system
			.table('table_config')
			.pluck('db', 'name', 'shards')
			.run(connection)
			.then(c => c.toArray()) as Promise<TableConfigRow[]>,
		system
			.table('table_status')
			.pluck('db', 'name', 'shards', 'status')
			.run(connection)
			.then(c => c.toArray()) as Promise<TableStatusRow[]>,
	]);
	const names = new Set(servers.map(s => s.name));
	const expected = new Set(expectedNodes.map(serverName));
	const configOf = new Map(configs.map(c => [tableKey({db: c.db, table: c.name}), c]));
	// Counted by name against what is expected: a leaving server still connected is no server of the cluster's ("6 of 4").
	const extra = [...names].filter(name => !expected.has(name)).sort();
	return {
		connected: [...expected].filter(name => names.has(name)).length,
		expected: expectedNodes.length,
		missing: expectedNodes.map(serverName).filter(name => !names.has(name)),
		...(extra.length > 0 ? {extra} : {}),
		issues: issues.map(i => ({type: i.type, critical: i.critical, description: i.description})),
		tables: statuses
			.map(status => tableHealth(configOf.get(tableKey({db: status.db, table: status.name})), status))
			.map(table =>
				replicas === undefined
					? table
					: {...table, underReplicated: table.replicas < wantedReplicas(expectedNodes.length, replicas)},
			)
			.sort((a, b) => a.db.localeCompare(b.db) || a.table.localeCompare(b.table)),
	};
}

/** How a client reaches servers that run with driver TLS: the CAs it trusts (PEM; the cluster's, and during `certs rotate --ca` the old one too). */
export interface DriverTls {
	ca: string;
	/** The name to check the certificate for, when the host dialled is an address it does not carry (a container's bridge address in tests). */
	servername?: string;
}

/**
 * The npm driver's connect, as admin, with the orphaned-timer guard in
 * place; over TLS when `tls` is given, checking the server's certificate
 * against the cluster's CA (and the host dialled against its names:
 * 127.0.0.1 through a forward or a tunnel).
 */
export function connectDriver(input: {
	host: string;
	port: number;
	password: string;
	timeoutSeconds?: number;
	tls?: DriverTls;
}): Promise<r.Connection> {
	guardDriverTimer();
	return r.connect({
		host: input.host,
		port: input.port,
		user: 'admin',
		password: input.password,
		timeout: input.timeoutSeconds ?? 15,
		// A new object each time: the driver writes host and port into it.
		...(input.tls ? {ssl: {...input.tls}} : {}),
	} as r.ConnectionOptions);
}

/**
 * A driver connection to one of the cluster's servers, through an SSH
 * forward (never a published port). `reconnect` opens a new connection
 * through the same forward (a new SSH channel, and a new SSH session if the
 * old one died): long work (a backup) resumes on it.
 */
export interface DatabaseSession {
	readonly connection: r.Connection;
	/** The node whose server answered. */
	server: string;
	reconnect(): Promise<r.Connection>;
	/** Another connection through the same way in, for work beside the session's own (a backup's table read); the caller closes it. */
	open(): Promise<r.Connection>;
	close(): Promise<void>;
}

/** A session over `connect`, which opens one driver connection; `release` frees what carries it (the forward). */
export async function sessionOver(
	server: string,
	connect: () => Promise<r.Connection>,
	release: () => Promise<void> = async () => {},
): Promise<DatabaseSession> {
	let connection = await connect();
	return {
		get connection() {
			return connection;
		},
		server,
		async reconnect() {
			await connection.close({noreplyWait: false}).catch(() => {});
			connection = await connect();
			return connection;
		},
		open: connect,
		async close() {
			await connection.close({noreplyWait: false}).catch(() => {});
			await release();
		},
	};
}

/**
 * A manager to ask Swarm where servers run, the nodes whose servers may
 * answer (not those being removed), first node first, and the TLS the
 * servers speak (the journal's: what was deployed): openDatabase's input.
 */
export function databaseNodes(journal: Readonly<Journal>): {manager: string; nodes: string[]; tls?: DriverTls} {
	const nodes = liveNodes(journal);
	const manager = nodes.find(n => n.role === 'manager') ?? nodes[0]!;
	return {manager: manager.name, nodes: nodes.map(n => n.name), ...driverTlsOf(journal)};
}

/** `{tls}` for a cluster whose servers run with TLS (the journal says so), else nothing. */
export function driverTlsOf(journal: {readonly database?: {readonly tls?: {readonly ca: string}}}): {tls?: DriverTls} {
	const ca = journal.database?.tls?.ca;
	return ca ? {tls: {ca}} : {};
}

/**
 * Connects to the first server that answers, in the order given (the first
 * node's, normally), over swarmbee's own SSH: a forward on 127.0.0.1:0 to
 * the task's address on its node.
 */
export async function openDatabase(input: {
	ssh: NodeShells;
	manager: string;
	nodes: string[];
	password: string;
	signal?: AbortSignal;
	timeoutSeconds?: number;
	/** The servers speak TLS: check them against these CAs. */
	tls?: DriverTls;
}): Promise<DatabaseSession> {
	const failures: string[] = [];
	for (const server of input.nodes) {
		if (input.signal?.aborted) throw new CancelledError();
		let forward: LocalForward | undefined;
		try {
			const location = await locateServer(input.ssh, input.manager, server, input.signal);
			forward = await LocalForward.listen('127.0.0.1', 0, async () =>
				(await input.ssh.get(location.host, input.signal)).forwardOut(location.address, DRIVER_PORT),
			);
			const held = forward;
			return await sessionOver(
				server,
				() =>
					connectDriver({
						host: '127.0.0.1',
						port: held.port,
						password: input.password,
						timeoutSeconds: input.timeoutSeconds,
						...(input.tls ? {tls: input.tls} : {}),
					}),
				() => held.close(),
			);
		} catch (error) {
			await forward?.close();
			if (error instanceof CancelledError || input.signal?.aborted) throw new CancelledError();
			failures.push(whyNoAnswer(server, error as Error));
		}
	}
	throw new ExternalError(`no database server answered: ${failures.at(-1) ?? 'the cluster has no server'}`, {
		...(failures.length > 1 ? {hint: failures.join('\n')} : {}),
		nextSteps: [
			"see the servers' tasks on queenbee: docker stack ps swarmbee --no-trunc",
			'swarmbee up NAME repairs a cluster whose servers are down',
		],
	});
}

/** A failed driver connection in words: the socket errors of a server still starting say little by themselves. */
export function whyNoAnswer(server: string, error: Error): string {
	if (error.name === 'ReqlAuthError') return `${server}'s server refused swarmbee's admin password`;
	if (/certificate|altnames|unable to verify/i.test(error.message))
		return `${server}'s server presented a certificate the cluster's CA does not vouch for (${error.message.split('\n').at(-1)})`;
	if (/ECONNRESET|ECONNREFUSED|EPIPE|socket hang up|operation timed out/i.test(error.message))
		return `${server}'s server does not answer on its driver port yet`;
	return error.message;
}

/** The health said when no server answers: every server missing, and why (the error's lines as one). */
export function noServerAnswers(nodes: string[], error: Error): RethinkdbHealth {
	const message = error.message.replace(/\s*\n\s*/g, ': ').replace(/^no database server answered: /, '');
	return {connected: 0, expected: nodes.length, missing: nodes.map(serverName), issues: [], tables: [], error: message};
}

/** Health as the database sees it, or, when no server answers, why not (never a throw, but for Ctrl-C). */
export async function checkHealth(input: {
	ssh: NodeShells;
	manager: string;
	nodes: string[];
	password: string;
	signal?: AbortSignal;
	replicas?: number;
	tls?: DriverTls;
}): Promise<RethinkdbHealth> {
	let session: DatabaseSession | undefined;
	try {
		session = await openDatabase(input);
		return await queryHealth(session.connection, input.nodes, input.replicas);
	} catch (error) {
		if (error instanceof CancelledError) throw error;
		return noServerAnswers(input.nodes, error as Error);
	} finally {
		await session?.close();
	}
}
