import {leavingNodeNames} from '../source/store/change.js';
import {
	isManager,
	joinTokenCommand,
	nodeListCommand,
	nodeRemoveCommand,
	nodeRoleCommand,
	parseJsonLines,
	parseSwarmInfo,
	swarmInfoCommand,
	swarmInitCommand,
	swarmJoinCommand,
	swarmJoinRequest,
	swarmLeaveCommand,
	type SwarmInfo,
	type SwarmNode,
} from '../source/nodes/swarm.js';
import {onEveryNode, pollUntil} from '../source/concurrency.js';
import {defined, ExternalError} from '../source/errors.js';
import {registerSecret} from '../source/redact.js';
import {counted} from '../source/render/format.js';
import type {ClusterContext, Step, StepIO} from './types.js';
import {firstNode, privateAddressOf} from '../source/store/nodes.js';

type SwarmContext = Pick<ClusterContext, 'journal' | 'ssh'>;

async function swarmInfo(ctx: SwarmContext, node: string, signal: AbortSignal): Promise<SwarmInfo> {
	const connection = await ctx.ssh.get(node, signal);
	return parseSwarmInfo(await connection.run(swarmInfoCommand, {signal}));
}

/**
 * Swarm mode in place of 2015's Consul + classic Swarm: `swarm init` on
 * queenbee's private address, every other node joins over SSH with a join
 * token. With --managers 3, workerbee-1 and workerbee-2 join as managers
 * (Raft quorum of three). Re-running changes only what differs.
 */
export const swarmStep: Step<SwarmContext> = {
	id: 'swarm',
	title: 'Swarm',
	async run(ctx, io) {
		const {journal, ssh} = ctx;
		const {signal} = io;
		// A node a scale-down removes is neither joined again nor waited for.
		const leaving = leavingNodeNames(journal.value);
		const nodes = journal.value.nodes.filter(n => !leaving.has(n.name));
		const first = defined(nodes[0], 'the swarm step found no node that stays in the cluster');
		const actions: string[] = [];

		let info = await swarmInfo(ctx, first.name, signal);
		if (info.LocalNodeState === 'active' && !info.ControlAvailable) {
			// queenbee was recreated into an old swarm as a worker: start over on it.
			await (await ssh.get(first.name, signal)).run(swarmLeaveCommand, {signal});
			info = await swarmInfo(ctx, first.name, signal);
		}
		if (info.LocalNodeState !== 'active') {
			io.node(first.name).state('joining', 'swarm init');
			await (await ssh.get(first.name, signal)).run(swarmInitCommand(privateAddressOf(first)), {signal});
			info = await swarmInfo(ctx, first.name, signal);
			actions.push(`initialised on ${first.name}`);
		}
		const clusterId = info.Cluster?.ID ?? '';
		journal.update(j => {
			j.swarm = {...j.swarm, clusterId, managerAddress: privateAddressOf(first)};
			firstNode(j).swarmNodeId = info.NodeID;
		});

		const manager = await ssh.get(first.name, signal);
		const tokens = {
			worker: (await manager.run(joinTokenCommand('worker'), {signal})).trim(),
			manager: (await manager.run(joinTokenCommand('manager'), {signal})).trim(),
		};
		registerSecret(tokens.worker);
		registerSecret(tokens.manager);

		const joined: string[] = [];
		await onEveryNode(
			'joining the swarm',
			nodes.slice(1),
			async node => {
				const connection = await ssh.get(node.name, signal);
				let state = await swarmInfo(ctx, node.name, signal);
				if (state.LocalNodeState === 'active' && state.Cluster?.ID !== clusterId && state.Cluster?.ID !== undefined) {
					// In some other swarm (e.g. queenbee was recreated): leave it first.
					await connection.run(swarmLeaveCommand, {signal});
					state = await swarmInfo(ctx, node.name, signal);
				}
				if (state.LocalNodeState === 'active') {
					journal.updateNode(node.name, record => {
						record.swarmNodeId = state.NodeID;
					});
					return;
				}
				io.node(node.name).state('joining', `joining as ${node.role}`);
				await connection.run(swarmJoinCommand, {
					signal,
					stdin: swarmJoinRequest(privateAddressOf(node), privateAddressOf(first), tokens[node.role]),
				});
				const after = await swarmInfo(ctx, node.name, signal);
				journal.updateNode(node.name, record => {
					record.swarmNodeId = after.NodeID;
				});
				joined.push(node.name);
			},
			{signal},
		);
		if (joined.length > 0) actions.push(`${joined.length} joined`);

		actions.push(...(await reconcileMembership(ctx, io)));
		await waitForReady(ctx, io);
		for (const node of nodes) io.node(node.name).state('ready', node.role);
		const managers = nodes.filter(n => n.role === 'manager').length;
		return {
			changed: actions.length > 0,
			summary: `${nodes.length} nodes in the swarm (${counted(managers, 'manager')})${actions.length > 0 ? `: ${actions.join(', ')}` : ', unchanged'}`,
		};
	},
};

/**
 * Makes the swarm's member list match the journal: stale entries of
 * recreated nodes removed, roles promoted or demoted as planned.
 */
async function reconcileMembership(ctx: SwarmContext, io: StepIO): Promise<string[]> {
	const {journal, ssh} = ctx;
	const {signal} = io;
	const manager = await ssh.get(firstNode(journal.value).name, signal);
	const members = parseJsonLines<SwarmNode>(await manager.run(nodeListCommand, {signal}));
	const current = new Map(journal.value.nodes.map(n => [n.swarmNodeId, n]));
	const actions: string[] = [];
	const stale = members.filter(m => !current.has(m.ID) && m.Status !== 'Ready');
	for (const member of stale) {
		if (isManager(member)) await manager.run(nodeRoleCommand('demote', member.ID), {signal});
		await manager.run(nodeRemoveCommand(member.ID), {signal});
	}
	if (stale.length > 0) actions.push(`${counted(stale.length, 'stale member')} removed`);
	for (const node of journal.value.nodes) {
		const member = members.find(m => m.ID === node.swarmNodeId);
		if (!member) continue;
		if (node.role === 'manager' && !isManager(member)) {
			await manager.run(nodeRoleCommand('promote', member.ID), {signal});
			actions.push(`${node.name} promoted`);
		} else if (node.role === 'worker' && isManager(member)) {
			await manager.run(nodeRoleCommand('demote', member.ID), {signal});
			actions.push(`${node.name} demoted`);
		}
	}
	return actions;
}

async function waitForReady(ctx: SwarmContext, io: StepIO, timeoutMs = 90_000): Promise<void> {
	const {journal, ssh} = ctx;
	const polled = await pollUntil(
		async () => {
			const manager = await ssh.get(firstNode(journal.value).name, io.signal);
			const members = parseJsonLines<SwarmNode>(await manager.run(nodeListCommand, {signal: io.signal}));
			const leaving = leavingNodeNames(journal.value);
			return journal.value.nodes.filter(
				n => !leaving.has(n.name) && members.find(m => m.ID === n.swarmNodeId)?.Status !== 'Ready',
			);
		},
		notReady => notReady.length === 0,
		{intervalMs: 1_000, timeoutMs, signal: io.signal},
	);
	if (polled.met) return;
	throw new ExternalError(
		`${(polled.last ?? []).map(n => n.name).join(', ')} did not become Ready in the swarm within ${timeoutMs / 1000} s`,
		{
			nextSteps: ['look at `docker node ls` on queenbee (swarmbee status shows it too)', 'run swarmbee up again'],
		},
	);
}
