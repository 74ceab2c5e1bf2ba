import {onEveryNode} from '../source/concurrency.js';
import {requirePassword} from '../source/database/password.js';
import {databaseNodes, openDatabase} from '../source/database/rethinkdb.js';
import {
	checkRoll,
	rollDatabaseOf,
	rollServers,
	waitUntilBack,
	type MovedPrimary,
	type RollingInput,
} from '../source/database/rolling.js';
import {
	deployedStackInput,
	REMOTE_STACK_FILE,
	renderStackFile,
	serverName,
	stackDeployCommand,
	stackHash,
} from '../source/database/stack.js';
import {
	imageVersionCommand,
	parseRethinkdbVersion,
	serverVersions,
	versionNumber,
	versionRefusal,
	waitForTaskImage,
	type RethinkdbVersion,
} from '../source/database/upgrade.js';
import {ensureLocalImage} from '../source/docker/local-image.js';
import {CancelledError, defined, ExternalError, InputError, isAbort} from '../source/errors.js';
import {writeFileAtomic} from '../source/files.js';
import {
	activateNode,
	drainNode,
	finishDrain,
	outOfSequenceAgain,
	waitForNodeBack,
	type NodeOps,
} from '../source/nodes/restart.js';
import {sideLoadImage, sideLoadsDatabase} from '../source/nodes/side-load.js';
import type {Machine} from '../source/providers/types.js';
import {counted} from '../source/render/format.js';
import {shellCommand} from '../source/shell.js';
import {liveNodes, type Journal, type NodeRecord, type RollingChangeRecord} from '../source/store/journal.js';
import {providerContext, type ClusterContext, type Step, type StepIO} from './types.js';

/**
 * The day-two changes, each rolled one node at a time through
 * source/database/rolling.ts: `swarmbee node NAME restart|stop|start` and
 * `swarmbee upgrade NAME --rethinkdb-image`. One journal record of the roll
 * (journal.rolling) serves both: a cut-off run goes on from the next node.
 */

export type NodeContext = Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'provider' | 'ssh' | 'clusterKey'>;

export type NodeAction = 'restart' | 'stop' | 'start';

export interface NodeRequest {
	action: NodeAction;
	/** The nodes, in the order they are changed. */
	nodes: string[];
	/** The command line, said back when a run is cut off and recorded to resume it. */
	command: string;
	/** The user said so: a table that would be unavailable meanwhile is warned about, not refused. */
	allowUnavailable?: boolean;
}

const TITLES: Record<NodeAction, string> = {restart: 'Restart', stop: 'Stop', start: 'Start'};

/**
 * `swarmbee node NAME restart|stop|start NODE` (and `restart --all`): each
 * node in turn, its database server through the rolling primitive
 * (source/database/rolling.ts: refused when a table would stop answering,
 * primaries moved off first, back with every table ready before the next),
 * its app tasks drained first and let back once it is up again. A restart
 * is recorded in the journal node by node: cut off, the same command brings
 * the node in hand back and goes on with the next.
 */
export function nodeActionStep(request: NodeRequest): Step<NodeContext> {
	return {
		id: request.action,
		title: TITLES[request.action],
		async run(ctx, io) {
			const recovered = await recoverDrained(ctx, io);
			if (request.action === 'start') return startNodes(ctx, io, request, recovered);
			if (request.action === 'stop') return stopNodes(ctx, io, request);
			return restartNodes(ctx, io, request, recovered);
		},
	};
}

/**
 * Before anything changes: the managers keep their Raft majority and every
 * table keeps a majority of its voting replicas with each server away in
 * turn (refused otherwise, saying which table and what to do).
 */
export function nodeCheckStep(request: NodeRequest): Step<NodeContext> {
	return {
		id: 'check',
		title: 'Check',
		async run(ctx, io) {
			const open = ctx.journal.value.rolling;
			const remaining =
				open?.kind === 'restart' && request.action === 'restart'
					? request.nodes.filter(n => !open.done.includes(n))
					: request.nodes;
			if (remaining.length === 0) return {changed: false, summary: 'nothing left to do'};
			// A cut-off run left a node drained: the next step brings it back first and checks then.
			const left = ctx.journal.value.nodes.filter(n => n.drained && !n.stopped).map(n => n.name);
			if (left.length > 0)
				return {changed: false, summary: `${left.join(', ')} first brought back from a run that was cut off`};
			await checkNodes(ctx, io, {...request, nodes: remaining});
			const what = hasDatabase(ctx) ? 'every table keeps a majority of its replicas' : 'no database';
			return {
				changed: false,
				summary: `${remaining.join(', ')}: ${request.action === 'start' ? 'nothing to check' : `one at a time, ${what}`}`,
			};
		},
	};
}

/** What every node operation needs of the nodes: SSH, the managers, and a way to say what a node does. */
export function nodeOps(ctx: NodeContext, io: StepIO, signal = io.signal): NodeOps {
	return {
		ssh: ctx.ssh,
		managers: ctx.journal.value.nodes.filter(n => n.role === 'manager').map(n => n.name),
		signal,
		say: (node, state, detail) => io.node(node).state(state, detail),
	};
}

function record(ctx: NodeContext, node: string): NodeRecord {
	const found = ctx.journal.value.nodes.find(n => n.name === node);
	if (!found) throw new InputError(`${ctx.spec.name} has no node ${node}`);
	return found;
}

function machineOf(node: NodeRecord): Machine {
	return {name: node.name, providerId: node.providerId ?? node.name, status: 'running'};
}

/** A signal that never aborts: what a change that has begun is finished with. */
export const steady = () => new AbortController().signal;

/**
 * Nodes a cut-off run left drained (not those stopped on purpose): started
 * if they are down, let back into the swarm, their servers waited for.
 */
async function recoverDrained(ctx: NodeContext, io: StepIO): Promise<string[]> {
	const left = ctx.journal.value.nodes.filter(n => n.drained && !n.stopped);
	for (const node of left) {
		io.progress(`${node.name}: left drained by a run that was cut off (${node.drained!.by}): bringing it back first`);
		await bringBack(ctx, io, node, {start: true});
	}
	return left.map(n => n.name);
}

/**
 * Brings a node back: started (when asked and it is down), SSH and Swarm
 * Ready, active again, and its database server connected with every table
 * caught up.
 */
async function bringBack(
	ctx: NodeContext,
	io: StepIO,
	node: NodeRecord,
	options: {start: boolean; signal?: AbortSignal},
): Promise<void> {
	const signal = options.signal ?? io.signal;
	const ops = nodeOps(ctx, io, signal);
	if (options.start) {
		const pctx = {...providerContext(ctx, io), signal};
		const machine = (await ctx.provider.listMachines(pctx)).find(m => m.providerId === node.providerId);
		if (machine?.status === 'stopped') {
			io.node(node.name).state('booting', 'starting the machine');
			await ctx.provider.startMachine(pctx, machine);
		}
	}
	await waitForNodeBack(ops, node, {signal});
	await activateNode(ops, node, signal);
	ctx.journal.updateNode(node.name, r => {
		delete r.drained;
		delete r.stopped;
	});
	if (ctx.journal.value.database && ctx.spec.database !== 'none') {
		const db = openRollDatabase(ctx, io, [node.name]);
		try {
			await waitUntilBack(await db.database(node.name), serverName(node.name), undefined, {
				signal,
				say: io.progress,
			});
		} finally {
			await db.close();
		}
	}
	io.node(node.name).state('ready', 'back');
}

/** The roll's database session, on the servers of `nodes` last (the ones changed). */
export function openRollDatabase(ctx: NodeContext, io: StepIO, nodes: readonly string[]) {
	const cluster = {...ctx, password: () => requirePassword(ctx.paths.rethinkdbPassword, ctx.spec.name)};
	return rollDatabaseOf(cluster, nodes, io.signal);
}

/**
 * Swarm's managers keep a Raft majority: refused, before anything changes,
 * a change that would take away one more manager than the majority allows.
 * A cluster with one manager may restart it (the swarm's control plane is
 * away for the reboot; tasks keep running) but not stop it.
 */
function checkManagers(ctx: NodeContext, nodes: readonly string[], action: NodeAction): void {
	const managers = ctx.journal.value.nodes.filter(n => n.role === 'manager');
	const leaving = managers.filter(m => nodes.includes(m.name));
	if (leaving.length === 0) return;
	const away = managers.filter(m => m.stopped && !nodes.includes(m.name));
	if (managers.length === 1 && action === 'stop') {
		throw new InputError(
			`${leaving[0]!.name} is the swarm's only manager: stopped, nothing could be scheduled or changed`,
			{
				nextSteps: [
					`restart it instead (its tasks keep running meanwhile): swarmbee node ${ctx.spec.name} restart ${leaving[0]!.name}`,
				],
			},
		);
	}
	// One at a time: one manager away at once, besides those stopped already.
	const quorum = Math.floor(managers.length / 2) + 1;
	const up = managers.length - away.length - 1;
	if (managers.length > 1 && up < quorum) {
		throw new InputError(
			`the swarm would keep ${up} of its ${managers.length} managers while ${leaving.map(m => m.name).join(', ')} ${action === 'stop' ? 'is stopped' : 'restarts'}: Raft needs ${quorum}`,
			{nextSteps: [`start ${away.map(m => m.name).join(', ')} first: swarmbee node ${ctx.spec.name} start NODE`]},
		);
	}
}

/** Refused up front, before the first node changes: managers, then every table through the roll's check. */
async function checkNodes(ctx: NodeContext, io: StepIO, request: NodeRequest): Promise<void> {
	checkManagers(ctx, request.nodes, request.action);
	if (request.action === 'start' || !hasDatabase(ctx)) return;
	const db = openRollDatabase(ctx, io, request.nodes);
	try {
		await checkRoll({
			database: db.database,
			nodes: request.nodes,
			cluster: ctx.spec.name,
			replicas: ctx.spec.replicas,
			verb: request.action === 'stop' ? 'is stopped' : 'restarts',
			allowUnavailable: request.allowUnavailable,
			warn: io.warn,
		});
	} finally {
		await db.close();
	}
}

function hasDatabase(ctx: NodeContext): boolean {
	return ctx.spec.database !== 'none' && ctx.journal.value.database !== undefined;
}

/**
 * Restarts one node: drained, rebooted through the provider, back (SSH,
 * Swarm Ready), active again. Ctrl-C before the reboot undoes the drain;
 * once the reboot was asked for, the node is waited for whatever Ctrl-C
 * says (the roll stops after it).
 */
export async function restartNode(ctx: NodeContext, io: StepIO, name: string, signal: AbortSignal): Promise<void> {
	const node = record(ctx, name);
	const by = `restart by ${ctx.spec.name}'s swarmbee`;
	ctx.journal.updateNode(name, r => {
		r.drained = {by, at: new Date().toISOString()};
	});
	const ops = nodeOps(ctx, io, signal);
	try {
		await drainNode(ops, node);
		if (signal.aborted) throw new CancelledError();
	} catch (error) {
		if (!isAbort(error, signal)) throw error;
		const calm = nodeOps(ctx, io, steady());
		io.node(name).state('draining', 'Ctrl-C: letting the drain finish, then making it active again');
		await finishDrain(calm, node);
		await activateNode(calm, node, steady());
		ctx.journal.updateNode(name, r => {
			delete r.drained;
		});
		throw new CancelledError();
	}
	const finish = steady();
	io.node(name).state('restarting', 'rebooting');
	await ctx.provider.rebootMachine({...providerContext(ctx, io), signal: finish}, machineOf(node));
	await waitForNodeBack(nodeOps(ctx, io, finish), node, {signal: finish});
	await activateNode(nodeOps(ctx, io, finish), node, finish);
	ctx.journal.updateNode(name, r => {
		delete r.drained;
	});
	io.node(name).state('running', 'back in the swarm');
}

/** The journal's record of a rolling change: resumed when it is the same one, else started. */
export function beginChange(
	ctx: Pick<NodeContext, 'journal'>,
	change: Omit<RollingChangeRecord, 'done' | 'startedAt'>,
): RollingChangeRecord {
	const open = ctx.journal.value.rolling;
	const same =
		open?.kind === change.kind &&
		JSON.stringify(open.nodes) === JSON.stringify(change.nodes) &&
		JSON.stringify(open.upgrade ?? {}) === JSON.stringify(change.upgrade ?? {});
	if (open && same) return open;
	const fresh: RollingChangeRecord = {...change, done: [], startedAt: new Date().toISOString()};
	ctx.journal.update(j => {
		j.rolling = fresh;
	});
	return fresh;
}

/** Journal hooks for a roll: the node in hand and its stage, each node done, the primaries to put back. */
export function changeHooks(ctx: Pick<NodeContext, 'journal'>) {
	return {
		onStage: (node: string, stage: NonNullable<RollingChangeRecord['current']>['stage']) =>
			ctx.journal.update(j => {
				if (j.rolling) j.rolling.current = {node, stage};
			}),
		onDone: (node: string) =>
			ctx.journal.update(j => {
				if (!j.rolling) return;
				if (!j.rolling.done.includes(node)) j.rolling.done.push(node);
				delete j.rolling.current;
			}),
		onMoved: (moved: MovedPrimary[]) =>
			ctx.journal.update(j => {
				if (j.rolling) j.rolling.moved = moved.map(m => ({...m}));
			}),
		finish: () =>
			ctx.journal.update(j => {
				delete j.rolling;
			}),
	};
}

/**
 * Changes `todo` one node at a time: through rollServers when the cluster
 * runs a database (each server away only while every table keeps its
 * majority), else simply in turn with the same journal hooks.
 */
export async function rollNodes(
	ctx: NodeContext,
	io: StepIO,
	request: Pick<NodeRequest, 'allowUnavailable'>,
	todo: string[],
	roll: Pick<RollingInput, 'verb' | 'change' | 'comesBack' | 'moved' | 'onStage' | 'onDone' | 'onMoved'>,
): Promise<void> {
	if (todo.length === 0) return;
	if (!hasDatabase(ctx)) {
		for (const node of todo) {
			if (io.signal.aborted) throw new CancelledError();
			roll.onStage?.(node, 'changing');
			await roll.change(node, io.signal);
			roll.onDone?.(node);
		}
		return;
	}
	const db = openRollDatabase(ctx, io, todo);
	try {
		await rollServers({
			...roll,
			database: db.database,
			nodes: todo,
			cluster: ctx.spec.name,
			replicas: ctx.spec.replicas,
			signal: io.signal,
			say: io.progress,
			allowUnavailable: request.allowUnavailable,
			warn: io.warn,
		});
	} finally {
		await db.close();
	}
}

async function restartNodes(ctx: NodeContext, io: StepIO, request: NodeRequest, recovered: string[]) {
	const change = beginChange(ctx, {kind: 'restart', command: request.command, nodes: request.nodes});
	const hooks = changeHooks(ctx);
	// The node a cut-off run was in the middle of: brought back above if it was left drained,
	// else waited for if its change had begun; either way it counts as done.
	const cut = change.current;
	if (cut && (recovered.includes(cut.node) || cut.stage === 'changing' || cut.stage === 'back')) {
		if (!recovered.includes(cut.node)) await bringBack(ctx, io, record(ctx, cut.node), {start: true});
		hooks.onDone(cut.node);
	}
	const todo = request.nodes.filter(n => !ctx.journal.value.rolling!.done.includes(n));
	if (todo.length < request.nodes.length)
		io.progress(
			`resuming: ${request.nodes.filter(n => !todo.includes(n)).join(', ')} done before; ${todo.length > 0 ? `going on with ${todo.join(', ')}` : 'nothing left'}`,
		);
	checkManagers(ctx, todo, 'restart');
	await rollNodes(ctx, io, request, todo, {
		verb: 'restarts',
		change: (node, signal) => restartNode(ctx, io, node, signal),
		moved: ctx.journal.value.rolling?.moved as MovedPrimary[] | undefined,
		...hooks,
	});
	hooks.finish();
	return {
		changed: todo.length > 0 || recovered.length > 0,
		summary:
			todo.length > 0
				? `${counted(todo.length, 'node')} restarted one at a time: ${todo.join(', ')}`
				: 'every node was restarted before',
	};
}

async function stopNodes(ctx: NodeContext, io: StepIO, request: NodeRequest) {
	const todo = request.nodes.filter(n => !record(ctx, n).stopped);
	checkManagers(ctx, todo, 'stop');
	const stop = async (name: string, signal: AbortSignal) => {
		const node = record(ctx, name);
		const by = `stop by ${ctx.spec.name}'s swarmbee`;
		const at = new Date().toISOString();
		ctx.journal.updateNode(name, r => {
			r.drained = {by, at};
		});
		await drainNode(nodeOps(ctx, io, signal), node);
		// From here it is stopped on purpose: a cut-off run leaves it so, and says how to start it.
		ctx.journal.updateNode(name, r => {
			r.stopped = {by, at};
		});
		io.node(name).state('stopping', 'shutting down');
		await ctx.provider.stopMachine({...providerContext(ctx, io), signal: steady()}, machineOf(node));
		ctx.ssh.drop(name);
		io.node(name).state('stopped', `start it with swarmbee node ${ctx.spec.name} start ${name}`);
	};
	await rollNodes(ctx, io, request, todo, {verb: 'is stopped', comesBack: false, change: stop});
	const billed = ctx.provider.capabilities.billed;
	if (billed && todo.length > 0)
		io.warn(
			`${todo.join(', ')} ${todo.length === 1 ? 'is' : 'are'} stopped, and ${billed.by} bills a stopped ${billed.machine} as a running one: swarmbee node ${ctx.spec.name} start ${todo[0]} brings it back`,
		);
	return {
		changed: todo.length > 0,
		summary:
			todo.length > 0
				? `${todo.join(', ')} stopped; every table takes writes without ${todo.length === 1 ? 'it' : 'them'}`
				: `${request.nodes.join(', ')} ${request.nodes.length === 1 ? 'was' : 'were'} stopped already`,
	};
}

async function startNodes(ctx: NodeContext, io: StepIO, request: NodeRequest, recovered: string[]) {
	const started: string[] = [];
	for (const name of request.nodes) {
		if (io.signal.aborted) throw new CancelledError();
		const node = record(ctx, name);
		const pctx = providerContext(ctx, io);
		const machine = (await ctx.provider.listMachines(pctx)).find(m => m.providerId === node.providerId);
		if (machine?.status === 'running' && !node.stopped && !node.drained) continue;
		await bringBack(ctx, io, node, {start: true});
		started.push(name);
	}
	const all = [...new Set([...recovered, ...started])];
	return {
		changed: all.length > 0,
		summary:
			all.length > 0
				? `${all.join(', ')} started; every table ready`
				: `${request.nodes.join(', ')} ${request.nodes.length === 1 ? 'was' : 'were'} running already`,
	};
}

type UpgradeContext = NodeContext & Pick<ClusterContext, 'docker'>;

export interface UpgradeRequest {
	/** The RethinkDB image every server is to run. */
	image: string;
	/** The nodes in the order their servers change: workers, then the managers. */
	nodes: string[];
	/** The command line, said back when a run is cut off (and run again to resume it). */
	command: string;
	allowUnavailable?: boolean;
	/** Print the plan, change nothing. */
	dryRun?: boolean;
}

/** The image a node's server runs now, as the journal records it. */
export function runningImage(journal: Readonly<Journal>, node: string): string | undefined {
	return journal.database?.images?.[node] ?? journal.database?.image;
}

/** Servers still to upgrade: those not on the image yet, in the request's order. */
function remaining(journal: Readonly<Journal>, request: UpgradeRequest): string[] {
	return request.nodes.filter(node => runningImage(journal, node) !== request.image);
}

/**
 * The image onto every node before any server changes: side-loaded from
 * this machine's engine where nodes do not pull (the local provider,
 * --side-load), else pulled by each node. Nothing runs it yet.
 */
export function upgradeImageStep(request: UpgradeRequest): Step<UpgradeContext> {
	return {
		id: 'image',
		title: 'Image',
		async run(ctx, io) {
			const {signal} = io;
			const nodes = liveNodes(ctx.journal.value);
			if (sideLoadsDatabase(ctx.spec, ctx.provider.capabilities)) {
				const local = await ensureLocalImage(ctx.docker, request.image, {
					signal,
					onLine: line => io.progress(`pulling ${request.image}: ${line}`),
					why: `Nodes on the ${ctx.provider.name} provider load the database image from this machine's engine.`,
				});
				const loaded = await sideLoadImage(
					ctx.docker,
					ctx.ssh,
					nodes,
					{tag: request.image, id: local.id},
					{signal, onProgress: (node, message, done) => io.node(node).state(done ? 'running' : 'loading', message)},
				);
				return {
					changed: loaded.loaded.length > 0,
					summary: `${request.image} on every node (${loaded.loaded.length} loaded, ${loaded.present.length} had it)`,
				};
			}
			await onEveryNode(
				'pull the image',
				nodes,
				async node => {
					io.node(node.name).state('loading', `pulling ${request.image}`);
					await (await ctx.ssh.get(node.name, signal)).run(shellCommand(['docker', 'pull', request.image]), {signal});
					io.node(node.name).state('running', `has ${request.image}`);
				},
				{signal},
			);
			return {changed: true, summary: `${request.image} pulled on every node`};
		},
	};
}

/**
 * Before any server changes: the image is RethinkDB of the same minor
 * version as every server runs (a patch release, or the same rebuilt), and
 * every table keeps a majority of its voting replicas with each server away
 * in turn. Refused otherwise, nothing changed. With --dry-run, the plan.
 */
export function upgradeCheckStep(request: UpgradeRequest): Step<UpgradeContext> {
	return {
		id: 'check',
		title: 'Check',
		async run(ctx, io) {
			const {signal} = io;
			const {journal, spec} = ctx;
			const where = databaseNodes(journal.value);
			const manager = await ctx.ssh.get(where.manager, signal);
			const said = await manager.exec(imageVersionCommand(request.image), {signal});
			const target = said.code === 0 ? parseRethinkdbVersion(said.stdout) : undefined;
			if (!target)
				throw new InputError(`${request.image} does not run RethinkDB: rethinkdb --version did not answer in it`, {
					hint: (said.stderr || said.stdout).trim().split('\n')[0]?.slice(0, 200) || undefined,
					nextSteps: ['name a RethinkDB 2.4.x image: swarmbee upgrade NAME --rethinkdb-image IMAGE'],
				});
			const password = requirePassword(ctx.paths.rethinkdbPassword, spec.name);
			const session = await openDatabase({ssh: ctx.ssh, ...where, password, signal});
			let running: Map<string, string>;
			try {
				running = await serverVersions(session.connection);
			} finally {
				await session.close();
			}
			const versions = [...running.values()]
				.map(parseRethinkdbVersion)
				.filter((v): v is RethinkdbVersion => v !== undefined);
			const refusal = versionRefusal(spec.name, request.image, versions, target);
			if (refusal) throw refusal;
			const todo = remaining(journal.value, request);
			if (todo.length === 0)
				return {changed: false, summary: `every server runs ${request.image} (RethinkDB ${versionNumber(target)})`};
			const db = openRollDatabase(ctx, io, todo);
			try {
				await checkRoll({
					database: db.database,
					nodes: todo,
					cluster: spec.name,
					replicas: spec.replicas,
					verb: 'is upgraded',
					allowUnavailable: request.allowUnavailable,
					warn: io.warn,
				});
			} finally {
				await db.close();
			}
			const from = [...new Set(versions.map(versionNumber))].join(', ');
			if (request.dryRun) {
				for (const [i, node] of todo.entries())
					io.progress(
						`${i + 1}. ${node} (server ${serverName(node)}): ${runningImage(journal.value, node)} → ${request.image} (its primaries moved off first, back with every table ready before the next)`,
					);
				return {
					changed: false,
					summary: `would upgrade ${todo.length} server(s) one at a time, RethinkDB ${from} → ${versionNumber(target)}; no server changed (--dry-run)`,
				};
			}
			return {
				changed: false,
				summary: `RethinkDB ${from} → ${versionNumber(target)} (${target.text}), one server at a time: ${todo.join(', ')}; every table keeps a majority of its replicas`,
			};
		},
	};
}

/**
 * Each server in turn (rolling.ts: primaries off first, the next only once
 * it is back with every table ready): the stack as deployed with that one
 * server's image replaced, deployed from the manager, so Swarm restarts
 * that service alone; its task waited for until it runs the new image. The
 * journal records every server's image as it changes (a cut-off run goes on
 * from the next server, and no deploy meanwhile moves servers back) and the
 * roll's progress; once every server runs it, it is the cluster's image.
 */
export function upgradeStep(request: UpgradeRequest): Step<UpgradeContext> {
	return {
		id: 'upgrade',
		title: 'Upgrade',
		async run(ctx, io) {
			const {journal, spec} = ctx;
			const todo = remaining(journal.value, request);
			beginChange(ctx, {
				kind: 'upgrade',
				command: request.command,
				nodes: request.nodes,
				upgrade: {rethinkdbImage: request.image},
			});
			const hooks = changeHooks(ctx);
			if (todo.length < request.nodes.length && todo.length > 0)
				io.progress(
					`resuming: ${request.nodes.filter(n => !todo.includes(n)).join(', ')} run ${request.image} already; going on with ${todo.join(', ')}`,
				);
			const password = requirePassword(ctx.paths.rethinkdbPassword, spec.name);
			const manager = databaseNodes(journal.value).manager;
			const sideLoad = sideLoadsDatabase(spec, ctx.provider.capabilities);
			const deploy = async (images: Record<string, string> | undefined, image: string) => {
				const {images: _was, ...input} = deployedStackInput(spec, journal.value, password);
				const stack = renderStackFile(images ? {...input, image, images} : {...input, image});
				const shell = await ctx.ssh.get(manager, steady());
				await shell.upload(REMOTE_STACK_FILE, stack, 0o600);
				await outOfSequenceAgain(() =>
					shell.run(stackDeployCommand(REMOTE_STACK_FILE, sideLoad ? 'never' : 'changed'), {signal: steady()}),
				);
				writeFileAtomic(ctx.paths.stack, stack, 0o600);
				journal.update(j => {
					if (!j.database) return;
					j.database.image = image;
					if (images) j.database.images = images;
					else delete j.database.images;
					j.database.stackHash = stackHash(stack);
				});
				return shell;
			};
			await rollNodes(ctx, io, request, todo, {
				verb: 'is upgraded',
				moved: journal.value.rolling?.moved,
				...hooks,
				change: async node => {
					// Once the deploy is asked for, it is finished whatever Ctrl-C says: the roll waits for the server.
					const current = defined(journal.value.database, 'the database record an upgrade changes');
					const images = {...current.images, [node]: request.image};
					io.node(node).state(
						'restarting',
						`${serverName(node)}: ${runningImage(journal.value, node)} → ${request.image}`,
					);
					const shell = await deploy(images, current.image);
					await waitForTaskImage(shell, node, request.image, {signal: steady()});
					io.node(node).state('running', `${serverName(node)} runs ${request.image}`);
				},
			});
			// Every server runs it: it is the cluster's image (the stack renders the same; nothing restarts).
			if (remaining(journal.value, request).length === 0 && journal.value.database?.image !== request.image)
				await deploy(undefined, request.image);
			hooks.finish();
			if (remaining(journal.value, request).length > 0)
				throw new ExternalError('not every server was upgraded', {
					nextSteps: [`run it again: ${request.command}`],
				});
			return {
				changed: todo.length > 0,
				summary:
					todo.length > 0
						? `${todo.length} server(s) upgraded one at a time to ${request.image}: ${todo.join(', ')}`
						: `every server ran ${request.image} already`,
			};
		},
	};
}

/** The upgrade's steps in order (a dry run stops after the check). */
export function upgradeSteps(request: UpgradeRequest): Array<Step<UpgradeContext>> {
	return request.dryRun
		? [upgradeImageStep(request), upgradeCheckStep(request)]
		: [upgradeImageStep(request), upgradeCheckStep(request), upgradeStep(request)];
}
