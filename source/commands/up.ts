import type {EmergencyRepair} from '../database/tables.js';
import {InputError} from '../errors.js';
import {swarmbeeHome} from '../paths.js';
import {confirmCost} from '../session/cost.js';
import {outputMode, type CommandIO, type OutputMode} from '../session/io.js';
import {clusterForRun, clusterStore, credentialsOf} from '../session/open.js';
import {runPlan, watchAfterRun} from '../session/run.js';
import {providerCredential} from '../providers/credentials.js';
import {PROVIDER_NAMES, profileFlagsUsage, specInputFromFlags} from '../spec-fields.js';
import {checkName, specForRun, type SpecInput} from '../spec.js';
import {ClusterStore} from '../store/cluster-store.js';
import type {CatalogFor} from '../wizard/catalog.js';
import type {WizardPrompts} from '../wizard/prompts.js';
import {decideChange} from '../store/change.js';
import {evacuateStep} from '../../steps/tables.js';
import {repairAndScaleDownSteps, upSteps} from '../../steps/index.js';
import {oneName, type CommandArgs} from './args.js';

export interface UpOptions {
	name: string;
	input: SpecInput;
	yes: boolean;
	output: OutputMode;
	verbose: boolean;
	/** Run the playbook on every node even when what was applied is unchanged. */
	reprovision?: boolean;
	/** Let RethinkDB recover tables that lost their majority (only with --yes). */
	emergencyRepair?: EmergencyRepair;
	/** Tables to drop because every server that held them is gone (`--drop-lost-tables`). */
	dropLostTables?: string[];
	/** After the wizard: errors are said in the words of its questions, not of flags. */
	reword?: (text: string) => string;
}

const REPAIRS: EmergencyRepair[] = ['unsafe_rollback', 'unsafe_rollback_or_erase'];

/**
 * `--emergency-repair MODE`: data may be lost, so it is taken only with
 * `--yes` on the same command line, never from a prompt's default.
 */
function emergencyRepairOption(value: unknown, yes: boolean, cluster = 'NAME'): {emergencyRepair?: EmergencyRepair} {
	if (value === undefined) return {};
	const mode = String(value) as EmergencyRepair;
	if (!REPAIRS.includes(mode)) {
		throw new InputError(`--emergency-repair ${String(value)} is not a repair RethinkDB offers`, {
			nextSteps: [`use ${REPAIRS.join(' or ')}: swarmbee up ${cluster} --emergency-repair unsafe_rollback --yes`],
		});
	}
	if (!yes) {
		throw new InputError(`--emergency-repair ${mode} can lose data and needs --yes on the same command line`, {
			hint: 'unsafe_rollback keeps what the surviving replicas hold: writes only the lost servers had are gone; unsafe_rollback_or_erase also empties the shards of a table that have no surviving replica, where others of its shards survive. A table with no surviving replica at all cannot be repaired: swarmbee says it is lost (restore it from a backup, or drop it with --drop-lost-tables).',
			nextSteps: [`swarmbee up ${cluster} --emergency-repair ${mode} --yes`],
		});
	}
	return {emergencyRepair: mode};
}

/** `--drop-lost-tables DB.TABLE[,DB.TABLE…]` (the flag may repeat): each name checked for its shape here, for being lost by the tables step. */
function dropLostTablesOption(value: unknown): {dropLostTables?: string[]} {
	if (value === undefined) return {};
	const names = (Array.isArray(value) ? value : [value]).flatMap(v => String(v).split(',')).map(v => v.trim());
	const bad = names.filter(n => !/^[A-Za-z0-9_]+\.[A-Za-z0-9_]+$/.test(n));
	if (names.length === 0 || bad.length > 0)
		throw new InputError(
			`--drop-lost-tables needs tables named DB.TABLE${bad.length > 0 ? `, not ${bad.map(b => JSON.stringify(b)).join(', ')}` : ''}`,
			{
				nextSteps: [
					'e.g. swarmbee up NAME --drop-lost-tables app.events,app.orders (only tables every server of which is gone)',
				],
			},
		);
	return {dropLostTables: [...new Set(names)]};
}

/** The error shown when answers are needed and nobody can be asked. */
function noTerminalError(what: string): InputError {
	return new InputError(`${what} needs answers, and there is no terminal to ask in`, {
		nextSteps: [
			`pass them as flags: swarmbee up NAME ${profileFlagsUsage()} [--profile NAME] --yes`,
			...PROVIDER_NAMES.flatMap(name => providerCredential(name)?.help ?? []),
			'or run swarmbee in a terminal to be asked',
		],
	});
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	if (positionals.length === 0) {
		if (!io.interactive || values.yes || values.json || values.plain)
			throw noTerminalError('up without a cluster name');
		// `up --profile P` without a name: the wizard, starting from the answers saved as P.
		return wizardUp(io, {}, typeof values.profile === 'string' ? values.profile : undefined);
	}
	const flags = specInputFromFlags(values);
	// The wizard's code (conf, inquirer, the catalog) loads only where it is used: conf's
	// dependencies take over SIGINT, which a run without it owns alone.
	let input = flags;
	if (typeof values.profile === 'string') {
		const {ProfileStore, profileInput} = await import('../wizard/profiles.js');
		input = profileInput(new ProfileStore(swarmbeeHome(io.env)), values.profile, flags, credentialsOf(io));
	}
	return upCommand(
		{
			name: oneName('up', positionals),
			input,
			yes: Boolean(values.yes),
			output: outputMode(values, io),
			verbose: Boolean(values.verbose),
			reprovision: Boolean(values.reprovision),
			...emergencyRepairOption(values['emergency-repair'], Boolean(values.yes), positionals[0]),
			...dropLostTablesOption(values['drop-lost-tables']),
		},
		io,
	);
}

export interface WizardDeps {
	prompts?: WizardPrompts;
	catalogFor?: CatalogFor;
}

/**
 * The wizard (from saved answers when `profile` names them), then `up` with
 * its answers (already confirmed). The credential it found or asked for
 * stays in memory. A create that stops before anything exists leaves the
 * answers as a profile: said here, and offered again by the start screen.
 */
async function wizardUp(io: CommandIO, deps: WizardDeps = {}, profile?: string): Promise<number> {
	if (!io.interactive) throw noTerminalError('creating a cluster');
	const [{catalogsFor}, {ProfileStore, savedAnswers}, {inquirerPrompts}, {runWizard, inAnswerWords}] =
		await Promise.all([
			import('../wizard/catalog.js'),
			import('../wizard/profiles.js'),
			import('../wizard/prompts.js'),
			import('../wizard/wizard.js'),
		]);
	const home = swarmbeeHome(io.env);
	const profiles = new ProfileStore(home);
	const clusters = new ClusterStore(home);
	const result = await runWizard({
		prompts: deps.prompts ?? (await inquirerPrompts(io.stdout)),
		catalogFor: deps.catalogFor ?? catalogsFor(io.env),
		clusters,
		profiles,
		env: io.env,
		credentials: credentialsOf(io),
		// savedAnswers says which profiles exist when there is none of that name.
		...(profile ? {from: {name: profile, answers: savedAnswers(profiles, profile, credentialsOf(io))}} : {}),
	});
	const {name, ...spec} = result.spec;
	const code = await upCommand(
		{name, input: spec, yes: true, output: 'tty', verbose: false, reword: inAnswerWords},
		io,
	);
	if (code !== 0 && !clusters.exists(name))
		io.stdout.write(
			`Nothing of ${name} was created; your answers are kept as profile ${name}. Run swarmbee to create it from them or change an answer first (swarmbee up --profile ${name}), or: swarmbee up ${name} --profile ${name}\n`,
		);
	return code;
}

async function upCommand(options: UpOptions, io: CommandIO): Promise<number> {
	const store = clusterStore(io);
	// A bad name is reported with every other problem of the flags, by resolveSpec.
	const saved = checkName(options.name) ? undefined : store.loadSpec(options.name);
	// An interrupted scale is resumed (or, asked for another count, said not to be): never dropped silently.
	const asked = specForRun(saved, options.name, options.input);
	const journal = saved ? store.loadJournal(options.name) : undefined;
	const change = journal && decideChange(journal, options.input.workers === undefined ? undefined : asked.workers);
	const spec = change?.resume ? {...asked, workers: change.workers} : asked;
	const shrinking = change?.resume === true && change.shrinking;
	const session = await clusterForRun(spec, saved, io, {lock: `up ${spec.name}`});
	try {
		// A new cluster is asked about; on a cloud, any run that would create machines shows their price first.
		await confirmCost(session, io, {yes: options.yes, command: `swarmbee up ${spec.name}`});
		const result = await runPlan(
			session,
			{
				command: 'up',
				steps: shrinking ? repairAndScaleDownSteps : upSteps,
				resume: `swarmbee up ${spec.name}`,
				output: options.output,
				verbose: options.verbose,
				cluster: {
					done: 'ready',
					options: {
						reprovision: options.reprovision ?? false,
						...(options.emergencyRepair ? {emergencyRepair: options.emergencyRepair} : {}),
						...(options.dropLostTables ? {dropLostTables: options.dropLostTables} : {}),
						...(change ? {notice: change.says} : {}),
					},
					// Resuming a scale-down: its count is saved once its tables were found safe to move, as scale's is.
					...(shrinking ? {saveSpecAfter: evacuateStep} : {}),
					...(change && !change.resume ? {change: null} : {}),
				},
			},
			io,
			options.reword ? {reword: options.reword} : {},
		);
		return await watchAfterRun(session, result, io, options.output);
	} finally {
		await session.close();
	}
}
