import {rmSync} from 'node:fs';
import {checkBeforeDelete, removal} from '../source/database/leaving.js';
import {requirePassword} from '../source/database/password.js';
import {pollUntil} from '../source/concurrency.js';
import {
	nodeListCommand,
	nodeRemoveCommand,
	nodeTasksCommand,
	parseJsonLines,
	swarmLeaveCommand,
	type SwarmNode,
} from '../source/nodes/swarm.js';
import {CancelledError, defined} from '../source/errors.js';
import {setAvailability} from '../source/nodes/restart.js';
import {hostKeyFile} from '../source/ssh/keys.js';
import type {NodeRecord} from '../source/store/journal.js';
import {providerContext, type ClusterContext, type Step, type StepIO} from './types.js';

type RemoveContext = Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'provider' | 'ssh' | 'clusterKey'>;

/**
 * Takes nodes marked `deleting` out of the cluster, last first: drain them,
 * let them leave the swarm, remove them from the member list, delete the
 * machine and its volume, and forget them. Each stage is recorded, so an
 * interrupted removal is finished by the next run.
 */
export const removeNodesStep: Step<RemoveContext> = {
	id: 'remove-nodes',
	title: 'Remove nodes',
	async run(ctx, io) {
		const doomed = ctx.journal.value.nodes.filter(n => n.state === 'deleting').sort((a, b) => b.index - a.index);
		for (const node of doomed) await removeNode(ctx, io, node);
		return {
			changed: doomed.length > 0,
			summary: doomed.length > 0 ? `removed ${doomed.map(n => n.name).join(', ')}` : 'nothing to remove',
		};
	},
};

async function removeNode(ctx: RemoveContext, io: StepIO, node: NodeRecord): Promise<void> {
	const {signal} = io;
	const managerName = defined(
		ctx.journal.value.nodes.find(n => n.role === 'manager' && n.state !== 'deleting'),
		`removing ${node.name} with no manager left to do it`,
	).name;
	const manager = await ctx.ssh.get(managerName, signal);
	const events = io.node(node.name);
	const say = (detail: string) => events.state('deleting', detail);
	const member = () =>
		manager
			.run(nodeListCommand, {signal})
			.then(out => parseJsonLines<SwarmNode>(out).find(m => m.ID === node.swarmNodeId));

	// Nothing of a table may be on its server, before it is drained and again before its machine and volume go.
	const database = ctx.spec.database !== 'none' && ctx.journal.value.database;
	const checkEmpty = async () => {
		if (!database) return;
		say('checking that no table is on its server');
		const password = requirePassword(ctx.paths.rethinkdbPassword, ctx.spec.name);
		await checkBeforeDelete(removal(ctx, password, signal, io.progress), node);
	};
	await checkEmpty();
	const {swarmNodeId} = node;
	if (swarmNodeId && (await member())) {
		say('draining');
		await setAvailability(manager, swarmNodeId, 'drain', {signal});
		// Its tasks move away first; after a minute it leaves with whatever is left.
		const tasks = async () =>
			parseJsonLines((await manager.exec(nodeTasksCommand(swarmNodeId), {signal})).stdout).length;
		await pollUntil(tasks, left => left === 0, {intervalMs: 1_000, timeoutMs: 60_000, signal});
		say('leaving the swarm');
		try {
			await (await ctx.ssh.get(node.name, signal)).run(swarmLeaveCommand, {signal});
		} catch (error) {
			// A node that is already gone cannot leave; the manager forgets it below.
			if (error instanceof CancelledError) throw error;
		}
		ctx.ssh.drop(node.name);
		// The manager sees it go down before it may remove it; after 30 s it is removed as it is.
		await pollUntil(member, gone => gone?.Status !== 'Ready', {intervalMs: 1_000, timeoutMs: 30_000, signal});
		await manager.run(nodeRemoveCommand(swarmNodeId), {signal});
	}
	await checkEmpty();
	say('deleting the machine');
	const machine = (await ctx.provider.listMachines(providerContext(ctx, io))).find(m => m.name === node.name);
	if (machine) await ctx.provider.deleteMachine(providerContext(ctx, io), machine);
	rmSync(hostKeyFile(ctx.paths.hostKeysDir, node.name), {force: true});
	rmSync(`${hostKeyFile(ctx.paths.hostKeysDir, node.name)}.pub`, {force: true});
	ctx.journal.update(j => {
		j.nodes = j.nodes.filter(n => n.name !== node.name);
	});
	events.state('deleted');
}
