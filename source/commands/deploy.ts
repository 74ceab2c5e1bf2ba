import {existsSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {checkAppName, defaultAppName} from '../apps/names.js';
import {parseStackFile} from '../apps/stack-file.js';
import {InputError} from '../errors.js';
import {outputMode, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {appContext, deploySteps, type DeployContext} from '../../steps/apps.js';
import type {CommandArgs} from './args.js';

/**
 * `swarmbee deploy NAME FILE [--app APP] [--allow-host-access]`: a Compose
 * stack as the Swarm stack APP, checked whole before anything changes.
 */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, file, ...rest] = positionals;
	if (!name || !file || rest.length > 0)
		throw new InputError('deploy takes a cluster name and a stack file', {
			nextSteps: ['e.g. swarmbee deploy demo examples/hello/stack.yml (--app NAME: the app’s name)'],
		});
	if (!existsSync(file) || !statSync(file).isFile())
		throw new InputError(`${file} is not a file`, {nextSteps: ['give the path of a Compose file (stack.yml)']});
	const stack = parseStackFile(readFileSync(file, 'utf8'), {file, env: io.env});
	const given = typeof values.app === 'string' ? values.app : undefined;
	const named = typeof stack.data['name'] === 'string' ? stack.data['name'] : undefined;
	const app = given ?? named ?? defaultAppName(file);
	if (!app)
		throw new InputError(`no app name can be made from ${file}'s folder`, {
			nextSteps: [`name it: swarmbee deploy ${name} ${file} --app my-app`],
		});
	checkAppName(app, `swarmbee deploy ${name} ${file} --app`);
	const session = await openCluster(name, io, {needs: ['ssh'], lock: `deploy ${name}`, verb: 'deploy to'});
	try {
		const context: DeployContext = {
			...appContext(session),
			app,
			appGiven: given !== undefined || named !== undefined,
			stack,
			source: path.resolve(file),
			allowHostAccess: Boolean(values['allow-host-access']),
		};
		const {code} = await runPlan(
			session,
			{
				command: 'deploy',
				steps: deploySteps,
				context,
				resume: `swarmbee deploy ${name} ${file} --app ${app}`,
				output: outputMode(values, io),
			},
			io,
		);
		return code;
	} finally {
		await session.close();
	}
}
