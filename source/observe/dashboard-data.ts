import {withTimeout} from '../concurrency.js';
import {errorInfo, ExternalError, type ErrorInfo} from '../errors.js';
import type {Provider} from '../providers/types.js';
import {shellCommand} from '../shell.js';
import type {ClusterSpec} from '../spec.js';
import type {SshPool} from '../ssh/pool.js';
import type {Journal} from '../store/journal.js';
import {assessHealth, type LiveHealth} from './live-health.js';
import {readLogs} from '../access/logs.js';
import {
	nodeStatsCommand,
	nodeUsage,
	parseNodeStats,
	splitSections,
	type NodeSample,
	type NodeUsage,
	type StatsScope,
} from './node-stats.js';
import {
	noServerAnswers,
	openDatabase,
	queryHealth,
	driverTlsOf,
	type DatabaseSession,
	type DriverTls,
	type RethinkdbHealth,
} from '../database/rethinkdb.js';
import {nodeListCommand, parseJsonLines, type SwarmNode} from '../nodes/swarm.js';
import {statusOf, type ClusterStatus} from './status.js';

export type {NodeLoad, NodeUsage, ServerUsage} from './node-stats.js';

/**
 * What the dashboard shows, collected live on every refresh: the machines
 * (from the provider), Swarm's nodes, services and tasks and the manager's
 * own figures (one SSH command on the manager), every other node's CPU,
 * memory and database server (one SSH command each), and the database's
 * health over one driver connection kept open between refreshes.
 */

interface TaskView {
	name: string;
	node: string;
	desiredState: string;
	/** As Docker words it: `Running 2 minutes ago`, `Failed 10 seconds ago`. */
	currentState: string;
	error: string;
}

export interface ServiceView {
	name: string;
	/** `replicated` or `global`. */
	mode: string;
	/** Docker's own `running/desired` (as `docker service ls` says it; may lag). */
	replicas: string;
	image: string;
	ports: string;
	/** Current tasks (history entries left out). */
	tasks: TaskView[];
	/** Tasks in the history Docker keeps that failed or were rejected, and the newest such error. */
	failures: number;
	lastError: string;
	/** Counted from the tasks themselves, so the line never says `1/1` beside `0 running`. */
	running: number;
	desired: number;
	/** Nodes of tasks that should run and do not. */
	notRunningOn: string[];
	/** The node a per-node database server is pinned to (`swarmbee_rdb-<node>`). */
	serverOf?: string;
}

export interface DashboardSnapshot {
	status: ClusterStatus;
	/** The headline: from the nodes, services and database just asked, never the journal's last run. */
	health: LiveHealth;
	/** null when no manager answered. */
	services: ServiceView[] | null;
	/** Per node; null where the node did not answer (or is not running). */
	usage: Record<string, NodeUsage | null>;
	/** How the node figures were read: a container's (local: load is this machine's) or a machine's. */
	scope: StatsScope;
	/** Each database server's memory limit (the spec's), bytes. */
	memoryLimitBytes?: number;
	/** When it was collected (ISO time). */
	at: string;
	errors: ErrorInfo[];
	/** SSH commands this refresh ran (the bench counts them). */
	roundTrips: number;
}

export const serviceListCommand = shellCommand(['docker', 'service', 'ls', '--format', '{{json .}}']);

/** Every service's tasks in one call; prints nothing when there are no services. */
export const serviceTasksCommand = `ids=$(docker service ls -q); [ -z "$ids" ] || docker service ps --no-trunc --format ${shellCommand(['{{json .}}'])} $ids`;

/** The manager's one command per refresh: Swarm's nodes, services and tasks, then its own figures. */
export function managerCommand(scope: StatsScope): string {
	return [
		// A node that is no manager (any more) cannot list the swarm: said in its own section.
		"echo '@@swarmbee nodes'",
		`${nodeListCommand} || echo '@@swarmbee swarm-refused'`,
		"echo '@@swarmbee services'",
		serviceListCommand,
		"echo '@@swarmbee tasks'",
		serviceTasksCommand,
		nodeStatsCommand(scope),
	].join('\n');
}

interface DockerService {
	ID: string;
	Name: string;
	Mode: string;
	Replicas: string;
	Image: string;
	Ports: string;
}
interface DockerTask {
	ID: string;
	Name: string;
	Node: string;
	DesiredState: string;
	CurrentState: string;
	Error: string;
}

const SERVER_SERVICE = /^swarmbee_rdb-(.+)$/;

/**
 * `docker service ls` and `docker service ps` JSON lines → services with
 * their current tasks. A task counts as running only on a node Swarm has
 * Ready (`ready`, when given): a task on a node that went away keeps saying
 * "Running" until the manager hears otherwise.
 */
export function parseServices(servicesText: string, tasksText: string, ready?: ReadonlySet<string>): ServiceView[] {
	// In table form history entries are printed as ` \_ web.1`; in JSON they repeat the slot's name.
	const slotOf = (t: DockerTask) => t.Name.replace(/^\s*\\_\s*/, '');
	// `{{json .}}` writes a task's Error quoted ("\"task: non-zero exit (1)\"").
	const all = parseJsonLines<DockerTask>(tasksText).map(t => ({
		...t,
		Error: (t.Error ?? '').replace(/^"(.*)"$/, '$1'),
	}));
	// Docker lists each slot's tasks newest first: the first is current, the rest history.
	const slots = new Set<string>();
	const current = all.filter(t => !slots.has(slotOf(t)) && Boolean(slots.add(slotOf(t))));
	const failed = all.filter(t => /^(Failed|Rejected)\b/.test(t.CurrentState));
	return parseJsonLines<DockerService>(servicesText)
		.map(s => {
			const belongs = (t: DockerTask) => slotOf(t) === s.Name || slotOf(t).startsWith(`${s.Name}.`);
			const failures = failed.filter(belongs);
			const tasks = current.filter(belongs);
			const wanted = tasks.filter(t => t.DesiredState === 'Running');
			const isRunning = (t: DockerTask) => t.CurrentState.startsWith('Running') && (!ready || ready.has(t.Node));
			const serverOf = SERVER_SERVICE.exec(s.Name)?.[1];
			return {
				name: s.Name,
				mode: s.Mode,
				replicas: s.Replicas,
				image: s.Image.replace(/@sha256:[0-9a-f]+$/, ''),
				ports: s.Ports ?? '',
				tasks: tasks.map(t => ({
					name: t.Name,
					node: t.Node,
					desiredState: t.DesiredState,
					currentState: t.CurrentState,
					error: t.Error,
				})),
				failures: failures.length,
				lastError: failures.find(t => t.Error)?.Error ?? '',
				running: wanted.filter(isRunning).length,
				// A pinned server whose node is gone still wants its one task.
				desired: Math.max(wanted.length, serverOf ? 1 : 0),
				notRunningOn:
					wanted.length === 0 && serverOf
						? [serverOf]
						: wanted.filter(t => !isRunning(t)).map(t => t.Node || serverOf || '?'),
				...(serverOf ? {serverOf} : {}),
			};
		})
		.sort((a, b) => a.name.localeCompare(b.name));
}

/** A logs view for the dashboard's `l` key: what it shows and where it came from. */
export interface LogExcerpt {
	title: string;
	/** The command or file it is read from, so the user can look further. */
	source: string;
	lines: string[];
}

/** What the dashboard acts on: a node's row or a service's (a database server is both). */
export type DashboardTarget = {kind: 'node'; node: string} | {kind: 'service'; service: string; node?: string};

interface DashboardSource {
	/** One snapshot; never throws for a node or manager that does not answer (that is in `errors`). */
	load(signal?: AbortSignal): Promise<DashboardSnapshot>;
	/** The `l` key's excerpt: `swarmbee logs` of a service or node, as one read. */
	logs(target: DashboardTarget, signal?: AbortSignal): Promise<LogExcerpt>;
	/** How many SSH commands have run so far (bench/dashboard-idle). */
	readonly roundTrips: number;
	close(): Promise<void>;
}

/** How long one node may take to answer a refresh before it counts as not answering. */
const NODE_TIMEOUT_MS = 10_000;

/**
 * A billed cloud's machine list is an API request from the token's hourly
 * budget (DigitalOcean: 5,000 an hour, shared by every program on the
 * token), and SSH already tells what runs: the list is asked every 5
 * minutes, and when a node does not answer over SSH at most once a minute,
 * so an open dashboard costs at most 60 requests an hour (12 while every
 * node answers). A local engine's list costs nothing and is asked each time.
 */
export const MACHINES_EVERY_MS = 5 * 60_000;
export const MACHINES_AFTER_SILENCE_MS = 60_000;

/**
 * The database's health over one driver connection kept between refreshes
 * (a new one costs SSH round-trips to find the server and open a forward).
 * A query that fails or hangs closes it, and the same refresh tries once
 * more from scratch: a server that went away is replaced by the next one.
 */
class DatabaseWatch {
	private session?: DatabaseSession;

	async health(input: {
		ssh: SshPool;
		manager: string;
		nodes: string[];
		password: string;
		signal?: AbortSignal;
		replicas?: number;
		tls?: DriverTls;
	}): Promise<RethinkdbHealth> {
		for (let attempt = 0; ; attempt++) {
			try {
				this.session ??= await openDatabase({...input, timeoutSeconds: 8});
				// With the replication policy (--replicas), so each table says whether it is under-replicated.
				return await withTimeout(
					queryHealth(this.session.connection, input.nodes, input.replicas),
					NODE_TIMEOUT_MS,
					() => new ExternalError('the database did not answer within 10 s'),
				);
			} catch (error) {
				await this.close();
				if (attempt >= 1 || input.signal?.aborted) return noServerAnswers(input.nodes, error as Error);
			}
		}
	}

	async close(): Promise<void> {
		const session = this.session;
		this.session = undefined;
		await session?.close().catch(() => {});
	}
}

/**
 * Collects dashboard snapshots for a cluster, keeping one SSH connection per
 * node and one database connection open between refreshes. Per refresh: one
 * provider listing, one SSH command per running node, a few database queries
 * over the open connection.
 */
export function createDashboardSource(input: {
	spec: ClusterSpec;
	journal: Readonly<Journal>;
	provider: Provider;
	/** The session's SSH pool (absent before the cluster has a key: nothing can be asked over SSH). */
	ssh?: SshPool;
	password?: string;
	/** Where the nodes' provision logs are (the `l` key on a node). */
	logsDir?: string;
	/** The clock that spaces the machine lists (bench/dashboard-idle runs an hour on its own). */
	now?: () => number;
	/**
	 * The journal as it is now and the command holding the cluster's lock,
	 * read on every refresh: a scale run elsewhere (or interrupted) is shown.
	 */
	current?: () => {journal?: Readonly<Journal>; running?: string};
}): DashboardSource {
	const {journal, spec, provider, password} = input;
	const pool = input.ssh;
	const scope: StatsScope = provider.capabilities.sharesHostCpus ? 'container' : 'machine';
	const samples = new Map<string, NodeSample>();
	const database = new DatabaseWatch();
	const now = input.now ?? Date.now;
	const metered = provider.capabilities.billed !== undefined;
	let listed: {machines: Awaited<ReturnType<Provider['listMachines']>>; at: number} | undefined;
	/** Whether a running node did not answer over SSH last time: then the provider is asked sooner. */
	let silent = false;
	let roundTrips = 0;
	const ask = async (node: string, command: string, signal?: AbortSignal) => {
		if (!pool) throw new Error('no cluster key to reach the nodes with');
		roundTrips++;
		const bounded = signal
			? AbortSignal.any([signal, AbortSignal.timeout(NODE_TIMEOUT_MS)])
			: AbortSignal.timeout(NODE_TIMEOUT_MS);
		try {
			return (await (await pool.get(node, bounded)).exec(command, {signal: bounded})).stdout;
		} catch (error) {
			// A dead connection is dropped so the next refresh reconnects; a refresh the caller gave up on
			// (r pressed again, quitting) says nothing against the connection, which stays for the next one.
			if (!signal?.aborted) pool.drop(node);
			if (bounded.aborted && !signal?.aborted)
				throw new ExternalError(`${node} did not answer within ${NODE_TIMEOUT_MS / 1000} s`, {node});
			throw error;
		}
	};
	const usageOf = (node: string, text: string): NodeUsage => {
		const sample = parseNodeStats(text, scope, node);
		const usage = nodeUsage(samples.get(node), sample);
		samples.set(node, sample);
		return usage;
	};
	return {
		get roundTrips() {
			return roundTrips;
		},
		async load(signal) {
			const started = roundTrips;
			const errors: ErrorInfo[] = [];
			const age = listed ? now() - listed.at : Number.POSITIVE_INFINITY;
			if (!metered || age >= MACHINES_EVERY_MS || (silent && age >= MACHINES_AFTER_SILENCE_MS))
				listed = {machines: await provider.listMachines({spec, owner: journal.owner, signal}), at: now()};
			const machines = listed?.machines ?? [];
			const running = new Set(machines.filter(m => m.status === 'running').map(m => m.name));
			const reachable = journal.nodes.filter(n => running.has(n.name) && n.ssh);
			const managers = reachable.filter(n => n.role === 'manager');
			const usage: Record<string, NodeUsage | null> = Object.fromEntries(journal.nodes.map(n => [n.name, null]));

			// The first manager that answers speaks for Swarm; it also reports its own figures.
			const fromManager = (async () => {
				for (const manager of managers) {
					try {
						const text = await ask(manager.name, managerCommand(scope), signal);
						// The figures' sections are read by name; Swarm's are skipped there. A manager after the first
						// is asked for its figures with the other nodes: read here too, its CPU would compare two
						// samples taken moments apart (and the next refresh's, one of them).
						if (manager === managers[0]) usage[manager.name] = usageOf(manager.name, text);
						const sections = splitSections(text);
						if (sections.has('swarm-refused'))
							throw new ExternalError(
								`${manager.name} could not list the swarm's nodes (is it still a manager with a quorum?)`,
								{node: manager.name, nextSteps: [`look on ${manager.name}: docker node ls`]},
							);
						return {manager: manager.name, sections};
					} catch (error) {
						errors.push(errorInfo(error));
					}
				}
				return undefined;
			})();
			// Every node but the first manager (whose figures come with Swarm's) answers the figures' command.
			const others = reachable.filter(n => n.name !== managers[0]?.name);
			const fromNodes = Promise.all(
				others.map(async node => {
					try {
						usage[node.name] = usageOf(node.name, await ask(node.name, nodeStatsCommand(scope), signal));
					} catch {
						// The node's row says it is not answering; the headline names it.
					}
				}),
			);
			const answered = await fromManager;
			const members = answered ? parseJsonLines<SwarmNode>(answered.sections.get('nodes') ?? '') : undefined;
			if (members) errors.length = 0;
			const rethinkdb =
				answered && password && journal.database && pool
					? await database.health({
							ssh: pool,
							manager: answered.manager,
							nodes: journal.nodes.map(n => n.name),
							password,
							signal,
							replicas: spec.replicas,
							...driverTlsOf(journal),
						})
					: null;
			await fromNodes;
			const ready = new Set((members ?? []).filter(m => m.Status === 'Ready').map(m => m.Hostname));
			const services = answered
				? parseServices(answered.sections.get('services') ?? '', answered.sections.get('tasks') ?? '', ready)
				: null;
			silent =
				!answered ||
				reachable.length < journal.nodes.length ||
				reachable.some(n => usage[n.name] === null || usage[n.name] === undefined);
			const current = input.current?.();
			const status = statusOf({
				spec,
				journal: current?.journal ?? journal,
				machines,
				members,
				rethinkdb,
				errors,
				running: current?.running,
			});
			// A node that runs but did not answer the figures' command is not ready, whatever Swarm last heard.
			for (const node of status.nodes) {
				if (
					node.state === 'ready' &&
					node.machine === 'running' &&
					usage[node.name] === null &&
					reachable.some(n => n.name === node.name)
				)
					node.state = 'not answering';
			}
			return {
				status,
				health: assessHealth({nodes: status.nodes, swarm: status.swarm, services, rethinkdb}),
				services,
				usage,
				scope,
				...(spec.database === 'none' ? {} : {memoryLimitBytes: spec.memoryLimitBytes}),
				at: new Date().toISOString(),
				errors,
				roundTrips: roundTrips - started,
			};
		},
		async logs(target, signal) {
			if (!pool) throw new Error('no cluster key to reach the nodes with');
			// `swarmbee logs`'s reader (issue 14), over the dashboard's own connections.
			const lines: string[] = [];
			await readLogs({
				journal,
				logsDir: input.logsDir ?? '',
				ssh: pool,
				lines: 200,
				follow: false,
				signal,
				targets: [
					target.kind === 'service' ? {kind: 'service', service: target.service} : {kind: 'node', node: target.node},
				],
				onLine: line => lines.push(line.text),
			});
			const what = target.kind === 'service' ? target.service : target.node;
			return {
				title: target.kind === 'service' ? `logs of ${what}` : `logs of ${what}: provisioning, then the system's`,
				source: `swarmbee logs ${journal.cluster} ${what}`,
				lines,
			};
		},
		/** The database connection it kept; the SSH connections are the session's, closed with it. */
		async close() {
			await database.close();
		},
	};
}

/**
 * What the dashboard's keys do to the selected row, handed in by the command
 * that opens it (the seam for `swarmbee ssh` / `swarmbee logs`, issue 14):
 * `logs` fills the `l` overlay; `ssh`, when given, gets the terminal (the
 * dashboard steps aside until it returns) and adds `s` to the footer.
 */
export interface DashboardActions {
	logs(target: DashboardTarget, signal: AbortSignal): Promise<LogExcerpt>;
	ssh?(target: DashboardTarget): Promise<void>;
}
