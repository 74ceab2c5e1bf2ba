import {pause, pollUntil} from '../concurrency.js';
import {CancelledError, ExternalError, isAbort} from '../errors.js';
import {shellCommand} from '../shell.js';
import type {NodeShells, RemoteShell} from '../ssh/shell.js';
import type {NodeActivity} from '../states.js';
import {nodeListCommand, parseJsonLines, type SwarmNode} from './swarm.js';

/**
 * What a node goes through when swarmbee restarts, stops or upgrades it, as
 * small functions over SSH (the machine itself is the provider's, handed in
 * as a callback, so this folder stays below providers/):
 *
 *     drain     Swarm stops its tasks and places the app's elsewhere
 *               (`docker node update --availability drain`, moby's own way;
 *               swarmbee waits until the node's containers are gone, which
 *               Swarm does not: moby#33220), so nothing dies mid-request
 *     (change)  reboot, shut down, upgrade packages…
 *     back      SSH answers with the node's key, Swarm counts it Ready
 *     activate  `--availability active`: its tasks come back (its database
 *               server first among them: it is pinned there)
 */

/**
 * The order a change of every node goes in: every worker in turn, then the
 * managers (the swarm's control plane is away the shortest while).
 */
export function rollingOrder(nodes: ReadonlyArray<{name: string; role: string; index: number}>): string[] {
	const workers = nodes.filter(n => n.role !== 'manager').sort((a, b) => a.index - b.index);
	const managers = nodes.filter(n => n.role === 'manager').sort((a, b) => a.index - b.index);
	return [...workers, ...managers].map(n => n.name);
}

/** `docker node update --availability active|drain`. */
export function availabilityCommand(nodeId: string, availability: 'active' | 'drain'): string {
	return shellCommand(['docker', 'node', 'update', '--availability', availability, nodeId]);
}

/**
 * Runs a Swarm update again when Swarm answers "update out of sequence":
 * it updates an object (a node, a service) by its version and refuses when
 * the object changed in between (a rejoining node reports its status, a
 * service's previous update records its state). Asked again, the CLI reads
 * the new version. Any other failure, or the last attempt's, is thrown.
 */
export async function outOfSequenceAgain<T>(
	update: () => Promise<T>,
	options: {signal?: AbortSignal; attempts?: number; pauseMs?: number} = {},
): Promise<T> {
	const attempts = options.attempts ?? 10;
	for (let attempt = 1; ; attempt++) {
		try {
			return await update();
		} catch (error) {
			if (attempt >= attempts || !/update out of sequence/i.test((error as Error).message)) throw error;
			await pause((options.pauseMs ?? 500) * attempt, options.signal);
		}
	}
}

/** Sets a node's Swarm availability through a manager (asked again while Swarm says "update out of sequence"). */
export async function setAvailability(
	manager: Pick<RemoteShell, 'run'>,
	nodeId: string,
	availability: 'active' | 'drain',
	options: {signal?: AbortSignal; attempts?: number; pauseMs?: number} = {},
): Promise<void> {
	await outOfSequenceAgain(
		() => manager.run(availabilityCommand(nodeId, availability), {signal: options.signal}),
		options,
	);
}

/** Containers Swarm runs on this node (its tasks), counted on the node itself. */
export const swarmContainersCommand = "docker ps -q --filter label=com.docker.swarm.task.id | wc -l | tr -d ' '";

export interface NodeOps {
	ssh: NodeShells;
	/** The cluster's managers in order; the first that answers and is not the node in hand is asked. */
	managers: readonly string[];
	signal: AbortSignal;
	/** What the node is doing (the step's io.node(name).state). */
	say: (node: string, state: NodeActivity, detail?: string) => void;
}

/**
 * A manager to ask about `node`: another one when there is one that
 * answers (a manager cannot drain itself and then answer for the swarm
 * while it reboots), else `node` itself.
 */
export async function managerFor(ops: NodeOps, node: string, signal = ops.signal): Promise<RemoteShell> {
	for (const manager of ops.managers.filter(m => m !== node)) {
		try {
			return await ops.ssh.get(manager, signal);
		} catch (error) {
			if (isAbort(error, signal)) throw new CancelledError();
		}
	}
	return ops.ssh.get(node, signal);
}

/** The node's entry in `docker node ls`, asked of a manager. */
export async function swarmMember(
	manager: RemoteShell,
	swarmNodeId: string,
	signal?: AbortSignal,
): Promise<SwarmNode | undefined> {
	return parseJsonLines<SwarmNode>(await manager.run(nodeListCommand, {signal})).find(m => m.ID === swarmNodeId);
}

/**
 * Drains the node and waits until its containers are gone (each task's stop
 * grace period: a database server's is 30 s), at most `timeoutMs`.
 */
export async function drainNode(
	ops: NodeOps,
	node: {name: string; swarmNodeId?: string},
	options: {timeoutMs?: number} = {},
): Promise<void> {
	if (!node.swarmNodeId) return;
	ops.say(node.name, 'draining', "moving the app's tasks elsewhere");
	const manager = await managerFor(ops, node.name);
	// Asked to its end whatever Ctrl-C says: a drain cut off in flight could still land after a check that found none.
	await setAvailability(manager, node.swarmNodeId, 'drain', {signal: new AbortController().signal});
	await waitUntilDrained(ops, node, options);
}

/**
 * A drain Swarm has begun, seen to its end (a Ctrl-C mid-drain): its tasks,
 * the database server among them, are stopped before the node is made
 * active again, so none is left stopping after the run (and a server is
 * waited for as it comes back, never counted back while it stops).
 */
export async function finishDrain(
	ops: NodeOps,
	node: {name: string; swarmNodeId?: string},
	options: {timeoutMs?: number} = {},
): Promise<void> {
	if (!node.swarmNodeId) return;
	const member = await swarmMember(await managerFor(ops, node.name), node.swarmNodeId, ops.signal);
	if (member?.Availability.toLowerCase() === 'drain') await waitUntilDrained(ops, node, options);
}

async function waitUntilDrained(ops: NodeOps, node: {name: string}, options: {timeoutMs?: number}): Promise<void> {
	const {signal} = ops;
	const shell = await ops.ssh.get(node.name, signal);
	const polled = await pollUntil(
		async () => Number((await shell.run(swarmContainersCommand, {signal})).trim()),
		left => left === 0,
		{intervalMs: 1_000, timeoutMs: options.timeoutMs ?? 90_000, signal},
	);
	if (!polled.met)
		ops.say(
			node.name,
			'draining',
			`${polled.last} task container(s) still stopping: going on (they stop with the node)`,
		);
}

/** Sets the node active again, so Swarm runs its tasks there. */
export async function activateNode(
	ops: NodeOps,
	node: {name: string; swarmNodeId?: string},
	signal = ops.signal,
): Promise<void> {
	if (!node.swarmNodeId) return;
	const manager = await managerFor(ops, node.name, signal);
	const member = await swarmMember(manager, node.swarmNodeId, signal);
	if (member && member.Availability.toLowerCase() !== 'active')
		await setAvailability(manager, node.swarmNodeId, 'active', {signal});
}

/**
 * Waits until the node answers SSH with its key and Swarm counts it Ready
 * (`timeoutMs` each). The SSH connection is new: the pool's old one died
 * with the reboot.
 */
export async function waitForNodeBack(
	ops: NodeOps,
	node: {name: string; swarmNodeId?: string},
	options: {signal: AbortSignal; timeoutMs?: number},
): Promise<RemoteShell> {
	const {signal} = options;
	const timeoutMs = options.timeoutMs ?? 300_000;
	ops.say(node.name, 'booting', 'waiting for SSH');
	ops.ssh.drop(node.name);
	const shell = await ops.ssh.waitFor(node.name, {signal, timeoutMs});
	const swarmNodeId = node.swarmNodeId;
	if (!swarmNodeId) return shell;
	ops.say(node.name, 'joining', 'SSH ok; waiting for Swarm to count it Ready');
	const polled = await pollUntil(
		async () => {
			try {
				return await swarmMember(await managerFor(ops, node.name, signal), swarmNodeId, signal);
			} catch (error) {
				// A manager that rebooted answers docker only once its engine is up.
				if (isAbort(error, signal)) throw error;
				return undefined;
			}
		},
		member => member?.Status.toLowerCase() === 'ready',
		{intervalMs: 1_000, timeoutMs, signal},
	);
	if (!polled.met)
		throw new ExternalError(`${node.name} answers SSH but Swarm does not count it Ready`, {
			node: node.name,
			hint: polled.last ? `its status: ${polled.last.Status}` : 'no manager answered for it',
			nextSteps: [`look at it: swarmbee ssh NAME ${node.name} -- docker info`, 'then run the same command again'],
		});
	return shell;
}
