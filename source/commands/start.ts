import {swarmbeeHome} from '../paths.js';
import {ClusterStore} from '../store/cluster-store.js';
import {inquirerPrompts} from '../wizard/prompts.js';
import {runStartScreen} from '../wizard/start.js';
import type {CommandArgs, CommandIO} from './io.js';

/**
 * `swarmbee` alone in a terminal: the start screen, then what was picked,
 * as the command line it stands for (a new cluster is `up` without a name:
 * the wizard).
 */
export async function run({commands, dispatch}: CommandArgs, io: CommandIO): Promise<number> {
	const choice = await runStartScreen(await inquirerPrompts(io.stdout), new ClusterStore(swarmbeeHome(io.env)), commands);
	if (choice.kind === 'quit') return 0;
	return dispatch(choice.kind === 'new' ? ['up'] : choice.argv);
}
