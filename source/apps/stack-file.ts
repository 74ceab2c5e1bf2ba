import path from 'node:path';
import {isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, stringify, type Document} from 'yaml';
import {InputError} from '../errors.js';
import {ADMIN_PORT, CLUSTER_PORT, composeEscape, DRIVER_PORT} from '../database/stack.js';
import {APP_LABEL, IMAGE_LABEL, secretKeyProblem, SOURCE_LABEL} from './names.js';

/**
 * An app's stack file, the one place it is read, checked and rewritten for
 * the cluster (the edge's `x-swarmbee` routes will be read here too):
 *
 * - `parseStackFile`: Compose YAML, with the line of every value kept from
 *   the document's nodes, and `${VAR}` interpolated from this machine's
 *   environment (as Compose does; the manager's would be the wrong one);
 * - `checkStackFile`: every bad input found at once, each with its line and
 *   its fix, before anything is changed;
 * - `renderAppStack`: the file `docker stack deploy` gets on the manager.
 *
 * Pure: no file, no network.
 */

type Path = ReadonlyArray<string | number>;

/** One thing wrong with a stack file: where (line), what, and how to fix it. */
export interface StackProblem {
	line?: number;
	message: string;
	fix: string;
}

/** Every problem of a stack file, shown as `FILE:LINE: what` with a fix each. */
export class StackFileError extends InputError {
	constructor(
		readonly file: string,
		readonly problems: StackProblem[],
	) {
		const where = (p: StackProblem) => `${file}${p.line ? `:${p.line}` : ''}: ${p.message}`;
		const first = problems[0]!;
		super(problems.length === 1 ? where(first) : `${problems.length} problems in ${file}; nothing was changed`, {
			...(problems.length > 1 ? {hint: problems.map(where).join('\n')} : {}),
			nextSteps: problems.map(p => (problems.length > 1 && p.line ? `line ${p.line}: ${p.fix}` : p.fix)),
		});
	}
}

/** A parsed stack file: its values, interpolated, and the line each came from. */
export interface StackFile {
	/** As the user named it (shown in problems). */
	file: string;
	data: Record<string, unknown>;
	/** The line of the value at `path` (or of the nearest part of it that exists). */
	line(path: Path): number | undefined;
}

/** Ports swarmbee and the edge own: an app that publishes one is refused. */
export const OWNED_PORTS: ReadonlyMap<number, string> = new Map([
	[80, 'the edge’s (HTTP)'],
	[443, 'the edge’s (HTTPS)'],
	[DRIVER_PORT, 'the database’s driver port'],
	[CLUSTER_PORT, 'the database’s cluster port'],
	[ADMIN_PORT, 'the database’s web console'],
]);

/** The variables swarmbee gives every service of an app for its database. */
export const DATABASE_VARIABLES = [
	'RETHINKDB_HOST',
	'RETHINKDB_HOSTS',
	'RETHINKDB_PORT',
	'RETHINKDB_DB',
	'RETHINKDB_USER',
	'RETHINKDB_PASSWORD_FILE',
	'RETHINKDB_CA_FILE',
] as const;

const TOP_LEVEL = new Set(['version', 'name', 'services', 'networks', 'volumes', 'secrets', 'configs']);

/** Service keys deployed as written. */
const SERVICE_KEYS = new Set([
	'image',
	'command',
	'entrypoint',
	'environment',
	'healthcheck',
	'hostname',
	'init',
	'labels',
	'logging',
	'read_only',
	'stop_grace_period',
	'stop_signal',
	'sysctls',
	'tmpfs',
	'tty',
	'stdin_open',
	'ulimits',
	'user',
	'working_dir',
	'deploy',
	'networks',
	'ports',
	'secrets',
	'volumes',
	'extra_hosts',
	'dns',
	'dns_search',
	'domainname',
	'expose',
	'cap_drop',
	'cap_add',
	'privileged',
]);

/** Compose keys a Swarm service has no use for: dropped, with a warning saying what does the job there. */
const IGNORED_KEYS = new Map([
	['build', 'swarmbee deploys images: build it here (docker build -t TAG .), the deploy loads it'],
	['container_name', 'Swarm names the tasks itself'],
	['depends_on', 'Swarm starts services in no order: let the service wait for what it needs'],
	['restart', 'Swarm restarts tasks by deploy.restart_policy'],
	['links', 'services find each other by name on their networks'],
	['external_links', 'services find each other by name on their networks'],
	['profiles', 'every service of the file is deployed'],
	['pull_policy', 'nodes use the image swarmbee loaded (or pull it where they can)'],
	['mem_limit', 'use deploy.resources.limits.memory'],
	['cpus', 'use deploy.resources.limits.cpus'],
	['shm_size', 'Swarm services have no shm_size'],
	['mac_address', 'Swarm services have no fixed MAC address'],
	['platform', 'Swarm picks the image for each node'],
]);

/** Keys that reach into the node itself: refused, with why. */
const HOST_KEYS = new Map([
	['pid', 'shares the node’s processes'],
	['ipc', 'shares the node’s IPC namespace'],
	['userns_mode', 'changes the user namespace'],
	['devices', 'hands the node’s devices to the container'],
	['security_opt', 'changes the container’s confinement'],
	['cgroup_parent', 'places the container in the node’s cgroups'],
]);

/** Host paths whose mount hands over the node's Docker engine (root on every node). */
const SOCKET_PATHS = new Set(['/', '/var', '/var/run', '/run']);

export interface ParseOptions {
	/** The file's name as shown in problems. */
	file: string;
	/** Where `${VAR}` is read from (this process's environment). */
	env: NodeJS.ProcessEnv;
}

/**
 * Reads a stack file's text: YAML errors become problems with their line
 * (thrown together as one StackFileError), and `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
 * `${VAR:+other}` and `$$` are interpolated as Compose does. A variable that
 * is not set and has no default is a problem here (Compose would put an
 * empty string in silently).
 */
export function parseStackFile(text: string, options: ParseOptions): StackFile {
	const lineCounter = new LineCounter();
	const doc = parseDocument(text, {lineCounter, merge: true, uniqueKeys: true});
	// The first YAML error only: the parser's later ones mostly follow from it.
	const problems: StackProblem[] = doc.errors.slice(0, 1).map(error => ({
		...(error.linePos ? {line: error.linePos[0].line} : {}),
		message: `not valid YAML: ${firstLine(error.message)}`,
		fix: 'a Compose file is YAML: keys and values as `key: value`, nesting by indentation with spaces (no tabs)',
	}));
	if (problems.length > 0) throw new StackFileError(options.file, problems);
	const line = (at: Path) => lineOf(doc, lineCounter, at);
	let value: unknown;
	try {
		value = doc.toJS({maxAliasCount: 100});
	} catch (error) {
		throw new StackFileError(options.file, [
			{message: `cannot be read: ${firstLine((error as Error).message)}`, fix: 'use fewer YAML aliases (*name)'},
		]);
	}
	if (!isRecord(value))
		throw new StackFileError(options.file, [
			{
				line: 1,
				message: 'is not a Compose file: its top level is not a mapping',
				fix: 'start with `services:` and one entry per service under it',
			},
		]);
	const data = interpolate(value, [], options.env, problems, line) as Record<string, unknown>;
	if (problems.length > 0) throw new StackFileError(options.file, problems);
	return {file: options.file, data, line};
}

function firstLine(text: string): string {
	return text.split('\n')[0]!.trim();
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The line of the node at `at`, or of the deepest key on the way there. */
function lineOf(doc: Document, counter: LineCounter, at: Path): number | undefined {
	let node: unknown = doc.contents;
	let found: number | undefined = startLine(node, counter);
	for (const segment of at) {
		if (isMap(node)) {
			const pair = node.items.find(p => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
			if (!pair) break;
			found = startLine(pair.key, counter) ?? found;
			node = pair.value;
			// A key's line, not its block's first line: `web:` rather than the line under it.
			if (!isScalar(node)) continue;
		} else if (isSeq(node) && typeof segment === 'number') {
			node = node.items[segment];
		} else break;
		found = startLine(node, counter) ?? found;
	}
	return found;
}

function startLine(node: unknown, counter: LineCounter): number | undefined {
	const range = (node as {range?: [number, number, number]} | null)?.range;
	return range ? counter.linePos(range[0]).line : undefined;
}

const VARIABLE = /\$(?:\$|\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))/g;
const BRACED = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([\s\S]*))?$/;

function interpolate(
	value: unknown,
	at: Path,
	env: NodeJS.ProcessEnv,
	problems: StackProblem[],
	line: (at: Path) => number | undefined,
): unknown {
	if (typeof value === 'string') return interpolateText(value, at, env, problems, line);
	if (Array.isArray(value)) return value.map((item, i) => interpolate(item, [...at, i], env, problems, line));
	if (isRecord(value))
		return Object.fromEntries(
			Object.entries(value).map(([key, item]) => [key, interpolate(item, [...at, key], env, problems, line)]),
		);
	return value;
}

function interpolateText(
	text: string,
	at: Path,
	env: NodeJS.ProcessEnv,
	problems: StackProblem[],
	line: (at: Path) => number | undefined,
): string {
	return text.replace(VARIABLE, (whole, braced: string | undefined, bare: string | undefined) => {
		if (whole === '$$') return '$';
		const expression = braced ?? bare!;
		const match = BRACED.exec(expression);
		if (!match) {
			problems.push({
				line: line(at),
				message: `${whole} is not a variable Compose can substitute`,
				fix: 'write ${NAME}, ${NAME:-default}, or $$ for a literal $',
			});
			return whole;
		}
		const [, name, operator, argument = ''] = match;
		const value = env[name!];
		const set = value !== undefined;
		const nonEmpty = set && value !== '';
		switch (operator) {
			case ':-':
				return nonEmpty ? value! : argument;
			case '-':
				return set ? value! : argument;
			case ':+':
				return nonEmpty ? argument : '';
			case '+':
				return set ? argument : '';
			case ':?':
			case '?':
				if (operator === ':?' ? nonEmpty : set) return value!;
				problems.push({
					line: line(at),
					message: `${name} is required${argument ? `: ${argument}` : ''}`,
					fix: `set ${name} in this shell before the deploy: ${name}=… swarmbee deploy …`,
				});
				return '';
			default:
				if (set) return value!;
				problems.push({
					line: line(at),
					message: `${name} is not set in this shell`,
					fix: `set it (export ${name}=…), give it a default (\${${name}:-value}), or write $$ for a literal $`,
				});
				return '';
		}
	});
}

/** One service's image and where the file names it. */
export interface ImageUse {
	service: string;
	image: string;
	line?: number;
}

/** What a checked stack file asks for. */
export interface CheckedStack {
	/** The file's own `name:`, when it has one (an app name when --app is not given). */
	name?: string;
	services: string[];
	images: ImageUse[];
	/** Secret keys the services use (each must have been set with `swarmbee secret set`). */
	secrets: Array<{key: string; line?: number}>;
	/** What was dropped or ignored, said once each. */
	warnings: string[];
}

export interface CheckOptions {
	/** `--allow-host-access`: bind mounts and cap_add are allowed. */
	allowHostAccess: boolean;
	/** The cluster's attachable overlay (`swarmbee`), which deploy attaches every service to. */
	overlay: string;
}

const SERVICE_NAME = /^[a-z][a-z0-9-]*$/;

/**
 * Every bad input of a stack file, each with its line and fix, thrown
 * together as one StackFileError before anything is changed; what is fine
 * comes back as what the deploy needs to know.
 */
export function checkStackFile(stack: StackFile, options: CheckOptions): CheckedStack {
	const {data, line} = stack;
	const problems: StackProblem[] = [];
	const warnings: string[] = [];
	const problem = (at: Path, message: string, fix: string) => problems.push({line: line(at), message, fix});

	for (const key of Object.keys(data)) {
		if (!TOP_LEVEL.has(key) && !key.startsWith('x-'))
			problem([key], `${key} is not a top-level key of a Compose file`, 'keep services, networks, volumes, secrets');
	}
	const name = typeof data['name'] === 'string' ? data['name'] : undefined;
	const services = data['services'];
	if (!isRecord(services) || Object.keys(services).length === 0) {
		problem(
			['services'],
			'has no services',
			'list them under services:, e.g.\n  services:\n    web:\n      image: my-app:1',
		);
		throw new StackFileError(stack.file, problems);
	}
	const declaredNetworks = isRecord(data['networks']) ? data['networks'] : {};
	const declaredSecrets = isRecord(data['secrets']) ? data['secrets'] : {};
	const images: ImageUse[] = [];
	const secrets = new Map<string, number | undefined>();

	for (const [service, body] of Object.entries(services)) {
		const at = ['services', service];
		if (!SERVICE_NAME.test(service) || service.length > 38) {
			problem(
				at,
				`${JSON.stringify(service)} is not a service name swarmbee deploys`,
				'use lower-case letters, digits and dashes, starting with a letter, at most 38 characters',
			);
			continue;
		}
		if (service.startsWith('rdb-')) {
			problem(
				at,
				`${service}: names starting with rdb- are the database servers’ on the overlay`,
				`rename the service (e.g. ${service.slice(4) || 'web'})`,
			);
		}
		if (!isRecord(body)) {
			problem(at, `${service} is not a mapping`, `give it at least an image: ${service}:\n    image: my-app:1`);
			continue;
		}
		checkService(service, body, at, options, problem, warnings);
		if (typeof body['image'] === 'string' && body['image'] !== '')
			images.push({service, image: body['image'], line: line([...at, 'image'])});
		for (const [i, ref] of listOf(body['secrets']).entries()) {
			const key = typeof ref === 'string' ? ref : isRecord(ref) ? ref['source'] : undefined;
			if (typeof key !== 'string') {
				problem([...at, 'secrets', i], 'a secret needs its name (source:)', 'write - KEY, or - source: KEY');
				continue;
			}
			if (!(key in declaredSecrets)) {
				problem(
					[...at, 'secrets', i],
					`secret ${key} is not declared under the top-level secrets:`,
					`add it:\n  secrets:\n    ${key}: {}\nand set its value: swarmbee secret NAME set APP ${key}`,
				);
				continue;
			}
			const target = isRecord(ref) && typeof ref['target'] === 'string' ? ref['target'] : key;
			if (target.startsWith('rethinkdb_'))
				problem(
					[...at, 'secrets', i],
					`target ${target}: /run/secrets/rethinkdb_* is where swarmbee puts the database credentials`,
					'choose another target',
				);
			if (!secrets.has(key)) secrets.set(key, line([...at, 'secrets', i]));
		}
		for (const [i, network] of networkNames(body['networks']).entries()) {
			if (network !== 'default' && network !== options.overlay && !(network in declaredNetworks))
				problem(
					[...at, 'networks', Array.isArray(body['networks']) ? i : network],
					`network ${network} is not declared under the top-level networks:`,
					`declare it (networks:\n    ${network}: {}) or remove it`,
				);
		}
	}

	for (const [network, body] of Object.entries(declaredNetworks)) {
		const at = ['networks', network];
		const external = isRecord(body) && body['external'] !== undefined && body['external'] !== false;
		const realName = isRecord(body) && typeof body['name'] === 'string' ? body['name'] : network;
		if (network === options.overlay || realName === options.overlay) {
			if (!external)
				problem(
					at,
					`${options.overlay} is the cluster’s overlay: it cannot be defined here`,
					'remove it: swarmbee attaches every service to it',
				);
			continue;
		}
		if (external && ['host', 'bridge', 'ingress', 'docker_gwbridge', 'swarmbee-db'].includes(realName))
			problem(
				at,
				`network ${realName} is ${realName === 'host' ? 'the node’s own network (host networking)' : 'not for applications'}`,
				'remove it: services talk on the app’s own network and on the cluster’s overlay',
			);
	}

	for (const [key, body] of Object.entries(declaredSecrets)) {
		const at = ['secrets', key];
		const keyProblem = secretKeyProblem(key);
		if (keyProblem) problem(at, keyProblem, 'rename the secret (here and where services name it)');
		if (body !== null && !isRecord(body)) {
			problem(at, `secret ${key} is not a mapping`, `declare it as ${key}: {}`);
			continue;
		}
		for (const field of ['file', 'environment', 'name', 'driver', 'template_driver'] as const) {
			if (isRecord(body) && body[field] !== undefined)
				problem(
					[...at, field],
					field === 'name'
						? `secret ${key} names a Swarm secret of its own: an app gets only the secrets set for it`
						: `secret ${key} takes its value from ${field === 'file' ? 'a file' : field === 'environment' ? 'the environment' : `a ${field}`}`,
					`remove ${field}: and set the value once with: swarmbee secret NAME set APP ${key} < FILE`,
				);
		}
	}

	if (data['configs'] !== undefined)
		problem(
			['configs'],
			'configs: are not deployed by swarmbee (their files would have to be on the manager)',
			'bake the file into the image, or keep it as a secret: swarmbee secret NAME set APP KEY --from-file FILE',
		);

	if (isRecord(data['volumes'])) {
		for (const [volume, body] of Object.entries(data['volumes'])) {
			const options_ = isRecord(body) && isRecord(body['driver_opts']) ? body['driver_opts'] : undefined;
			const device = options_?.['device'];
			if (typeof device === 'string' && device.startsWith('/'))
				checkHostPath(device, ['volumes', volume, 'driver_opts', 'device'], options, problem);
		}
	}

	if (problems.length > 0) throw new StackFileError(stack.file, problems);
	return {
		...(name === undefined ? {} : {name}),
		services: Object.keys(services),
		images,
		secrets: [...secrets].map(([key, at]) => ({key, line: at})),
		warnings,
	};
}

type ProblemAt = (at: Path, message: string, fix: string) => void;

function checkService(
	service: string,
	body: Record<string, unknown>,
	at: Path,
	options: CheckOptions,
	problem: ProblemAt,
	warnings: string[],
): void {
	for (const key of Object.keys(body)) {
		if (key.startsWith('x-') || SERVICE_KEYS.has(key)) continue;
		const ignored = IGNORED_KEYS.get(key);
		if (ignored) {
			if (key === 'build' && typeof body['image'] !== 'string') continue;
			warnings.push(`${service}: ${key} is not used on a swarm (${ignored})`);
			continue;
		}
		const host = HOST_KEYS.get(key);
		if (host) {
			problem([...at, key], `${service}: ${key} ${host}, which no app on the cluster may do`, `remove ${key}:`);
			continue;
		}
		if (key === 'network_mode') {
			problem(
				[...at, key],
				body[key] === 'host'
					? `${service}: network_mode: host puts the service on the node’s own network`
					: `${service}: network_mode is not used by Swarm services`,
				'remove network_mode: services talk on the app’s own network and on the cluster’s overlay (networks:)',
			);
			continue;
		}
		if (key === 'env_file') {
			problem(
				[...at, key],
				`${service}: env_file is read on the manager, where this file’s folder is not`,
				'put the variables under environment: (values that are secret: swarmbee secret NAME set APP KEY)',
			);
			continue;
		}
		if (key === 'configs') {
			problem(
				[...at, key],
				`${service}: configs are not deployed by swarmbee`,
				'bake the file into the image, or use a secret (swarmbee secret NAME set APP KEY --from-file FILE)',
			);
			continue;
		}
		problem([...at, key], `${service}: ${key} is not a key of a Swarm service`, `remove ${key}: or check its spelling`);
	}
	const image = body['image'];
	if (typeof image !== 'string' || image === '') {
		problem(
			[...at, body['build'] === undefined ? 'image' : 'build'],
			`${service} has no image${body['build'] === undefined ? '' : ' (build: is not deployed)'}`,
			`build it here and name it: docker build -t ${service}:1 . then image: ${service}:1`,
		);
	}
	if (body['privileged'] === true)
		problem(
			[...at, 'privileged'],
			`${service}: privileged gives the container every right on its node`,
			'remove privileged: (an app never gets its node’s full rights)',
		);
	if (body['cap_add'] !== undefined && !options.allowHostAccess)
		problem(
			[...at, 'cap_add'],
			`${service}: cap_add gives the container rights on its node`,
			'remove cap_add:, or deploy with --allow-host-access if the app truly needs them',
		);
	const environment = environmentOf(body['environment']);
	for (const variable of DATABASE_VARIABLES) {
		if (variable in environment)
			problem(
				[...at, 'environment', ...(Array.isArray(body['environment']) ? [] : [variable])],
				`${service}: ${variable} is set by swarmbee (the app’s own database user)`,
				`remove ${variable} from environment:`,
			);
	}
	for (const [i, volume] of listOf(body['volumes']).entries()) {
		const mount = parseVolume(volume);
		if (!mount) {
			problem([...at, 'volumes', i], `${service}: a volume must be SOURCE:TARGET or a mapping`, 'e.g. - data:/data');
			continue;
		}
		if (mount.type === 'bind' || (mount.source !== undefined && /^[./~]/.test(mount.source)))
			checkHostPath(mount.source ?? '', [...at, 'volumes', i], options, problem);
	}
	let ingress = false;
	for (const [i, port] of listOf(body['ports']).entries()) {
		const parsed = parsePort(port);
		if (!parsed) {
			problem(
				[...at, 'ports', i],
				`${service}: ${JSON.stringify(port)} is not a port`,
				'write "PUBLISHED:TARGET" (e.g. "8000:80") or target: and published:',
			);
			continue;
		}
		if (parsed.published.length > 0 && parsed.mode !== 'host') ingress = true;
		const owned = parsed.published.find(p => OWNED_PORTS.has(p));
		if (owned !== undefined)
			problem(
				[...at, 'ports', i],
				`${service}: port ${owned} is ${OWNED_PORTS.get(owned)}`,
				owned === 80 || owned === 443
					? 'publish another port (e.g. 8000): the edge will route HTTP and HTTPS to services'
					: 'publish another port: the database’s ports are never an app’s',
			);
	}
	const deploy = isRecord(body['deploy']) ? body['deploy'] : {};
	if (ingress && deploy['endpoint_mode'] === 'dnsrr')
		problem(
			[...at, 'deploy', 'endpoint_mode'],
			`${service}: endpoint_mode dnsrr cannot publish ports through Swarm’s routing mesh`,
			'publish with mode: host (long syntax), or remove endpoint_mode: dnsrr',
		);
}

function checkHostPath(source: string, at: Path, options: CheckOptions, problem: ProblemAt): void {
	const normalized = source.startsWith('/') ? path.posix.normalize(source).replace(/(.)\/$/, '$1') : source;
	if (SOCKET_PATHS.has(normalized) || /(^|\/)docker\.sock$/.test(normalized)) {
		problem(
			at,
			`mounts ${source}, which hands over the node’s Docker engine (root on every node)`,
			'remove the mount: no app on the cluster gets the Docker socket',
		);
		return;
	}
	if (!source.startsWith('/')) {
		problem(
			at,
			`mounts ${source}, a path on this machine: it would be looked for on the node the task runs on`,
			'use a named volume (e.g. - data:/data and volumes: {data: {}})',
		);
		return;
	}
	if (!options.allowHostAccess)
		problem(
			at,
			`mounts ${source} from the node the task runs on`,
			'use a named volume (e.g. - data:/data), or deploy with --allow-host-access if the app truly needs the node’s files',
		);
}

function listOf(value: unknown): unknown[] {
	return Array.isArray(value) ? value : [];
}

function networkNames(value: unknown): string[] {
	if (Array.isArray(value)) return value.filter((n): n is string => typeof n === 'string');
	if (isRecord(value)) return Object.keys(value);
	return [];
}

/** `environment:` as a map, from its map or its `- KEY=VALUE` list form. */
export function environmentOf(value: unknown): Record<string, string | null> {
	if (Array.isArray(value)) {
		return Object.fromEntries(
			value
				.filter((item): item is string => typeof item === 'string')
				.map(item => {
					const at = item.indexOf('=');
					return at < 0 ? [item, null] : [item.slice(0, at), item.slice(at + 1)];
				}),
		);
	}
	if (isRecord(value))
		return Object.fromEntries(
			Object.entries(value).map(([key, v]) => [key, v === null || v === undefined ? null : String(v)]),
		);
	return {};
}

/** A service volume: short `SOURCE:TARGET[:MODE]` or `TARGET`, or the long mapping. */
export function parseVolume(value: unknown): {type: string; source?: string; target: string} | undefined {
	if (typeof value === 'string') {
		const parts = value.split(':');
		if (parts.length === 1) return {type: 'volume', target: parts[0]!};
		const [source, target] = parts;
		if (!source || !target) return undefined;
		return {type: /^[./~]/.test(source) ? 'bind' : 'volume', source, target};
	}
	if (isRecord(value) && typeof value['target'] === 'string') {
		return {
			type: typeof value['type'] === 'string' ? value['type'] : 'volume',
			...(typeof value['source'] === 'string' ? {source: value['source']} : {}),
			target: value['target'],
		};
	}
	return undefined;
}

/**
 * The ports a `ports:` entry publishes on the nodes (none for a target
 * alone), from `"8000:80"`, `"127.0.0.1:8000:80/udp"`, `"8000-8002:80-82"`,
 * `80`, or the long mapping.
 */
export function parsePort(value: unknown): {published: number[]; mode: string} | undefined {
	if (typeof value === 'number') return Number.isInteger(value) ? {published: [], mode: 'ingress'} : undefined;
	if (typeof value === 'string') {
		const spec = value.replace(/\/(tcp|udp|sctp)$/, '');
		const parts = spec.split(':');
		if (parts.length > 3 || parts.some(p => p === '' && parts.length === 1)) return undefined;
		const target = range(parts.at(-1)!);
		if (!target) return undefined;
		if (parts.length === 1) return {published: [], mode: 'ingress'};
		const published = range(parts.at(-2)!);
		if (!published) return undefined;
		return {published, mode: 'ingress'};
	}
	if (isRecord(value)) {
		const target = Number(value['target']);
		if (!Number.isInteger(target)) return undefined;
		const mode = typeof value['mode'] === 'string' ? value['mode'] : 'ingress';
		if (value['published'] === undefined) return {published: [], mode};
		const published = range(String(value['published']));
		return published ? {published, mode} : undefined;
	}
	return undefined;
}

function range(text: string): number[] | undefined {
	const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
	if (!match) return undefined;
	const from = Number(match[1]);
	const to = match[2] === undefined ? from : Number(match[2]);
	if (from < 1 || to > 65535 || to < from) return undefined;
	return Array.from({length: to - from + 1}, (_, i) => from + i);
}

/** A secret as the app's services get it: the stack file's key, the Swarm secret it stands for, its file. */
export interface GrantedSecret {
	/** The top-level key in the rendered file. */
	key: string;
	/** The Swarm secret's name. */
	name: string;
	/** `/run/secrets/TARGET` */
	target: string;
}

/**
 * How an app reaches its database: the variables every service gets and the
 * secrets behind them. The cluster's CA (the database's TLS) slots in as one
 * more secret and `RETHINKDB_CA_FILE`.
 */
export interface DatabaseAccess {
	/** Each task's own node's server: `rdb-{{.Node.Hostname}}` (a Swarm template). */
	host: string;
	/** Every server's name on the overlay, for a client that fails over. */
	hosts: string[];
	port: number;
	db: string;
	user: string;
	/** The Swarm secret holding the user's password. */
	passwordSecret: string;
	/** The Swarm secret holding the cluster CA's PEM, once the database speaks TLS. */
	caSecret?: string;
}

/** The variables and secrets of an app's database access (RETHINKDB_*). */
export function databaseGrant(access: DatabaseAccess): {environment: Record<string, string>; secrets: GrantedSecret[]} {
	const secrets: GrantedSecret[] = [
		{key: 'swarmbee_rethinkdb_password', name: access.passwordSecret, target: 'rethinkdb_password'},
		...(access.caSecret ? [{key: 'swarmbee_rethinkdb_ca', name: access.caSecret, target: 'rethinkdb_ca.pem'}] : []),
	];
	return {
		environment: {
			RETHINKDB_HOST: access.host,
			RETHINKDB_HOSTS: access.hosts.join(','),
			RETHINKDB_PORT: String(access.port),
			RETHINKDB_DB: access.db,
			RETHINKDB_USER: access.user,
			RETHINKDB_PASSWORD_FILE: `/run/secrets/${secrets[0]!.target}`,
			...(access.caSecret ? {RETHINKDB_CA_FILE: `/run/secrets/${secrets[1]!.target}`} : {}),
		},
		secrets,
	};
}

export interface RenderInput {
	app: string;
	/** The stack file's absolute path (a label: an implicit app name is checked against it). */
	source: string;
	overlay: string;
	/** The image id each image reference is pinned to (a new build under the same tag rolls the service); none for an image nodes pull. */
	imageIds: ReadonlyMap<string, string>;
	/** The Swarm secret each key of the file stands for. */
	secrets: ReadonlyMap<string, string>;
	/** Absent when the cluster has no database. */
	database?: DatabaseAccess;
	/** The provider's VIPs work (real hosts): services that publish ports keep Swarm's VIP. */
}

/**
 * The stack `docker stack deploy` gets on the manager, e.g.:
 *
 *     version: "3.8"
 *     services:
 *       web:
 *         image: hello:1
 *         environment:
 *           RETHINKDB_HOST: rdb-{{.Node.Hostname}}
 *           RETHINKDB_HOSTS: rdb-queenbee,rdb-workerbee-1
 *           RETHINKDB_PORT: "28015"
 *           RETHINKDB_DB: hello
 *           RETHINKDB_USER: hello
 *           RETHINKDB_PASSWORD_FILE: /run/secrets/rethinkdb_password
 *         secrets: [session_key, {source: swarmbee_rethinkdb_password, target: rethinkdb_password}]
 *         networks: {default: {}, swarmbee: {}}
 *         labels: {swarmbee.image: "sha256:…"}
 *         deploy:
 *           replicas: 3
 *           endpoint_mode: dnsrr
 *           update_config: {order: start-first, failure_action: rollback}
 *           rollback_config: {order: start-first}
 *           labels: {swarmbee.app: hello, swarmbee.source: /home/me/hello/stack.yml}
 *     networks:
 *       swarmbee: {external: true, name: swarmbee}
 *     secrets:
 *       session_key: {external: true, name: hello_session_key_3f9a0c1d2e4b}
 *       swarmbee_rethinkdb_password: {external: true, name: hello_rethinkdb_password_…}
 *
 * Every `$` is doubled: the values were interpolated here already.
 */
export function renderAppStack(stack: StackFile, input: RenderInput): string {
	const data = stack.data;
	const grant = input.database ? databaseGrant(input.database) : undefined;
	const services: Record<string, unknown> = {};
	for (const [service, body] of Object.entries(data['services'] as Record<string, Record<string, unknown>>)) {
		const out: Record<string, unknown> = {};
		for (const [key, value] of Object.entries(body)) {
			if (key.startsWith('x-') || IGNORED_KEYS.has(key) || key === 'privileged') continue;
			out[key] = value;
		}
		if (grant) {
			out['environment'] = {...environmentOf(body['environment']), ...grant.environment};
			out['secrets'] = [...listOf(body['secrets']), ...grant.secrets.map(s => ({source: s.key, target: s.target}))];
		}
		out['networks'] = withOverlay(body['networks'], input.overlay);
		const id = input.imageIds.get(String(body['image']));
		if (id) out['labels'] = {...labelsOf(body['labels']), [IMAGE_LABEL]: id};
		out['deploy'] = deployDefaults(
			isRecord(body['deploy']) ? body['deploy'] : {},
			listOf(body['ports']).some(p => {
				const parsed = parsePort(p);
				return parsed !== undefined && parsed.published.length > 0 && parsed.mode !== 'host';
			}),
			{[APP_LABEL]: input.app, [SOURCE_LABEL]: input.source},
		);
		services[service] = out;
	}
	const networks = {
		...withoutExtensions(isRecord(data['networks']) ? data['networks'] : {}),
		[input.overlay]: {external: true, name: input.overlay},
	};
	const secrets: Record<string, unknown> = {};
	for (const key of Object.keys(isRecord(data['secrets']) ? data['secrets'] : {})) {
		const name = input.secrets.get(key);
		if (name) secrets[key] = {external: true, name};
	}
	for (const s of grant?.secrets ?? []) secrets[s.key] = {external: true, name: s.name};
	const volumes = isRecord(data['volumes']) ? withoutExtensions(data['volumes']) : undefined;
	const document = {
		version: '3.8',
		services,
		networks,
		...(volumes && Object.keys(volumes).length > 0 ? {volumes} : {}),
		...(Object.keys(secrets).length > 0 ? {secrets} : {}),
	};
	return [
		`# App ${input.app}, from ${input.source}, written by swarmbee. Deployed with:`,
		`#   docker stack deploy --prune -c FILE ${input.app}`,
		stringify(escapeDollars(document), {lineWidth: 0}),
	].join('\n');
}

function withOverlay(networks: unknown, overlay: string): unknown {
	if (Array.isArray(networks)) return [...new Set([...networks, overlay])];
	if (isRecord(networks)) return {...networks, [overlay]: networks[overlay] ?? null};
	return {default: null, [overlay]: null};
}

function labelsOf(value: unknown): Record<string, string> {
	return Object.fromEntries(Object.entries(environmentOf(value)).map(([key, v]) => [key, v ?? '']));
}

/**
 * What a service gets where its file says nothing: rolling updates that
 * start the new task before stopping the old one and roll back a failed
 * one, DNS round robin (no VIP: the nested engines here have no IPVS) for
 * services that publish nothing through the routing mesh, and the app's
 * labels.
 */
function deployDefaults(
	deploy: Record<string, unknown>,
	publishesIngress: boolean,
	labels: Record<string, string>,
): Record<string, unknown> {
	const update = isRecord(deploy['update_config']) ? deploy['update_config'] : {};
	const rollback = isRecord(deploy['rollback_config']) ? deploy['rollback_config'] : {};
	return {
		...deploy,
		...(deploy['endpoint_mode'] === undefined && !publishesIngress ? {endpoint_mode: 'dnsrr'} : {}),
		update_config: {order: 'start-first', failure_action: 'rollback', ...update},
		rollback_config: {order: 'start-first', ...rollback},
		labels: {...labelsOf(deploy['labels']), ...labels},
	};
}

function withoutExtensions(value: Record<string, unknown>): Record<string, unknown> {
	return Object.fromEntries(Object.entries(value).filter(([key]) => !key.startsWith('x-')));
}

function escapeDollars(value: unknown): unknown {
	if (typeof value === 'string') return composeEscape(value);
	if (Array.isArray(value)) return value.map(escapeDollars);
	if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)]));
	return value;
}
