import {InputError} from '../errors.js';
import {counted} from '../render/format.js';
import {confirmCost} from '../session/cost.js';
import {confirmOrStop, outputMode, type CommandIO, type OutputMode} from '../session/io.js';
import {clusterForRun, clusterStore} from '../session/open.js';
import {runPlan, watchAfterRun} from '../session/run.js';
import {planNodes, resolveSpec, savedForm} from '../spec.js';
import {pendingChange, scaleChange, scalePlan} from '../store/change.js';
import {evacuateStep} from '../../steps/tables.js';
import {repairAndScaleDownSteps, scaleDownSteps, upSteps} from '../../steps/index.js';
import {oneName, type CommandArgs} from './args.js';

const STEPS = {grow: upSteps, shrink: scaleDownSteps, 'repair-and-shrink': repairAndScaleDownSteps};

interface ScaleOptions {
	name: string;
	workers: string;
	yes: boolean;
	output: OutputMode;
	verbose: boolean;
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
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
		},
		io,
	);
}

/**
 * Grows or shrinks the worker count. Growing runs `up`'s steps for the new
 * nodes (machines → provision → join → a new database server pinned there
 * → the replication policy, which gives tables their replicas there where
 * they have fewer than it wants). Shrinking removes the last workers: every
 * table moves off their servers first, then the servers leave the stack,
 * then each node is drained, leaves the swarm and is deleted.
 */
async function scaleCommand(options: ScaleOptions, io: CommandIO): Promise<number> {
	const store = clusterStore(io);
	const saved = store.loadSpec(options.name);
	const journal = store.loadJournal(options.name);
	if (!saved || !journal || journal.state === 'down') {
		throw new InputError(`there is no running cluster named ${options.name}`, {
			nextSteps: [`create it: swarmbee up ${options.name} --workers ${options.workers}`],
		});
	}
	const spec = resolveSpec({...savedForm(saved), workers: options.workers});
	const plan = scalePlan(journal, spec.workers);
	if (spec.workers === saved.workers && plan.steps === 'grow' && !pendingChange(journal)) {
		io.stdout.write(`${options.name} already has ${counted(spec.workers, 'worker')}: nothing to do\n`);
		return 0;
	}
	const shrinking = plan.steps !== 'grow';
	const command = `swarmbee scale ${options.name} --workers ${spec.workers}`;
	if (shrinking) {
		await confirmOrStop(io, {
			yes: options.yes,
			what: `removing nodes from ${options.name}`,
			command,
			message: `Remove ${plan.leaving.join(', ')} from ${options.name}? Every table is copied to the nodes that stay first.`,
			defaultAnswer: false,
			declined: 'nothing was removed.',
		});
	}
	const session = await clusterForRun(spec, saved, io, {lock: `scale ${options.name}`});
	try {
		// Growing creates machines: on a cloud, their price first.
		if (!shrinking)
			await confirmCost(session, io, {
				yes: options.yes,
				command,
				adding: planNodes(spec)
					.filter(n => n.index > saved.workers)
					.map(n => n.name),
			});
		const result = await runPlan(
			session,
			{
				command: 'scale',
				steps: STEPS[plan.steps],
				resume: command,
				output: options.output,
				verbose: options.verbose,
				cluster: {
					done: 'ready',
					options: {provisionNewOnly: true},
					// Shrinking: the new count is remembered once the tables were found safe to move (a refusal changes nothing).
					...(shrinking ? {saveSpecAfter: evacuateStep} : {}),
					// What is asked is on disk before anything changes: an interrupted scale is told and resumed, never dropped.
					change: scaleChange(journal, spec.workers, command),
				},
			},
			io,
		);
		return await watchAfterRun(session, result, io, options.output);
	} finally {
		await session.close();
	}
}
