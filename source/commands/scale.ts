import {CancelledError, InputError} from '../errors.js';
import type {CommandIO} from '../main.js';
import {swarmbeeHome} from '../paths.js';
import type {OutputMode} from '../render/index.js';
import {resolveSpec} from '../spec.js';
import {ClusterStore} from '../store/cluster-store.js';
import {scaleDownSteps, upSteps} from '../../steps/index.js';
import {confirm} from './interaction.js';
import {runCluster} from './run-cluster.js';

export interface ScaleOptions {
	name: string;
	workers: string;
	yes: boolean;
	output: OutputMode;
	verbose: boolean;
}

/**
 * Grows or shrinks the worker count. Growing runs `up`'s steps for the new
 * nodes (machines → provision → join → a new database server pinned there).
 * Shrinking removes the last workers: their database servers leave the
 * stack, then each node is drained, leaves the swarm and is deleted.
 */
export async function scaleCommand(options: ScaleOptions, io: CommandIO): Promise<number> {
	const store = new ClusterStore(swarmbeeHome(io.env));
	const saved = store.loadSpec(options.name);
	const journal = store.loadJournal(options.name);
	if (!saved || !journal || journal.state === 'down') {
		throw new InputError(`there is no running cluster named ${options.name}`, {nextSteps: [`create it: swarmbee up ${options.name} --workers ${options.workers}`]});
	}
	const spec = resolveSpec({...saved, workers: options.workers});
	const pending = journal.nodes.some(n => n.state === 'deleting');
	if (spec.workers === saved.workers && !pending) {
		io.stdout.write(`${options.name} already has ${spec.workers} worker${spec.workers === 1 ? '' : 's'}: nothing to do\n`);
		return 0;
	}
	const shrinking = spec.workers < saved.workers || pending;
	if (shrinking && !options.yes) {
		if (!io.interactive) throw new InputError(`removing nodes from ${options.name} needs confirmation, and there is no terminal to ask in`, {nextSteps: [`pass --yes: swarmbee scale ${options.name} --workers ${spec.workers} --yes`]});
		const gone = journal.nodes.filter(n => n.index > spec.workers).map(n => n.name);
		if (!(await confirm(`Remove ${gone.join(', ')} from ${options.name}? Their data is lost.`, false))) throw new CancelledError('nothing was removed.');
	}
	return runCluster({
		store,
		spec,
		saved,
		steps: shrinking ? scaleDownSteps : upSteps,
		command: 'scale',
		resume: `swarmbee scale ${options.name} --workers ${spec.workers}`,
		output: options.output,
		verbose: options.verbose,
		options: {provisionNewOnly: true},
		afterPreflight: ctx => {
			if (!shrinking) return;
			ctx.journal.update(j => {
				for (const node of j.nodes) if (node.index > spec.workers) node.state = 'deleting';
			});
		},
	}, io);
}
