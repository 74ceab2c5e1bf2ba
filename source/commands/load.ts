import {imagesToLoad} from '../apps/images.js';
import {InputError} from '../errors.js';
import {outputMode, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {appContext, loadStep} from '../../steps/apps.js';
import type {CommandArgs} from './args.js';

/** `swarmbee load NAME IMAGE…`: images from this machine's engine onto every node that lacks them. */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, ...images] = positionals;
	if (!name || images.length === 0)
		throw new InputError('load takes a cluster name and one or more images', {
			nextSteps: ['e.g. swarmbee load demo hello:1'],
		});
	const session = await openCluster(name, io, {needs: ['ssh'], lock: `load ${name}`, verb: 'load images onto'});
	try {
		const found = await imagesToLoad(session.docker, images, name);
		const {code} = await runPlan(
			session,
			{
				command: 'load',
				steps: [loadStep],
				context: {...appContext(session), images: found},
				resume: `swarmbee load ${name} ${images.join(' ')}`,
				output: outputMode(values, io),
			},
			io,
		);
		return code;
	} finally {
		await session.close();
	}
}
