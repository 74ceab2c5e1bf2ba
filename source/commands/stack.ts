import {existsSync, readFileSync} from 'node:fs';
import {InputError} from '../errors.js';
import type {CommandIO} from '../main.js';
import {loadCluster} from './status.js';

/** Prints the stack file swarmbee last rendered and deployed for the cluster. */
export async function stackCommand(options: {name: string}, io: CommandIO): Promise<number> {
	const {paths, spec} = await loadCluster(options.name, io);
	if (!existsSync(paths.stack)) {
		throw new InputError(`${options.name} has no stack file yet`, {
			nextSteps: [spec.database === 'none' ? `it was built with --database none` : `run swarmbee up ${options.name}: the deploy step writes it`],
		});
	}
	io.stdout.write(readFileSync(paths.stack, 'utf8'));
	return 0;
}
