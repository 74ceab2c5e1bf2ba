import {InputError} from '../errors.js';
import {swarmbeeHome} from '../paths.js';
import {counted} from '../render/format.js';
import {resolveSpec, savedForm} from '../spec.js';
import {ClusterStore} from '../store/cluster-store.js';
import {scaleDownSteps, upSteps} from '../../steps/index.js';
import {confirmOrStop, oneName, outputMode, type CommandArgs, type CommandIO, type OutputMode} from './io.js';
import {confirmCost, runCluster} from './run-cluster.js';

interface ScaleOptions {
	name: string;
	workers: string;
	yes: boolean;
	output: OutputMode;
	verbose: boolean;
	/** A DigitalOcean token handed over in-process (the start screen); see UpOptions.token. */
	token?: string;
}

export async function run({values, positionals, token}: CommandArgs, io: CommandIO): Promise<number> {
	if (typeof values.workers !== 'string')
		throw new InputError('scale needs --workers N', {
			nextSteps: [`e.g. swarmbee scale ${positionals[0] ?? 'demo'} --workers 4`],
		});
	return scaleCommand(
		{
			name: oneName('scale', positionals),
			workers: values.workers,
			yes: Boolean(values.yes),
			output: outputMode(values, io),
			verbose: Boolean(values.verbose),
			...(token ? {token} : {}),
		},
		io,
	);
}

/**
 * Grows or shrinks the worker count. Growing runs `up`'s steps for the new
 * nodes (machines → provision → join → a new database server pinned there
 * → tables spread onto it). Shrinking removes the last workers: every table
 * moves off their servers first, then the servers leave the stack, then
 * each node is drained, leaves the swarm and is deleted.
 */
async function scaleCommand(options: ScaleOptions, io: CommandIO): Promise<number> {
	const store = new ClusterStore(swarmbeeHome(io.env));
	const saved = store.loadSpec(options.name);
	const journal = store.loadJournal(options.name);
	if (!saved || !journal || journal.state === 'down') {
		throw new InputError(`there is no running cluster named ${options.name}`, {
			nextSteps: [`create it: swarmbee up ${options.name} --workers ${options.workers}`],
		});
	}
	const spec = resolveSpec({...savedForm(saved), workers: options.workers});
	const pending = journal.nodes.some(n => n.state === 'deleting');
	if (spec.workers === saved.workers && !pending) {
		io.stdout.write(`${options.name} already has ${counted(spec.workers, 'worker')}: nothing to do\n`);
		return 0;
	}
	const shrinking = spec.workers < saved.workers || pending;
	if (shrinking) {
		await confirmOrStop(io, {
			yes: options.yes,
			what: `removing nodes from ${options.name}`,
			command: `swarmbee scale ${options.name} --workers ${spec.workers}`,
			message: `Remove ${journal.nodes
				.filter(n => n.index > spec.workers)
				.map(n => n.name)
				.join(', ')} from ${options.name}? Every table is copied to the nodes that stay first.`,
			defaultAnswer: false,
			declined: 'nothing was removed.',
		});
	}
	// Growing creates machines: on a cloud, their price first.
	const provider = shrinking
		? undefined
		: await confirmCost(io, {
				yes: options.yes,
				store,
				spec,
				token: options.token,
				command: `swarmbee scale ${options.name} --workers ${spec.workers}`,
			});
	return runCluster(
		{
			store,
			spec,
			saved,
			provider,
			token: options.token,
			steps: shrinking ? scaleDownSteps : upSteps,
			command: 'scale',
			resume: `swarmbee scale ${options.name} --workers ${spec.workers}`,
			output: options.output,
			verbose: options.verbose,
			options: {provisionNewOnly: true},
			// Shrinking: the new count is remembered once the tables were found safe to move (a refusal changes nothing).
			...(shrinking ? {saveSpecAfter: 'evacuate'} : {}),
		},
		io,
	);
}
