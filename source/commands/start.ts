import {swarmbeeHome} from '../paths.js';
import type {CommandIO} from '../session/io.js';
import {clusterStore, credentialsOf} from '../session/open.js';
import {catalogsFor} from '../wizard/catalog.js';
import {ProfileStore} from '../wizard/profiles.js';
import {inquirerPrompts} from '../wizard/prompts.js';
import {runStartScreen} from '../wizard/start.js';
import type {CommandArgs} from './args.js';

/**
 * `swarmbee` alone in a terminal: the start screen, then what was picked,
 * as the command line it stands for (a new cluster is `up` without a name:
 * the wizard).
 */
export async function run({commands, dispatch}: CommandArgs, io: CommandIO): Promise<number> {
	const home = swarmbeeHome(io.env);
	// Ctrl-C here has started nothing: it says so, rather than "nothing was created".
	const prompts = await inquirerPrompts(io.stdout, {cancelled: 'nothing was done.'});
	const choice = await runStartScreen(prompts, clusterStore(io), commands, {
		env: io.env,
		profiles: new ProfileStore(home),
		catalogFor: catalogsFor(io.env),
		credentials: credentialsOf(io),
	});
	if (choice.kind === 'quit') return 0;
	// A credential the start screen found or asked for stays in this process, for the command it runs.
	return dispatch(choice.kind === 'new' ? ['up'] : choice.argv);
}
