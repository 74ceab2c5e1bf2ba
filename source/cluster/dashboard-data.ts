import {errorInfo, type ErrorInfo} from '../errors.js';
import type {Provider} from '../providers/types.js';
import {shellCommand} from '../shell.js';
import type {ClusterSpec} from '../spec.js';
import {SshPool} from '../ssh/pool.js';
import type {Journal} from '../store/journal.js';
import {parseJsonLines} from './swarm.js';
import {collectStatus, type ClusterStatus} from './status.js';
import {sshTarget} from './targets.js';

/**
 * What the dashboard shows beyond `collectStatus`: Swarm services with
 * their tasks (asked of a manager) and each node's load average. Kept apart
 * from status.ts so `status --once` stays one quick question per manager.
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
	/** Running of desired, e.g. `4/4`. */
	replicas: string;
	image: string;
	ports: string;
	/** Current tasks (history entries left out). */
	tasks: TaskView[];
	/** Tasks in the history Docker keeps that failed or were rejected, and the newest such error. */
	failures: number;
	lastError: string;
}

export interface NodeLoad {
	load1: number;
	load5: number;
	load15: number;
}

export interface DashboardSnapshot {
	status: ClusterStatus;
	/** null when no manager answered. */
	services: ServiceView[] | null;
	/** Per node; null where the node did not answer. */
	load: Record<string, NodeLoad | null>;
	/** When it was collected (ISO time). */
	at: string;
	errors: ErrorInfo[];
}

export const serviceListCommand = shellCommand(['docker', 'service', 'ls', '--format', '{{json .}}']);

/** Every service's tasks in one call; prints nothing when there are no services. */
export const serviceTasksCommand = `ids=$(docker service ls -q); [ -z "$ids" ] || docker service ps --no-trunc --format ${shellCommand(['{{json .}}'])} $ids`;

export const loadAverageCommand = shellCommand(['cat', '/proc/loadavg']);

interface DockerService {ID: string; Name: string; Mode: string; Replicas: string; Image: string; Ports: string}
interface DockerTask {ID: string; Name: string; Node: string; DesiredState: string; CurrentState: string; Error: string}

/** `docker service ls` and `docker service ps` JSON lines → services with their current tasks. */
export function parseServices(servicesText: string, tasksText: string): ServiceView[] {
	// In table form history entries are printed as ` \_ web.1`; in JSON they repeat the slot's name.
	const slotOf = (t: DockerTask) => t.Name.replace(/^\s*\\_\s*/, '');
	// `{{json .}}` writes a task's Error quoted ("\"task: non-zero exit (1)\"").
	const all = parseJsonLines<DockerTask>(tasksText).map(t => ({...t, Error: (t.Error ?? '').replace(/^"(.*)"$/, '$1')}));
	// Docker lists each slot's tasks newest first: the first is current, the rest history.
	const slots = new Set<string>();
	const current = all.filter(t => !slots.has(slotOf(t)) && Boolean(slots.add(slotOf(t))));
	const failed = all.filter(t => /^(Failed|Rejected)\b/.test(t.CurrentState));
	return parseJsonLines<DockerService>(servicesText)
		.map(s => {
			const belongs = (t: DockerTask) => slotOf(t) === s.Name || slotOf(t).startsWith(`${s.Name}.`);
			const failures = failed.filter(belongs);
			return {
				name: s.Name,
				mode: s.Mode,
				replicas: s.Replicas,
				image: s.Image.replace(/@sha256:[0-9a-f]+$/, ''),
				ports: s.Ports ?? '',
				tasks: current.filter(belongs).map(t => ({name: t.Name, node: t.Node, desiredState: t.DesiredState, currentState: t.CurrentState, error: t.Error})),
				failures: failures.length,
				lastError: failures.find(t => t.Error)?.Error ?? '',
			};
		})
		.sort((a, b) => a.name.localeCompare(b.name));
}

/** `/proc/loadavg` → the three load averages. */
export function parseLoadAverage(text: string): NodeLoad | null {
	const [load1, load5, load15] = text.trim().split(/\s+/).map(Number);
	if (![load1, load5, load15].every(n => Number.isFinite(n))) return null;
	return {load1: load1!, load5: load5!, load15: load15!};
}

interface DashboardSource {
	/** One snapshot; never throws for a node or manager that does not answer (that is in `errors`). */
	load(signal?: AbortSignal): Promise<DashboardSnapshot>;
	close(): void;
}

/**
 * Collects dashboard snapshots for a cluster, keeping one SSH connection per
 * node open between refreshes.
 */
export function createDashboardSource(input: {spec: ClusterSpec; journal: Readonly<Journal>; provider: Provider; privateKey?: string; password?: string}): DashboardSource {
	const {journal, privateKey, spec, provider, password} = input;
	const pool = privateKey ? new SshPool(node => sshTarget(journal, node, privateKey)) : undefined;
	const ask = async (node: string, command: string, signal?: AbortSignal) => {
		if (!pool) throw new Error('no cluster key to reach the nodes with');
		try {
			return await (await pool.get(node, signal)).run(command, {signal});
		} catch (error) {
			// A dead connection is dropped so the next refresh reconnects.
			pool.drop(node);
			throw error;
		}
	};
	return {
		async load(signal) {
			const status = await collectStatus({spec, journal, provider, ssh: pool, password, signal});
			const errors: ErrorInfo[] = [];
			const running = status.nodes.filter(n => n.machine === 'running');
			const managers = running.filter(n => n.role === 'manager' && n.state === 'ready');
			let services: ServiceView[] | null = null;
			for (const manager of managers) {
				try {
					const [list, tasks] = await Promise.all([ask(manager.name, serviceListCommand, signal), ask(manager.name, serviceTasksCommand, signal)]);
					services = parseServices(list, tasks);
					break;
				} catch (error) {
					errors.push(errorInfo(error));
				}
			}
			const load: Record<string, NodeLoad | null> = {};
			await Promise.all(status.nodes.map(async node => {
				load[node.name] = null;
				if (node.machine !== 'running') return;
				try {
					load[node.name] = parseLoadAverage(await ask(node.name, loadAverageCommand, signal));
				} catch {
					// The node's row already says it is not reachable.
				}
			}));
			return {status, services, load, at: new Date().toISOString(), errors};
		},
		close() {
			pool?.closeAll();
		},
	};
}
