import {InputError} from '../errors.js';
import {outputMode, type CommandIO, type OutputMode} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import type {Journal} from '../store/journal.js';
import {rollingOrder} from '../nodes/restart.js';
import {nodeActionStep, nodeCheckStep, type NodeAction} from '../../steps/rolling-changes.js';
import type {CommandArgs} from './args.js';

const ACTIONS: readonly NodeAction[] = ['restart', 'stop', 'start'];

export interface NodeCommand {
	name: string;
	action: NodeAction;
	/** The nodes, in the order they change. */
	nodes: string[];
	allowUnavailable: boolean;
	output: OutputMode;
	verbose: boolean;
	/** The command line that does it again (and resumes it). */
	command: string;
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, action, ...nodes] = positionals;
	if (!name || !action)
		throw new InputError('node needs a cluster name, what to do and the node', {
			nextSteps: ['e.g. swarmbee node demo restart workerbee-1, or swarmbee node demo restart --all'],
		});
	if (!ACTIONS.includes(action as NodeAction))
		throw new InputError(`node ${JSON.stringify(action)}: not something swarmbee does to a node`, {
			nextSteps: [`one of ${ACTIONS.join(', ')}: e.g. swarmbee node ${name} restart workerbee-1`],
		});
	return nodeCommand(
		{
			name,
			action: action as NodeAction,
			nodes,
			all: Boolean(values.all),
			allowUnavailable: Boolean(values['allow-unavailable']),
			output: outputMode(values, io),
			verbose: Boolean(values.verbose),
		},
		io,
	);
}

/**
 * The nodes a command line names, checked against the journal, in the
 * order they change: `--all` is every worker in turn, then the managers
 * (the swarm's control plane is away the shortest while).
 */
export function resolveNodes(
	journal: Readonly<Journal>,
	input: {name: string; action: NodeAction; nodes: string[]; all: boolean},
): string[] {
	const known = journal.nodes.filter(n => n.state !== 'deleting');
	const names = known.map(n => n.name);
	if (input.all && input.nodes.length > 0)
		throw new InputError(`--all or node names, not both (got ${input.nodes.join(' ')})`, {
			nextSteps: [`swarmbee node ${input.name} ${input.action} --all`],
		});
	if (input.all && input.action === 'stop')
		throw new InputError('stop --all would stop the whole cluster, and the database with it', {
			nextSteps: [`stop the nodes one by one, or remove the cluster: swarmbee down ${input.name}`],
		});
	if (!input.all && input.nodes.length === 0)
		throw new InputError(`node ${input.action} needs the node (or --all)`, {
			nextSteps: [`one of ${names.join(', ')}: e.g. swarmbee node ${input.name} ${input.action} ${names.at(-1)}`],
		});
	const unknown = input.nodes.filter(n => !names.includes(n));
	if (unknown.length > 0)
		throw new InputError(`${input.name} has no node ${unknown.join(', ')}`, {
			nextSteps: [`its nodes: ${names.join(', ')}`],
		});
	const twice = input.nodes.filter((n, i) => input.nodes.indexOf(n) !== i);
	if (twice.length > 0) throw new InputError(`${[...new Set(twice)].join(', ')} named twice`);
	if (!input.all) return input.nodes;
	return rollingOrder(known);
}

/**
 * `swarmbee node NAME restart|stop|start NODE...` and `restart --all`: the
 * check (every table keeps a majority of its voting replicas with each
 * server away in turn; refused otherwise, nothing changed), then each node
 * in turn (steps/node-restart.ts).
 */
async function nodeCommand(input: Omit<NodeCommand, 'command'> & {all: boolean}, io: CommandIO): Promise<number> {
	const lock = `node ${input.name} ${input.action}`;
	const session = await openCluster(input.name, io, {
		needs: ['provider', 'ssh'],
		lock,
		verb: `${input.action} nodes of`,
	});
	try {
		const journal = session.journal.value;
		if (journal.state === 'down' || journal.nodes.length === 0)
			throw new InputError(`${input.name} has no nodes`, {nextSteps: [`create it: swarmbee up ${input.name}`]});
		const nodes = resolveNodes(journal, input);
		const command = [
			`swarmbee node ${input.name} ${input.action}`,
			...(input.all ? ['--all'] : nodes),
			...(input.allowUnavailable ? ['--allow-unavailable'] : []),
		].join(' ');
		const request = {action: input.action, nodes, command, allowUnavailable: input.allowUnavailable};
		const result = await runPlan(
			session,
			{
				command: 'node',
				steps: [nodeCheckStep(request), nodeActionStep(request)],
				resume: command,
				output: input.output,
				verbose: input.verbose,
				cluster: {done: 'ready'},
			},
			io,
		);
		return result.code;
	} finally {
		await session.close();
	}
}
