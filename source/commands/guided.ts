import {InputError} from '../errors.js';
import type {CommandIO} from '../main.js';
import {swarmbeeHome} from '../paths.js';
import type {SpecInput} from '../spec.js';
import {ClusterStore} from '../store/cluster-store.js';
import {catalogsFor, type CatalogFor} from '../wizard/catalog.js';
import {ProfileStore} from '../wizard/profiles.js';
import {inquirerPrompts, type WizardPrompts} from '../wizard/prompts.js';
import {runStartScreen} from '../wizard/start.js';
import {runWizard, TOKEN_ENV} from '../wizard/wizard.js';
import {upCommand} from './up.js';

/** The flags that answer what the wizard would ask, for the error shown when nobody can be asked. */
export const UP_FLAGS = 'swarmbee up NAME [--provider local|digitalocean] [--workers N] [--managers 1|3] [--size SLUG] [--region SLUG] [--image SLUG] [--memory-limit SIZE] [--database rethinkdb|none] [--rethinkdb-image IMAGE] [--profile NAME] --yes';

export function noTerminalError(what: string): InputError {
	return new InputError(`${what} needs answers, and there is no terminal to ask in`, {
		nextSteps: [
			`pass them as flags: ${UP_FLAGS}`,
			`for DigitalOcean, put the token in $${TOKEN_ENV}`,
			'or run swarmbee in a terminal to be asked',
		],
	});
}

export interface GuidedDeps {
	prompts?: WizardPrompts;
	catalogFor?: CatalogFor;
}

/**
 * The wizard, then `up` with its answers (already confirmed). The token
 * goes to the provider through the environment of this process only.
 */
export async function wizardUp(io: CommandIO, deps: GuidedDeps = {}): Promise<number> {
	if (!io.interactive) throw noTerminalError('creating a cluster');
	const home = swarmbeeHome(io.env);
	const result = await runWizard({
		prompts: deps.prompts ?? await inquirerPrompts(io.stdout),
		catalogFor: deps.catalogFor ?? catalogsFor(io.env),
		clusters: new ClusterStore(home),
		profiles: new ProfileStore(home),
		env: io.env,
	});
	// The token goes to the provider in memory, never into argv, a file or the environment of children.
	const {name, ...spec} = result.spec;
	return upCommand({name, input: spec, yes: true, output: 'tty', verbose: false, ...(result.token ? {token: result.token} : {})}, io);
}

/** `up NAME --profile P`: the profile's answers, with flags given on top. */
export function inputFromProfile(io: CommandIO, profileName: string, flags: SpecInput): SpecInput {
	const profiles = new ProfileStore(swarmbeeHome(io.env));
	const profile = profiles.get(profileName);
	if (!profile) {
		const known = profiles.list().map(p => p.name);
		throw new InputError(`there is no profile named ${profileName}`, {
			nextSteps: [known.length > 0 ? `saved profiles: ${known.join(', ')}` : 'profiles are saved by the wizard: run swarmbee in a terminal'],
		});
	}
	const token = profiles.loadToken(profileName);
	if (token && !io.env[TOKEN_ENV]) io.env[TOKEN_ENV] = token;
	const {savedAt: _savedAt, ...answers} = profile;
	const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
	return {...answers, ...given};
}

/** `swarmbee` alone in a terminal: the start screen, then what was picked. */
export async function startCommand(io: CommandIO, commands: readonly string[], run: (argv: string[]) => Promise<number>, deps: GuidedDeps = {}): Promise<number> {
	const prompts = deps.prompts ?? await inquirerPrompts(io.stdout);
	const choice = await runStartScreen(prompts, new ClusterStore(swarmbeeHome(io.env)), commands);
	if (choice.kind === 'quit') return 0;
	if (choice.kind === 'new') return wizardUp(io, {...deps, prompts});
	return run(choice.argv);
}
