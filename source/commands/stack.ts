import {existsSync, readFileSync} from 'node:fs';
import {InputError} from '../errors.js';
import {swarmbeeHome} from '../paths.js';
import {ClusterStore} from '../store/cluster-store.js';
import {oneName, type CommandArgs, type CommandIO} from './io.js';

/** Prints the stack file swarmbee last rendered and deployed for the cluster. */
export async function run({positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const name = oneName('stack', positionals);
	const {paths, spec} = new ClusterStore(swarmbeeHome(io.env)).loadCluster(name);
	if (!existsSync(paths.stack)) {
		throw new InputError(`${name} has no stack file yet`, {
			nextSteps: [
				spec.database === 'none'
					? `it was built with --database none`
					: `run swarmbee up ${name}: the deploy step writes it`,
			],
		});
	}
	io.stdout.write(readFileSync(paths.stack, 'utf8'));
	return 0;
}
