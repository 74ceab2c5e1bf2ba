import {
	parseProbeFetch, probeFetchCommand, probeServiceCreateCommand, probeServiceRemoveCommand, probeTasksCommand, type ProbeTask,
} from '../source/cluster/probe.js';
import {sideLoadImage} from '../source/cluster/side-load.js';
import {nodeListCommand, parseJsonLines, type SwarmNode} from '../source/cluster/swarm.js';
import {onEveryNode, pause} from '../source/concurrency.js';
import {ensureImage, packagedImage} from '../source/docker/images.js';
import {ExternalError} from '../source/errors.js';
import {event} from '../source/events.js';
import {describeHealth, waitForHealthy} from './deploy.js';
import type {ClusterContext, Step, StepIO} from './types.js';


/**
 * Proves the cluster works, not just that it was asked to: every node Ready,
 * and real traffic between every pair of nodes over the overlay, by name.
 */
export const verifyStep: Step = {
	id: 'verify',
	title: 'Verify',
	async run(ctx, io) {
		const {journal, ssh, docker} = ctx;
		const {signal} = io;
		const nodes = journal.value.nodes;
		const manager = await ssh.get(nodes[0]!.name, signal);

		const members = parseJsonLines<SwarmNode>(await manager.run(nodeListCommand, {signal}));
		const notReady = nodes.filter(n => members.find(m => m.ID === n.swarmNodeId)?.Status !== 'Ready');
		if (notReady.length > 0) throw new ExternalError(`${notReady.map(n => n.name).join(', ')} not Ready in the swarm`, {nextSteps: [`run swarmbee up ${ctx.spec.name} again`]});
		io.emit(event({type: 'step-progress', step: 'verify', message: `${nodes.length} of ${nodes.length} nodes Ready`}));

		const image = await ensureImage(docker, packagedImage('probe'), {signal});
		const loaded = await sideLoadImage(docker, ssh, nodes, image, {signal, onProgress: (node, message) => io.emit(event({type: 'node-state', node, state: 'running', detail: message}))});
		if (loaded.loaded.length > 0) io.emit(event({type: 'step-progress', step: 'verify', message: `probe image side-loaded into ${loaded.loaded.length} node(s)`}));

		await manager.run(probeServiceRemoveCommand, {signal});
		try {
			await manager.run(probeServiceCreateCommand(image.tag), {signal});
			await waitForProbeTasks(ctx, io, nodes.length);
			const pairs = await checkEveryPair(ctx, io);
			const database = ctx.spec.database === 'none' ? '' : `; RethinkDB ${describeHealth(await waitForHealthy(ctx, io, 'verify', 120_000))}`;
			journal.update(j => {
				j.verifiedAt = new Date().toISOString();
			});
			return {changed: false, summary: `${nodes.length} nodes Ready; ${pairs} node-to-node requests over the overlay answered${database}`};
		} finally {
			// Leave nothing behind, even on failure or Ctrl-C.
			await manager.exec(probeServiceRemoveCommand).catch(() => {});
		}
	},
};

async function waitForProbeTasks(ctx: ClusterContext, io: StepIO, expected: number, timeoutMs = 90_000): Promise<void> {
	const manager = await ctx.ssh.get(ctx.journal.value.nodes[0]!.name, io.signal);
	const deadline = Date.now() + timeoutMs;
	let tasks: ProbeTask[] = [];
	while (Date.now() < deadline) {
		tasks = parseJsonLines<ProbeTask>(await manager.run(probeTasksCommand, {signal: io.signal}));
		const running = tasks.filter(t => t.CurrentState.startsWith('Running'));
		if (running.length >= expected) return;
		await pause(500, io.signal);
	}
	const errors = [...new Set(tasks.map(t => t.Error).filter(Boolean))];
	throw new ExternalError(`the probe service did not start on every node within ${timeoutMs / 1000} s`, {
		hint: errors.join('; ') || `${tasks.filter(t => t.CurrentState.startsWith('Running')).length} of ${expected} tasks running`,
		nextSteps: ['check `docker service ps swarmbee-probe` on queenbee while it runs', 'run swarmbee up again'],
	});
}

/** From every node, fetch every node's probe task by name; DNS may lag a little at first. */
async function checkEveryPair(ctx: ClusterContext, io: StepIO, timeoutMs = 60_000): Promise<number> {
	const nodes = ctx.journal.value.nodes;
	const names = nodes.map(n => n.name);
	let answered = 0;
	await onEveryNode('cross-host traffic', nodes, async node => {
		const connection = await ctx.ssh.get(node.name, io.signal);
		const deadline = Date.now() + timeoutMs;
		let missing: string[] = names;
		while (Date.now() < deadline) {
			const result = await connection.exec(probeFetchCommand(), {signal: io.signal});
			const {reached} = parseProbeFetch(result.stdout);
			missing = names.filter(name => !reached.includes(name));
			if (missing.length === 0) {
				answered += names.length;
				io.emit(event({type: 'node-state', node: node.name, state: 'ready', detail: `reached all ${names.length} nodes over the overlay`}));
				return;
			}
			await pause(1_000, io.signal);
		}
		throw new ExternalError(`${node.name} could not reach ${missing.join(', ')} over the overlay`, {
			node: node.name,
			hint: 'Swarm joined, but VXLAN traffic (4789/udp) or gossip (7946) between the private addresses does not get through.',
			nextSteps: ['check firewalls between the nodes\' private addresses', 'an encrypted overlay needs ESP (IP protocol 50) allowed too'],
		});
	}, {signal: io.signal});
	return answered;
}
