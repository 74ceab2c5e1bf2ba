import path from 'node:path';
import {
	countAppRows,
	dropAppDatabase,
	ensureAppDatabase,
	newAppPassword,
	passwordHash,
	readAppDatabase,
} from '../source/apps/database.js';
import {waitForApp, timeOf} from '../source/apps/converge.js';
import {loadImages, localImageIds, nodeImageIds, planImages, type ImagePlan} from '../source/apps/images.js';
import {DATABASE_PASSWORD_KEY, databaseName, databaseUser, secretName} from '../source/apps/names.js';
import {
	checkStackFile,
	renderAppStack,
	StackFileError,
	type CheckedStack,
	type StackFile,
	type StackProblem,
} from '../source/apps/stack-file.js';
import {
	appDeployCommand,
	appNames,
	appRemoveCommand,
	appsLookCommand,
	currentSecrets,
	parseAppsLook,
	parseTasks,
	REMOTE_APPS_DIR,
	remoteStackFile,
	secretCreateCommand,
	secretRemoveCommand,
	secretSwapCommand,
	serviceTasksCommand,
	stackLeftoversCommand,
	type SwarmApps,
} from '../source/apps/swarm.js';
import {pause} from '../source/concurrency.js';
import {DRIVER_PORT, serviceName} from '../source/database/stack.js';
import type {DatabaseSession} from '../source/database/rethinkdb.js';
import type {DockerEngine} from '../source/docker/cli.js';
import {InputError} from '../source/errors.js';
import {writeFileAtomic} from '../source/files.js';
import {OVERLAY_NETWORK} from '../source/nodes/overlay.js';
import {connectToManager} from '../source/nodes/targets.js';
import {counted} from '../source/render/format.js';
import {formatBytes} from '../source/render/table-progress.js';
import type {ClusterSpec} from '../source/spec.js';
import type {RemoteShell, NodeShells} from '../source/ssh/shell.js';
import {liveNodes, type Journal} from '../source/store/journal.js';
import type {Step, StepIO} from './types.js';

/**
 * The steps of `load`, `deploy`, `undeploy` and `secret`: an app's images,
 * its stack, its database user and its secrets, over the session's SSH to a
 * manager. Nothing here keeps state of its own: Swarm's labels say which
 * services, secrets and networks are whose.
 */
export interface AppContext {
	cluster: string;
	spec: Pick<ClusterSpec, 'name' | 'database'>;
	journal: Readonly<Journal>;
	ssh: NodeShells;
	docker: DockerEngine;
	/** Nodes pull from registries (DigitalOcean); local nodes cannot. */
	canPull: boolean;
	/** The session's admin connection to the database, opened at first use. */
	database: () => Promise<DatabaseSession>;
	/** Where this machine keeps a copy of each app's rendered stack file. */
	appsDir: string;
	/** Swarm's view of every app, as the last step that asked saw it. */
	look?: SwarmApps;
}

/** The manager's shell and a fresh look at every app. */
async function lookAt(ctx: AppContext, signal: AbortSignal): Promise<{shell: RemoteShell; apps: SwarmApps}> {
	const {shell} = await connectToManager(ctx.journal, ctx.ssh, signal);
	const apps = parseAppsLook(await shell.run(appsLookCommand, {signal}));
	ctx.look = apps;
	return {shell, apps};
}

/** Per node, what loading images onto it is doing. */
function nodeProgress(io: StepIO): (node: string, message: string, done: boolean) => void {
	return (node, message, done) => io.node(node).state(done ? 'ready' : 'loading', message);
}

// ─── load ────────────────────────────────────────────────────────────────────

export interface LoadContext extends AppContext {
	images: Array<{tag: string; id: string}>;
}

export const loadStep: Step<LoadContext> = {
	id: 'load',
	title: 'Load images onto the nodes',
	async run(ctx, io) {
		const nodes = liveNodes(ctx.journal);
		const results = await loadImages({
			docker: ctx.docker,
			ssh: ctx.ssh,
			nodes,
			images: ctx.images,
			signal: io.signal,
			onNode: nodeProgress(io),
		});
		const loaded = results.reduce((sum, r) => sum + r.loaded.length, 0);
		return {
			changed: loaded > 0,
			summary: results
				.map(r =>
					r.loaded.length === 0
						? `${r.tag}: on all ${nodes.length} nodes already`
						: `${r.tag}: loaded onto ${r.loaded.join(', ')}${r.present.length > 0 ? ` (${r.present.length} had it)` : ''}`,
				)
				.join('; '),
		};
	},
};

// ─── deploy ──────────────────────────────────────────────────────────────────

export interface DeployContext extends AppContext {
	app: string;
	/** The app name was given (--app): an app of that name is updated, wherever it was deployed from. */
	appGiven: boolean;
	stack: StackFile;
	/** The stack file's absolute path. */
	source: string;
	allowHostAccess: boolean;
	checked?: CheckedStack;
	images?: ImagePlan;
	passwordSecret?: string;
	/** The manager's clock just before `docker stack deploy` (ms). */
	deployedAt?: number;
}

/** Where the problems found on the cluster point: the service's line in the file. */
function serviceLine(ctx: DeployContext, service: string): number | undefined {
	return ctx.stack.line(['services', service]);
}

export const checkAppStep: Step<DeployContext> = {
	id: 'check',
	title: 'Check the stack file',
	async run(ctx, io) {
		const checked = checkStackFile(ctx.stack, {allowHostAccess: ctx.allowHostAccess, overlay: OVERLAY_NETWORK});
		ctx.checked = checked;
		for (const warning of checked.warnings) io.warn(warning);
		const {apps} = await lookAt(ctx, io.signal);
		const problems: StackProblem[] = [];

		// The app's name: not a stack swarmbee did not make, not another project's app.
		const mine = apps.services.filter(s => s.app === ctx.app);
		if (mine.length === 0 && apps.stacks.includes(ctx.app))
			throw new InputError(`a Swarm stack named ${ctx.app} exists on ${ctx.cluster}, and swarmbee did not deploy it`, {
				nextSteps: [`deploy under another name: swarmbee deploy ${ctx.cluster} ${ctx.stack.file} --app OTHER`],
			});
		const elsewhere = mine.find(s => s.source !== undefined && s.source !== ctx.source);
		if (!ctx.appGiven && elsewhere)
			throw new InputError(
				`app ${ctx.app} on ${ctx.cluster} was deployed from ${elsewhere.source}, not ${ctx.source}`,
				{
					hint: 'two projects whose folders have the same name would replace each other',
					nextSteps: [
						`another app: swarmbee deploy ${ctx.cluster} ${ctx.stack.file} --app OTHER`,
						`the same app, moved: swarmbee deploy ${ctx.cluster} ${ctx.stack.file} --app ${ctx.app}`,
					],
				},
			);

		// Service names are aliases on the shared overlay: one app's `web` must not answer for another's.
		for (const service of checked.services) {
			const other = apps.services.find(s => s.app !== ctx.app && s.service === service);
			if (other)
				problems.push({
					line: serviceLine(ctx, service),
					message: `service ${service}: app ${other.app} has a service of that name, and both would answer to it on the ${OVERLAY_NETWORK} overlay`,
					fix: `rename it (e.g. ${ctx.app}-${service})`,
				});
		}

		// Secrets the file names must have been set.
		const secrets = currentSecrets(apps, ctx.app);
		for (const {key, line} of checked.secrets) {
			if (!secrets.has(key))
				problems.push({
					...(line ? {line} : {}),
					message: `secret ${key} has no value on ${ctx.cluster} yet`,
					fix: `set it first: swarmbee secret ${ctx.cluster} set ${ctx.app} ${key} < FILE (or --from-file FILE)`,
				});
		}

		// Images: here, on the nodes, or pulled by nodes that can.
		const references = [...new Set(checked.images.map(i => i.image))];
		const local = await localImageIds(ctx.docker, references, io.signal);
		const onNodes = await nodeImageIds(
			ctx.ssh,
			liveNodes(ctx.journal),
			references.filter(image => !local.get(image)),
			io.signal,
		);
		const images = planImages({
			images: checked.images,
			local,
			nodes: onNodes,
			canPull: ctx.canPull,
			cluster: ctx.cluster,
		});
		problems.push(...images.problems);
		if (problems.length > 0) throw new StackFileError(ctx.stack.file, problems);
		ctx.images = images.plan;
		return {
			changed: false,
			summary: `${counted(checked.services.length, 'service')} (${checked.services.join(', ')}), ${counted(references.length, 'image')}${checked.secrets.length > 0 ? `, ${counted(checked.secrets.length, 'secret')}` : ''}; app ${ctx.app} ${mine.length > 0 ? 'exists: updated in place' : 'is new'}`,
		};
	},
};

export const appImagesStep: Step<DeployContext> = {
	id: 'images',
	title: 'Load images onto the nodes',
	async run(ctx, io) {
		const plan = ctx.images!;
		if (plan.load.length === 0)
			return {
				changed: false,
				summary: plan.pulled.length > 0 ? `the nodes pull ${plan.pulled.join(', ')}` : 'every image is on the nodes',
			};
		const results = await loadImages({
			docker: ctx.docker,
			ssh: ctx.ssh,
			nodes: liveNodes(ctx.journal),
			images: plan.load,
			signal: io.signal,
			onNode: nodeProgress(io),
		});
		const loaded = results.filter(r => r.loaded.length > 0);
		return {
			changed: loaded.length > 0,
			summary:
				loaded.length === 0
					? `every image is on every node (${results.map(r => r.tag).join(', ')})`
					: loaded.map(r => `${r.tag} loaded onto ${r.loaded.join(', ')}`).join('; '),
		};
	},
};

export const appDatabaseStep: Step<DeployContext> = {
	id: 'database',
	title: 'The app’s database user',
	async run(ctx, io) {
		if (ctx.spec.database === 'none' || !ctx.journal.database)
			return {changed: false, summary: 'skipped: the cluster has no database'};
		const {shell, apps} = await lookAt(ctx, io.signal);
		const existing = currentSecrets(apps, ctx.app).get(DATABASE_PASSWORD_KEY);
		const {connection} = await ctx.database();
		const state = await readAppDatabase(connection, ctx.app);
		// The password cannot be read back from the database nor from Swarm: a user
		// with its secret is left as it is; one whose secret is gone gets a new password.
		const password = existing && state.userExists ? undefined : newAppPassword();
		let secret = existing?.name;
		if (password !== undefined) {
			secret = secretName(ctx.app, DATABASE_PASSWORD_KEY, passwordHash(password));
			await shell.run(
				secretCreateCommand({name: secret, app: ctx.app, key: DATABASE_PASSWORD_KEY, size: password.length}),
				{signal: io.signal, stdin: password},
			);
		}
		const changed = await ensureAppDatabase(connection, ctx.app, password);
		ctx.passwordSecret = secret;
		const user = databaseUser(ctx.app);
		const db = databaseName(ctx.app);
		return {
			changed: changed.createdDb || changed.newPassword,
			summary: changed.createdUser
				? `user ${user} created with read, write and config on database ${db} only; its password is in a Swarm secret`
				: changed.newPassword
					? `user ${user}: its password secret was gone, so it has a new one`
					: `user ${user} on database ${db}, unchanged`,
		};
	},
};

/** The cluster CA's Swarm secret, once the database speaks TLS (the `tls` work): none yet. */
function caSecret(_ctx: AppContext): string | undefined {
	return undefined;
}

export const appDeployStep: Step<DeployContext> = {
	id: 'deploy',
	title: 'Deploy the stack',
	async run(ctx, io) {
		const {signal} = io;
		const {shell, apps} = await lookAt(ctx, signal);
		const secrets = new Map([...currentSecrets(apps, ctx.app)].map(([key, s]) => [key, s.name]));
		const nodes = liveNodes(ctx.journal).map(n => n.name);
		const ca = caSecret(ctx);
		const stack = renderAppStack(ctx.stack, {
			app: ctx.app,
			source: ctx.source,
			overlay: OVERLAY_NETWORK,
			imageIds: ctx.images!.ids,
			secrets,
			...(ctx.passwordSecret
				? {
						database: {
							host: `${serviceName('{{.Node.Hostname}}')}`,
							hosts: nodes.map(serviceName),
							port: DRIVER_PORT,
							db: databaseName(ctx.app),
							user: databaseUser(ctx.app),
							passwordSecret: ctx.passwordSecret,
							...(ca ? {caSecret: ca} : {}),
						},
					}
				: {}),
		});
		const local = path.join(ctx.appsDir, `${ctx.app}.yml`);
		writeFileAtomic(local, stack, 0o600);
		await shell.run(`mkdir -p -m 700 ${REMOTE_APPS_DIR}`, {signal});
		await shell.upload(remoteStackFile(ctx.app), stack, 0o600);
		const resolve = ctx.images!.ids.size > 0 ? 'never' : 'always';
		const output = await shell.run(
			`date -u +'%Y-%m-%dT%H:%M:%S.%NZ'; ${appDeployCommand(remoteStackFile(ctx.app), ctx.app, resolve)}`,
			{signal, onStdout: line => (line.startsWith('20') ? undefined : io.progress(line))},
		);
		ctx.deployedAt = timeOf(output.split('\n')[0]!.trim());
		return {changed: true, summary: `docker stack deploy ${ctx.app} on the manager (stack file: ${local})`};
	},
};

/** Removes versions of the app's secrets that are neither current nor used by a service. */
async function tidySecrets(ctx: AppContext, app: string, shell: RemoteShell, signal: AbortSignal): Promise<number> {
	const apps = parseAppsLook(await shell.run(appsLookCommand, {signal}));
	const current = new Set([...currentSecrets(apps, app).values()].map(s => s.id));
	const used = new Set(apps.services.flatMap(s => s.secrets.map(ref => ref.id)));
	const stale = apps.secrets.filter(s => s.app === app && !current.has(s.id) && !used.has(s.id));
	if (stale.length > 0) await shell.run(secretRemoveCommand(stale.map(s => s.name)), {signal});
	ctx.look = apps;
	return stale.length;
}

/** How waitForApp watches the services from the manager's shell, and says what it sees as the step's progress. */
function watchOn(shell: RemoteShell, io: StepIO) {
	const {signal} = io;
	return {
		look: async () => parseAppsLook(await shell.run(appsLookCommand, {signal})),
		tasks: async (services: string[]) => parseTasks(await shell.run(serviceTasksCommand(services), {signal})),
		onProgress: (message: string) => io.progress(message),
		signal,
	};
}

export const appReadyStep: Step<DeployContext> = {
	id: 'ready',
	title: 'Every replica ready',
	async run(ctx, io) {
		const {signal} = io;
		const {shell} = await connectToManager(ctx.journal, ctx.ssh, signal);
		const ready = await waitForApp({
			app: ctx.app,
			cluster: ctx.cluster,
			services: ctx.checked!.services,
			since: ctx.deployedAt!,
			...watchOn(shell, io),
		});
		const removed = await tidySecrets(ctx, ctx.app, shell, signal);
		return {
			changed: false,
			summary: `${ready.map(s => `${s.service} ${s.running}/${s.desired}`).join(', ')}${removed > 0 ? `; ${counted(removed, 'old secret version')} removed` : ''}`,
		};
	},
};

export const deploySteps = [checkAppStep, appImagesStep, appDatabaseStep, appDeployStep, appReadyStep];

// ─── undeploy ────────────────────────────────────────────────────────────────

export interface UndeployContext extends AppContext {
	app: string;
	dropData: boolean;
}

export const removeAppStep: Step<UndeployContext> = {
	id: 'remove',
	title: 'Remove the app’s services',
	async run(ctx, io) {
		const {signal} = io;
		const {shell, apps} = await lookAt(ctx, signal);
		const services = apps.services.filter(s => s.app === ctx.app);
		if (services.length === 0) return {changed: false, summary: `${ctx.app} has no services`};
		await shell.run(appRemoveCommand(ctx.app), {signal});
		// `docker stack rm` returns at once; its networks go once their tasks have stopped.
		for (;;) {
			const left = (await shell.run(stackLeftoversCommand(ctx.app), {signal})).trim();
			if (left === '') break;
			io.progress(`waiting for ${left.split('\n').length} of its services and networks to go`);
			await pause(1000, signal);
		}
		return {
			changed: true,
			summary: `${counted(services.length, 'service')} removed (${services.map(s => s.service).join(', ')})`,
		};
	},
};

export const dropAppDataStep: Step<UndeployContext> = {
	id: 'drop-data',
	title: 'Drop the app’s database and user',
	async run(ctx, io) {
		const {signal} = io;
		if (!ctx.dropData) return {changed: false, summary: 'kept (undeploy --drop-data drops it)'};
		const {connection} = await ctx.database();
		const rows = await countAppRows(connection, ctx.app);
		await dropAppDatabase(connection, ctx.app);
		const {shell, apps} = await lookAt(ctx, signal);
		const passwords = apps.secrets.filter(s => s.app === ctx.app && s.key === DATABASE_PASSWORD_KEY);
		if (passwords.length > 0) await shell.run(secretRemoveCommand(passwords.map(s => s.name)), {signal});
		const total = rows.tables.reduce((sum, t) => sum + t.rows, 0);
		return {
			changed: true,
			summary: `database ${rows.db} (${counted(rows.tables.length, 'table')}, ${counted(total, 'row')}) dropped, user ${databaseUser(ctx.app)} removed`,
		};
	},
};

export const undeploySteps = [removeAppStep, dropAppDataStep];

// ─── secret ──────────────────────────────────────────────────────────────────

export interface SecretContext extends AppContext {
	app: string;
	key: string;
	/** The value (set): never in a command line, an event or an error. */
	value?: Buffer;
	/** Its Swarm name: app, key and a keyed hash of the value. */
	name?: string;
}

export const createSecretStep: Step<SecretContext> = {
	id: 'secret',
	title: 'Store the secret in Swarm',
	async run(ctx, io) {
		const {shell, apps} = await lookAt(ctx, io.signal);
		const exists = apps.secrets.some(s => s.name === ctx.name);
		const size = ctx.value!.length;
		if (!exists)
			await shell.run(secretCreateCommand({name: ctx.name!, app: ctx.app, key: ctx.key, size}), {
				signal: io.signal,
				stdin: ctx.value!,
			});
		return {
			changed: !exists,
			summary: `${ctx.key} of ${ctx.app}: ${formatBytes(size)}${exists ? ', the same value as before (unchanged)' : ', stored as a new Swarm secret'}`,
		};
	},
};

export const rotateSecretStep: Step<SecretContext> = {
	id: 'rotate',
	title: 'Roll the services that use it',
	async run(ctx, io) {
		const {signal} = io;
		const {shell, apps} = await lookAt(ctx, signal);
		const versions = new Set(apps.secrets.filter(s => s.app === ctx.app && s.key === ctx.key).map(s => s.id));
		const users = apps.services
			.filter(s => s.app === ctx.app)
			.flatMap(s => s.secrets.filter(ref => versions.has(ref.id) && ref.name !== ctx.name).map(ref => ({s, ref})));
		for (const {s, ref} of users) {
			const now = parseAppsLook(await shell.run(appsLookCommand, {signal})).now;
			io.progress(`${s.service}: one task at a time onto the new value`);
			await shell.run(secretSwapCommand(s.name, ref, ctx.name!), {signal});
			await waitForApp({
				app: ctx.app,
				cluster: ctx.cluster,
				services: [s.service],
				since: timeOf(now),
				expectUpdate: new Set([s.service]),
				...watchOn(shell, io),
			});
		}
		const removed = await tidySecrets(ctx, ctx.app, shell, signal);
		return {
			changed: users.length > 0,
			summary:
				users.length === 0
					? `no service uses ${ctx.key} yet (a stack file names it under secrets:)`
					: `${users.map(u => u.s.service).join(', ')} now use${users.length === 1 ? 's' : ''} the new value${removed > 0 ? `; ${counted(removed, 'old version')} removed` : ''}`,
		};
	},
};

export const setSecretSteps = [createSecretStep, rotateSecretStep];

export const removeSecretStep: Step<SecretContext> = {
	id: 'remove',
	title: 'Remove the secret',
	async run(ctx, io) {
		const {shell, apps} = await lookAt(ctx, io.signal);
		const versions = apps.secrets.filter(s => s.app === ctx.app && s.key === ctx.key);
		if (versions.length === 0) return {changed: false, summary: `${ctx.app} has no secret ${ctx.key}`};
		const ids = new Set(versions.map(v => v.id));
		const users = apps.services.filter(s => s.app === ctx.app && s.secrets.some(ref => ids.has(ref.id)));
		if (users.length > 0)
			throw new InputError(`${ctx.key} is in use by ${users.map(s => s.name).join(', ')}`, {
				nextSteps: [
					`remove it from the stack file and deploy (swarmbee deploy ${ctx.cluster} FILE --app ${ctx.app}), then remove it`,
				],
			});
		await shell.run(secretRemoveCommand(versions.map(v => v.name)), {signal: io.signal});
		return {changed: true, summary: `${ctx.key} of ${ctx.app} removed (${counted(versions.length, 'version')})`};
	},
};

/** The apps there are, for the messages that name one that is not. */
export function knownApps(apps: SwarmApps): string {
	const names = appNames(apps);
	return names.length === 0 ? 'there are no apps yet' : `apps: ${names.join(', ')}`;
}

/** What the app steps need of a cluster session (the session itself is the command's). */
export function appContext(session: {
	spec: ClusterSpec;
	journal: {value: Readonly<Journal>};
	ssh: NodeShells;
	docker: DockerEngine;
	provider: {capabilities: {pullImages: boolean}};
	database: () => Promise<DatabaseSession>;
	paths: {dir: string};
}): AppContext {
	return {
		cluster: session.spec.name,
		spec: session.spec,
		journal: session.journal.value,
		ssh: session.ssh,
		docker: session.docker,
		canPull: session.provider.capabilities.pullImages,
		database: () => session.database(),
		appsDir: path.join(session.paths.dir, 'apps'),
	};
}
