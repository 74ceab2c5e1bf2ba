import {secretViews, formatSecrets} from '../apps/list.js';
import {checkAppName, checkSecretKey, secretName} from '../apps/names.js';
import {checkSecretValue, contentHash, readSecretFile, readSecretStream, secretNameKey} from '../apps/secrets.js';
import {appsLookCommand, parseAppsLook} from '../apps/swarm.js';
import {InputError} from '../errors.js';
import {outputMode, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {appContext, removeSecretStep, setSecretSteps, type SecretContext} from '../../steps/apps.js';
import type {CommandArgs} from './args.js';

const USAGE = [
	'swarmbee secret NAME set APP KEY < FILE   (or --from-file FILE; in a terminal, asked for)',
	'swarmbee secret NAME ls APP',
	'swarmbee secret NAME rm APP KEY',
];

/**
 * `swarmbee secret NAME set|ls|rm APP KEY`: an app's own secrets, kept by
 * Swarm (encrypted in its Raft log, given only to the tasks that use them,
 * on tmpfs). `set` on a key that exists is a rotation: the services that use
 * it roll one task at a time onto the new value. The value comes from stdin
 * or --from-file, never argv, and is never shown.
 */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, action, app, key, ...rest] = positionals;
	if (!name || !action || !app || rest.length > 0 || !['set', 'ls', 'rm'].includes(action))
		throw new InputError('secret takes a cluster, set|ls|rm, an app and (for set and rm) a key', {nextSteps: USAGE});
	checkAppName(app, `swarmbee secret ${name} ${action}`);
	if (action === 'ls') {
		if (key) throw new InputError('secret ls takes no key', {nextSteps: [`swarmbee secret ${name} ls ${app}`]});
		return listSecrets(name, app, Boolean(values.json), io);
	}
	if (!key) throw new InputError(`secret ${action} needs the key`, {nextSteps: USAGE});
	checkSecretKey(key);
	const value = action === 'set' ? await readValue(values['from-file'], io) : undefined;
	const session = await openCluster(name, io, {needs: ['ssh'], lock: `secret ${action} ${name} ${app} ${key}`});
	try {
		const context: SecretContext = {
			...appContext(session),
			app,
			key,
			...(value
				? {value, name: secretName(app, key, contentHash(secretNameKey(session.paths.keysDir), app, key, value))}
				: {}),
		};
		const {code} = await runPlan(
			session,
			{
				command: `secret ${action}`,
				steps: action === 'set' ? setSecretSteps : [removeSecretStep],
				context,
				resume: `swarmbee secret ${name} ${action} ${app} ${key}${action === 'set' ? ' (with the value again)' : ''}`,
				output: outputMode(values, io),
			},
			io,
		);
		return code;
	} finally {
		await session.close();
	}
}

/** The value: --from-file, else standard input; a terminal is asked (masked), never echoed. */
async function readValue(fromFile: string | boolean | undefined, io: CommandIO): Promise<Buffer> {
	if (typeof fromFile === 'string') return readSecretFile(fromFile);
	const stdin = (io.stdin ?? process.stdin) as NodeJS.ReadStream;
	if (stdin.isTTY) {
		if (!io.interactive)
			throw new InputError('the value is read from standard input, which is a terminal here', {
				nextSteps: ['pipe it in (… < FILE) or use --from-file FILE'],
			});
		const {password} = await import('@inquirer/prompts');
		const typed = await password({message: 'Value (not shown)', mask: '*'});
		return checkSecretValue(Buffer.from(typed, 'utf8'), 'the terminal');
	}
	return readSecretStream(stdin);
}

async function listSecrets(name: string, app: string, json: boolean, io: CommandIO): Promise<number> {
	const session = await openCluster(name, io, {needs: ['ssh']});
	try {
		const {shell} = await session.manager();
		const secrets = secretViews(parseAppsLook(await shell.run(appsLookCommand)), app);
		if (json) io.stdout.write(`${JSON.stringify({cluster: name, app, secrets})}\n`);
		else io.stdout.write(`${formatSecrets(name, app, secrets).join('\n')}\n`);
		return 0;
	} finally {
		await session.close();
	}
}
