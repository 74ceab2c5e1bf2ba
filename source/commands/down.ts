import {InputError} from '../errors.js';
import {counted} from '../render/format.js';
import {confirmOrStop, outputMode, type CommandIO, type OutputMode} from '../session/io.js';
import {clusterForRun, clusterStore} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {resolveSpec} from '../spec.js';
import {downSteps} from '../../steps/index.js';
import {oneName, type CommandArgs} from './args.js';

interface DownOptions {
	name: string;
	yes: boolean;
	/** Also remove resources of this name that another swarmbee state made. */
	force: boolean;
	/** Also delete the saved configuration and keys. */
	forget: boolean;
	output: OutputMode;
	verbose: boolean;
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	return downCommand(
		{
			name: oneName('down', positionals),
			yes: Boolean(values.yes),
			force: Boolean(values.force),
			forget: Boolean(values.forget),
			output: outputMode(values, io),
			verbose: Boolean(values.verbose),
		},
		io,
	);
}

/**
 * Removes every machine, network and volume carrying the cluster's label,
 * then lists by label again to prove nothing is left: a run of the destroy
 * step through the same orchestrator and renderers as `up` (so `--json` is
 * the same event stream). The saved spec stays (so `up` can rebuild the same
 * cluster) unless --forget.
 */
async function downCommand(options: DownOptions, io: CommandIO): Promise<number> {
	const store = clusterStore(io);
	const journal = store.loadJournal(options.name);
	// Without a saved spec, --force removes what the journal's provider holds
	// (a DigitalOcean cluster's droplets, not local containers of that name);
	// with neither file, no state says which provider: only local containers.
	const saved = store.loadSpec(options.name);
	const spec =
		saved ??
		(options.force ? resolveSpec({name: options.name, ...(journal ? {provider: journal.provider} : {})}) : undefined);
	if (!spec || (!journal && !options.force)) {
		throw new InputError(`there is no cluster named ${options.name} in ${store.home}`, {
			nextSteps: [
				'swarmbee ls lists the clusters swarmbee knows',
				`to remove resources labelled swarmbee.cluster=${options.name} that another state made: swarmbee down ${options.name} --force`,
			],
		});
	}
	if (!journal && !saved) {
		io.stderr.write(
			`no saved state of ${options.name} in ${store.home} says which provider it is on: only local containers labelled swarmbee.cluster=${options.name} are looked for (for droplets, run down where their state is: SWARMBEE_HOME)\n`,
		);
	}
	const nodes = journal?.nodes.filter(n => n.state !== 'planned').length ?? 0;
	await confirmOrStop(io, {
		yes: options.yes,
		what: `removing cluster ${options.name}`,
		command: `swarmbee down ${options.name}`,
		message: `Remove ${options.name} and its ${counted(nodes, 'node')}? Data on them is lost.`,
		defaultAnswer: false,
		declined: 'nothing was removed.',
	});
	const dir = store.paths(options.name).dir;
	const session = await clusterForRun(spec, spec, io, {lock: `down ${options.name}`});
	let code: number;
	try {
		const result = await runPlan(
			session,
			{
				command: 'down',
				steps: downSteps,
				resume: `swarmbee down ${options.name}`,
				output: options.output,
				verbose: options.verbose,
				cluster: {done: 'down', options: {removeForeign: options.force}},
			},
			io,
		);
		code = result.code;
		// Only once everything is gone: a failed or cut-off down leaves the owner
		// id, the cluster key and the spec, which the next `down` needs to find
		// and remove what is still billed.
		if (options.forget && result.outcome.outcome === 'done') store.forget(options.name);
	} finally {
		await session.close();
	}
	if (options.output === 'plain') {
		const said =
			code === 0
				? options.forget
					? undefined
					: `the saved configuration stays in ${dir}; swarmbee up ${options.name} rebuilds it (--forget removes it)`
				: options.forget
					? `the saved state stays in ${dir} until everything is removed: swarmbee down ${options.name} --forget again removes both`
					: undefined;
		if (said) io.stdout.write(`${said}\n`);
	}
	return code;
}
