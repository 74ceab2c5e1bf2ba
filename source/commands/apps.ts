import {appViews, formatApps} from '../apps/list.js';
import {appsLookCommand, parseAppsLook} from '../apps/swarm.js';
import type {CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {oneName, type CommandArgs} from './args.js';

/** `swarmbee apps NAME`: every app, its services and replicas, and its secrets' keys (--json: all of it). */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const name = oneName('apps', positionals);
	const session = await openCluster(name, io, {needs: ['ssh'], verb: 'list the apps of'});
	try {
		const {shell} = await session.manager();
		const views = appViews(parseAppsLook(await shell.run(appsLookCommand)));
		if (values.json) io.stdout.write(`${JSON.stringify({cluster: name, apps: views})}\n`);
		else io.stdout.write(`${formatApps(name, views).join('\n')}\n`);
		return 0;
	} finally {
		await session.close();
	}
}
