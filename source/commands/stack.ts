import {InputError} from '../errors.js';
import {readStateFile} from '../files.js';
import type {CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {oneName, type CommandArgs} from './args.js';

/** Prints the stack file swarmbee last rendered and deployed for the cluster. */
export async function run({positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const name = oneName('stack', positionals);
	// Files only: the session connects nowhere.
	const {paths, spec} = await openCluster(name, io);
	const stack = readStateFile(paths.stack);
	if (stack === undefined) {
		throw new InputError(`${name} has no stack file yet`, {
			nextSteps: [
				spec.database === 'none'
					? `it was built with --database none`
					: `run swarmbee up ${name}: the deploy step writes it`,
			],
		});
	}
	io.stdout.write(stack);
	return 0;
}
