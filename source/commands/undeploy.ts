import {countAppRows} from '../apps/database.js';
import {appViews} from '../apps/list.js';
import {checkAppName} from '../apps/names.js';
import {appsLookCommand, parseAppsLook} from '../apps/swarm.js';
import {InputError} from '../errors.js';
import {counted} from '../render/format.js';
import {confirmOrStop, outputMode, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {appContext, undeploySteps, type UndeployContext} from '../../steps/apps.js';
import type {CommandArgs} from './args.js';

/**
 * `swarmbee undeploy NAME APP [--drop-data] [--yes]`: the app's services
 * go; its database, user and secrets stay unless --drop-data, which says
 * how many rows it would drop and asks first.
 */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, app, ...rest] = positionals;
	if (!name || !app || rest.length > 0)
		throw new InputError('undeploy takes a cluster name and an app', {
			nextSteps: ['e.g. swarmbee undeploy demo hello'],
		});
	checkAppName(app, `swarmbee undeploy ${name}`);
	const dropData = Boolean(values['drop-data']);
	const session = await openCluster(name, io, {needs: ['ssh'], lock: `undeploy ${name} ${app}`, verb: 'undeploy from'});
	try {
		const {shell} = await session.manager();
		const views = appViews(parseAppsLook(await shell.run(appsLookCommand)));
		const view = views.find(v => v.name === app);
		const hasDatabase = session.spec.database !== 'none' && session.journal.value.database !== undefined;
		if (dropData) {
			if (!hasDatabase) throw new InputError(`${name} has no database: there is no data of ${app} to drop`);
			const rows = await countAppRows((await session.database()).connection, app);
			if (!view?.services.length && !rows.exists)
				throw new InputError(`${name} has neither an app nor a database named ${app}`, {
					nextSteps: [`swarmbee apps ${name} lists them`],
				});
			const total = rows.tables.reduce((sum, t) => sum + t.rows, 0);
			const what = rows.exists
				? `database ${rows.db} (${counted(rows.tables.length, 'table')}, ${counted(total, 'row')})`
				: `user ${rows.db} (its database is already gone)`;
			io.stderr.write(`undeploy --drop-data drops ${what} of ${name}; this cannot be undone.\n`);
			await confirmOrStop(io, {
				yes: Boolean(values.yes),
				what: `dropping ${what}`,
				command: `swarmbee undeploy ${name} ${app} --drop-data`,
				message: `Drop ${what}?`,
				defaultAnswer: false,
				declined: 'nothing was changed.',
			});
		} else if (!view?.services.length) {
			throw new InputError(`${name} has no app ${app} deployed`, {
				nextSteps: [
					views.length > 0 ? `apps: ${views.map(v => v.name).join(', ')}` : `${name} has no apps`,
					...(hasDatabase ? [`its data, if any: swarmbee undeploy ${name} ${app} --drop-data`] : []),
				],
			});
		}
		const context: UndeployContext = {...appContext(session), app, dropData};
		const {code} = await runPlan(
			session,
			{
				command: 'undeploy',
				steps: undeploySteps,
				context,
				resume: `swarmbee undeploy ${name} ${app}${dropData ? ' --drop-data --yes' : ''}`,
				output: outputMode(values, io),
			},
			io,
		);
		if (code === 0 && !dropData && outputMode(values, io) !== 'json' && hasDatabase)
			io.stdout.write(
				`${app}'s database, user and secrets are kept: deploy it again, or drop them with swarmbee undeploy ${name} ${app} --drop-data\n`,
			);
		return code;
	} finally {
		await session.close();
	}
}
