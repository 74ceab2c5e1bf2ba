import {randomUUID} from 'node:crypto';
import {PassThrough} from 'node:stream';
import {
	describeHealth,
	lastingUnavailableTables,
	tablesUnavailableError,
	waitForHealthy,
} from '../source/database/health.js';
import {ensurePassword} from '../source/database/password.js';
import {driverTlsOf} from '../source/database/rethinkdb.js';
import {
	parseProbeFetch,
	probeFetchCommand,
	probeGuardCommand,
	probeServiceCreateCommand,
	probeServiceRemoveCommand,
	probeTasksCommand,
	type ProbeTask,
} from '../source/nodes/probe.js';
import {sideLoadImage} from '../source/nodes/side-load.js';
import {nodeListCommand, parseJsonLines, type SwarmNode} from '../source/nodes/swarm.js';
import {onEveryNode, pollUntil} from '../source/concurrency.js';
import {ensureImage, packagedImage} from '../source/docker/images.js';
import {ExternalError} from '../source/errors.js';
import type {RemoteShell} from '../source/ssh/shell.js';
import {liveNodes} from '../source/store/journal.js';
import type {ClusterContext, Step, StepIO} from './types.js';
import {firstNode} from '../source/store/nodes.js';

type VerifyContext = Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'docker' | 'ssh' | 'lastRun' | 'options'>;

/**
 * Proves the cluster works, not just that it was asked to: every node Ready,
 * and real traffic between every pair of nodes over the overlay, by name.
 *
 * When the run before ended ready (so its verify passed) and no step of
 * this run changed anything, the overlay traffic is not probed again: a
 * no-op `up` checks that every node is Ready (and the database healthy) and
 * says when traffic was last proved. `up --reprovision` probes it anyway.
 */
export const verifyStep: Step<VerifyContext> = {
	id: 'verify',
	title: 'Verify',
	async run(ctx, io) {
		const {journal, ssh} = ctx;
		const {signal} = io;
		const nodes = journal.value.nodes;
		const manager = await ssh.get(firstNode(journal.value).name, signal);

		const members = parseJsonLines<SwarmNode>(await manager.run(nodeListCommand, {signal}));
		const notReady = nodes.filter(n => members.find(m => m.ID === n.swarmNodeId)?.Status !== 'Ready');
		if (notReady.length > 0)
			throw new ExternalError(`${notReady.map(n => n.name).join(', ')} not Ready in the swarm`, {
				nextSteps: [`run swarmbee up ${ctx.spec.name} again`],
			});
		io.progress(`${nodes.length} of ${nodes.length} nodes Ready`);

		const proved = journal.value.verifiedAt;
		const unchanged =
			ctx.lastRun === 'ready' &&
			proved !== undefined &&
			io.earlier.every(step => !step.changed) &&
			!ctx.options.reprovision;
		if (unchanged) {
			const database = await databaseHealth(ctx, io);
			return {
				changed: false,
				summary: `${nodes.length} nodes Ready${database}; overlay traffic proved ${proved}, nothing changed since (--reprovision proves it again)`,
			};
		}

		const image = await ensureImage(ctx.docker, packagedImage('probe'), {signal});
		const loaded = await sideLoadImage(ctx.docker, ssh, nodes, image, {
			signal,
			onProgress: (node, message, done) => io.node(node).state(done ? 'running' : 'loading', message),
		});
		if (loaded.loaded.length > 0) io.progress(`probe image side-loaded into ${loaded.loaded.length} node(s)`);

		await manager.run(probeServiceRemoveCommand, {signal});
		const run = randomUUID().slice(0, 8);
		// Ending its stdin (or this process ending) removes the probe; see probeGuardCommand.
		const release = new PassThrough();
		const guard = manager.exec(probeGuardCommand(run), {stdin: release}).catch(() => undefined);
		try {
			await manager.run(probeServiceCreateCommand(image.tag, run), {signal});
			await waitForProbeTasks(manager, io, nodes.length);
			const pairs = await checkEveryPair(ctx, io);
			const database = await databaseHealth(ctx, io);
			journal.update(j => {
				j.verifiedAt = new Date().toISOString();
			});
			return {
				changed: false,
				summary: `${nodes.length} nodes Ready; ${pairs} node-to-node requests over the overlay answered${database}`,
			};
		} finally {
			// Leave nothing behind, even on failure or Ctrl-C.
			release.end();
			await guard;
			await manager.exec(probeServiceRemoveCommand).catch(() => {});
		}
	},
};

/** `; RethinkDB 4 of 4 servers connected`, or nothing without a database. */
async function databaseHealth(ctx: VerifyContext, io: StepIO): Promise<string> {
	if (ctx.spec.database === 'none') return '';
	const nodes = liveNodes(ctx.journal.value).map(n => n.name);
	const password = ensurePassword(ctx.paths.rethinkdbPassword);
	const health = await waitForHealthy({
		ssh: ctx.ssh,
		nodes,
		password,
		cluster: ctx.spec.name,
		signal: io.signal,
		timeoutMs: 120_000,
		...driverTlsOf(ctx.journal.value),
		onChange: said => io.progress(`RethinkDB: ${said}`),
	});
	// A table that cannot serve fails the run: never a tick beside a critical table_availability.
	const unavailable = await lastingUnavailableTables({
		ssh: ctx.ssh,
		nodes,
		password,
		signal: io.signal,
		first: health,
		...driverTlsOf(ctx.journal.value),
	});
	if (unavailable.length > 0) throw tablesUnavailableError(unavailable, ctx.spec.name);
	return `; RethinkDB ${describeHealth(health)}`;
}

async function waitForProbeTasks(
	manager: RemoteShell,
	io: StepIO,
	expected: number,
	timeoutMs = 90_000,
): Promise<void> {
	const running = (tasks: ProbeTask[]) => tasks.filter(t => t.CurrentState.startsWith('Running')).length;
	const polled = await pollUntil(
		async () => parseJsonLines<ProbeTask>(await manager.run(probeTasksCommand, {signal: io.signal})),
		tasks => running(tasks) >= expected,
		{intervalMs: 500, timeoutMs, signal: io.signal},
	);
	if (polled.met) return;
	const tasks = polled.last ?? [];
	const errors = [...new Set(tasks.map(t => t.Error).filter(Boolean))];
	throw new ExternalError(`the probe service did not start on every node within ${timeoutMs / 1000} s`, {
		hint: errors.join('; ') || `${running(tasks)} of ${expected} tasks running`,
		nextSteps: ['check `docker service ps swarmbee-probe` on queenbee while it runs', 'run swarmbee up again'],
	});
}

/** From every node, fetch every node's probe task by name; DNS may lag a little at first. */
async function checkEveryPair(ctx: VerifyContext, io: StepIO, timeoutMs = 60_000): Promise<number> {
	const nodes = ctx.journal.value.nodes;
	const names = nodes.map(n => n.name);
	let answered = 0;
	await onEveryNode(
		'cross-host traffic',
		nodes,
		async node => {
			const shell = await ctx.ssh.get(node.name, io.signal);
			const missing = async () => {
				const {reached} = parseProbeFetch((await shell.exec(probeFetchCommand(), {signal: io.signal})).stdout);
				return names.filter(name => !reached.includes(name));
			};
			const polled = await pollUntil(missing, left => left.length === 0, {
				intervalMs: 1_000,
				timeoutMs,
				signal: io.signal,
			});
			if (polled.met) {
				answered += names.length;
				io.node(node.name).state('ready', `reached all ${names.length} nodes over the overlay`);
				return;
			}
			throw new ExternalError(`${node.name} could not reach ${(polled.last ?? names).join(', ')} over the overlay`, {
				node: node.name,
				hint: 'Swarm joined, but VXLAN traffic (4789/udp) or gossip (7946) between the private addresses does not get through.',
				nextSteps: [
					"check firewalls between the nodes' private addresses",
					'an encrypted overlay needs ESP (IP protocol 50) allowed too',
				],
			});
		},
		{signal: io.signal},
	);
	return answered;
}
