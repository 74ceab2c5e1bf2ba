import {shellCommand, shq} from '../shell.js';
import {APP_LABEL, appOfService, KEY_LABEL, SIZE_LABEL, SOURCE_LABEL} from './names.js';

/**
 * What Swarm says about apps, and the command lines that change them, run
 * as root on a manager over SSH. Swarm is the record: every service, secret
 * and network of an app carries `swarmbee.app=APP`, so nothing about apps
 * is kept on this machine that could disagree with the cluster. Pure:
 * command lines and parsers, tested as values.
 */

const SECTION = '@@swarmbee ';

/**
 * One look at every app: the services (`docker service inspect`), their
 * replica counts (`docker service ls`: running/desired, running meaning
 * healthy where there is a health check), every stack's name, every app
 * secret, and the manager's clock (a deploy compares Swarm's times with it).
 */
export const appsLookCommand = [
	`echo ${shq(`${SECTION}now`)}`,
	"date -u +'%Y-%m-%dT%H:%M:%S.%NZ'",
	`echo ${shq(`${SECTION}services`)}`,
	`ids=$(docker service ls -q --filter ${shq(`label=${APP_LABEL}`)}); [ -z "$ids" ] || docker service inspect $ids`,
	`echo ${shq(`${SECTION}replicas`)}`,
	shellCommand(['docker', 'service', 'ls', '--filter', `label=${APP_LABEL}`, '--format', '{{json .}}']),
	`echo ${shq(`${SECTION}stacks`)}`,
	shellCommand(['docker', 'stack', 'ls', '--format', '{{.Name}}']),
	`echo ${shq(`${SECTION}secrets`)}`,
	`ids=$(docker secret ls -q --filter ${shq(`label=${APP_LABEL}`)}); [ -z "$ids" ] || docker secret inspect $ids`,
].join('\n');

interface ServiceJson {
	ID: string;
	CreatedAt: string;
	UpdatedAt: string;
	Spec: ServiceSpecJson;
	PreviousSpec?: ServiceSpecJson;
	UpdateStatus?: {State?: string; StartedAt?: string; CompletedAt?: string; Message?: string};
}

interface ServiceSpecJson {
	Name: string;
	Labels?: Record<string, string>;
	Mode?: {Replicated?: {Replicas?: number}; Global?: object};
	TaskTemplate?: {
		ContainerSpec?: {
			Image?: string;
			Env?: string[];
			Labels?: Record<string, string>;
			Secrets?: Array<{
				SecretID: string;
				SecretName: string;
				File?: {Name: string; UID: string; GID: string; Mode: number};
			}>;
		};
	};
}

interface SecretJson {
	ID: string;
	CreatedAt: string;
	Spec: {Name: string; Labels?: Record<string, string>};
}

/** One service of an app, as Swarm has it now. */
export interface AppService {
	/** `hello_web` */
	name: string;
	app: string;
	/** `web` */
	service: string;
	image: string;
	/** The stack file it was deployed from (absolute, on the machine that deployed it). */
	source?: string;
	mode: 'replicated' | 'global';
	/** Tasks running (healthy, where there is a health check) and wanted, as `docker service ls` counts them. */
	running: number;
	desired: number;
	createdAt: string;
	updatedAt: string;
	/** Whether the last spec change changed what the tasks run (then Swarm rolls them). */
	tasksChanged: boolean;
	update?: {state: string; startedAt?: string; message?: string};
	/** Secrets the tasks get: the Swarm secret and the file under /run/secrets. */
	secrets: Array<{id: string; name: string; target: string; uid: string; gid: string; mode: number}>;
	/** The environment's variable names (never their values: they are not swarmbee's to show). */
	env: string[];
}

/** One secret of an app (a version of one key: rotation makes a new one). */
export interface AppSecret {
	id: string;
	name: string;
	app: string;
	key: string;
	/** Bytes of the value, as `set` recorded it (Swarm never gives a value back). */
	size?: number;
	createdAt: string;
}

export interface SwarmApps {
	/** The manager's clock when it answered (ISO). */
	now: string;
	services: AppService[];
	/** Every Swarm stack's name, swarmbee's database and apps deployed by hand included. */
	stacks: string[];
	secrets: AppSecret[];
}

function sections(text: string): Map<string, string> {
	const found = new Map<string, string>();
	let name: string | undefined;
	let lines: string[] = [];
	for (const line of text.split('\n')) {
		if (line.startsWith(SECTION)) {
			if (name !== undefined) found.set(name, lines.join('\n'));
			name = line.slice(SECTION.length).trim();
			lines = [];
		} else lines.push(line);
	}
	if (name !== undefined) found.set(name, lines.join('\n'));
	return found;
}

function jsonArray<T>(text: string | undefined): T[] {
	const trimmed = (text ?? '').trim();
	return trimmed.startsWith('[') ? (JSON.parse(trimmed) as T[]) : [];
}

function jsonLines<T>(text: string | undefined): T[] {
	return (text ?? '')
		.split('\n')
		.filter(line => line.trim().startsWith('{'))
		.map(line => JSON.parse(line) as T);
}

/** `3/3`, `2/3 (max 1 per node)`: running and desired. */
function replicaCounts(text: string | undefined): {running: number; desired: number} {
	const match = /^(\d+)\/(\d+)/.exec(text ?? '');
	return match ? {running: Number(match[1]), desired: Number(match[2])} : {running: 0, desired: 0};
}

/** What `appsLookCommand` printed. */
export function parseAppsLook(text: string): SwarmApps {
	const found = sections(text);
	const replicas = new Map(
		jsonLines<{Name: string; Replicas: string}>(found.get('replicas')).map(s => [s.Name, replicaCounts(s.Replicas)]),
	);
	const services: AppService[] = [];
	for (const s of jsonArray<ServiceJson>(found.get('services'))) {
		const labels = s.Spec.Labels ?? {};
		const named = appOfService(s.Spec.Name);
		const app = labels[APP_LABEL] ?? named?.app;
		if (!app) continue;
		const container = s.Spec.TaskTemplate?.ContainerSpec ?? {};
		const counts = replicas.get(s.Spec.Name) ?? {running: 0, desired: s.Spec.Mode?.Replicated?.Replicas ?? 0};
		services.push({
			name: s.Spec.Name,
			app,
			service: named?.app === app ? named.service : s.Spec.Name,
			image: (container.Image ?? '').replace(/@sha256:[0-9a-f]+$/, ''),
			...(labels[SOURCE_LABEL] ? {source: labels[SOURCE_LABEL]} : {}),
			mode: s.Spec.Mode?.Global ? 'global' : 'replicated',
			running: counts.running,
			desired: counts.desired,
			createdAt: s.CreatedAt,
			updatedAt: s.UpdatedAt,
			tasksChanged:
				s.PreviousSpec !== undefined &&
				JSON.stringify(s.PreviousSpec.TaskTemplate) !== JSON.stringify(s.Spec.TaskTemplate),
			...(s.UpdateStatus?.State
				? {
						update: {
							state: s.UpdateStatus.State,
							...(s.UpdateStatus.StartedAt ? {startedAt: s.UpdateStatus.StartedAt} : {}),
							...(s.UpdateStatus.Message ? {message: s.UpdateStatus.Message} : {}),
						},
					}
				: {}),
			secrets: (container.Secrets ?? []).map(ref => ({
				id: ref.SecretID,
				name: ref.SecretName,
				target: ref.File?.Name ?? ref.SecretName,
				uid: ref.File?.UID ?? '0',
				gid: ref.File?.GID ?? '0',
				mode: ref.File?.Mode ?? 0o444,
			})),
			env: (container.Env ?? []).map(entry => entry.split('=')[0]!),
		});
	}
	const secrets: AppSecret[] = jsonArray<SecretJson>(found.get('secrets')).flatMap(s => {
		const labels = s.Spec.Labels ?? {};
		const app = labels[APP_LABEL];
		const key = labels[KEY_LABEL];
		if (!app || !key) return [];
		const size = Number(labels[SIZE_LABEL]);
		return [{id: s.ID, name: s.Spec.Name, app, key, ...(Number.isFinite(size) ? {size} : {}), createdAt: s.CreatedAt}];
	});
	return {
		now: (found.get('now') ?? '').trim(),
		services: services.sort((a, b) => a.name.localeCompare(b.name)),
		stacks: (found.get('stacks') ?? '')
			.split('\n')
			.map(line => line.trim())
			.filter(Boolean),
		secrets: secrets.sort((a, b) => a.key.localeCompare(b.key) || a.createdAt.localeCompare(b.createdAt)),
	};
}

/** The app names Swarm knows, with their services. */
export function appNames(apps: SwarmApps): string[] {
	return [...new Set(apps.services.map(s => s.app))].sort();
}

/** The newest version of each key of an app: what a deploy maps the key to. */
export function currentSecrets(apps: SwarmApps, app: string): Map<string, AppSecret> {
	const current = new Map<string, AppSecret>();
	for (const secret of apps.secrets.filter(s => s.app === app)) {
		const seen = current.get(secret.key);
		if (!seen || seen.createdAt < secret.createdAt) current.set(secret.key, secret);
	}
	return current;
}

/** Deploys (or updates) an app's stack; services no longer in the file are removed. */
export function appDeployCommand(remoteFile: string, app: string, resolveImage: 'always' | 'never'): string {
	return shellCommand(['docker', 'stack', 'deploy', '--prune', '--resolve-image', resolveImage, '-c', remoteFile, app]);
}

/** The folder on the manager where app stack files are uploaded (root only). */
export const REMOTE_APPS_DIR = '/root/.swarmbee/apps';

export function remoteStackFile(app: string): string {
	return `${REMOTE_APPS_DIR}/${app}.yml`;
}

/**
 * Creates a secret whose value comes on stdin (never in a command line),
 * labelled with its app, key and size; an existing one of the same name
 * (same content) is left as it is.
 */
export function secretCreateCommand(secret: {name: string; app: string; key: string; size: number}): string {
	const create = shellCommand([
		'docker',
		'secret',
		'create',
		'--label',
		`${APP_LABEL}=${secret.app}`,
		'--label',
		`${KEY_LABEL}=${secret.key}`,
		'--label',
		`${SIZE_LABEL}=${secret.size}`,
		secret.name,
		'-',
	]);
	return `${shellCommand(['docker', 'secret', 'inspect', secret.name])} >/dev/null 2>&1 || ${create} >/dev/null`;
}

export function secretRemoveCommand(names: readonly string[]): string {
	return shellCommand(['docker', 'secret', 'rm', ...names]);
}

/**
 * Moves a service from one version of a secret to another in one rolling
 * update (the service's own update_config: one task at a time, the new one
 * started first where deploy set it): same file, owner and mode.
 */
export function secretSwapCommand(
	service: string,
	from: {name: string; target: string; uid: string; gid: string; mode: number},
	to: string,
): string {
	return shellCommand([
		'docker',
		'service',
		'update',
		'--detach',
		'--quiet',
		'--secret-rm',
		from.name,
		'--secret-add',
		`source=${to},target=${from.target},uid=${from.uid},gid=${from.gid},mode=${from.mode.toString(8).padStart(4, '0')}`,
		service,
	]);
}

/** Removes an app's stack (services, then its networks as Swarm lets them go). */
export function appRemoveCommand(app: string): string {
	return shellCommand(['docker', 'stack', 'rm', app]);
}

/** What is left of a removed stack: its services and networks, one name a line. */
export function stackLeftoversCommand(app: string): string {
	const filter = `label=com.docker.stack.namespace=${app}`;
	return [
		shellCommand(['docker', 'service', 'ls', '-q', '--filter', filter]),
		shellCommand(['docker', 'network', 'ls', '-q', '--filter', filter]),
	].join('; ');
}

/** The newest tasks of a service with their errors (a deploy that does not converge says why). */
export function serviceTasksCommand(services: readonly string[]): string {
	return services.length === 0
		? 'true'
		: shellCommand(['docker', 'service', 'ps', '--no-trunc', '--format', '{{json .}}', ...services]);
}

export interface TaskLine {
	ID: string;
	Name: string;
	Node: string;
	DesiredState: string;
	CurrentState: string;
	Error: string;
}

export function parseTasks(text: string): TaskLine[] {
	return jsonLines<TaskLine>(text).map(t => ({...t, Error: (t.Error ?? '').replace(/^"(.*)"$/, '$1')}));
}
