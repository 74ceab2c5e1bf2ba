import {createHash} from 'node:crypto';
import {shellCommand, shq} from '../shell.js';
import {toYaml, type YamlValue} from './yaml.js';

/**
 * The RethinkDB stack: one Swarm service per database server, each pinned to
 * its node with its own volume, on the cluster's overlay with `dnsrr` (no VIP:
 * a VIP on eth0 confuses RethinkDB's addresses, and some kernels lack IPVS).
 * Nothing is published on any host port. See the reference notes on
 * RethinkDB on Swarm for why each choice is what it is.
 */

export const STACK_NAME = 'swarmbee';
export const DRIVER_PORT = 28015;
export const CLUSTER_PORT = 29015;
export const ADMIN_PORT = 8080;
/** Where the admin password reaches the first server: a Docker secret in rethinkdb's config-file syntax. */
export const PASSWORD_SECRET_TARGET = 'rethinkdb-admin.conf';

/** `rdb-workerbee-1`: the service (and DNS name on the overlay) of a node's server. */
export function serviceName(node: string): string {
	return `rdb-${node}`;
}

/** The full Swarm service name, as `docker service ps` wants it. */
export function stackServiceName(node: string): string {
	return `${STACK_NAME}_${serviceName(node)}`;
}

/** RethinkDB server names allow only [A-Za-z0-9_]. */
export function serverName(node: string): string {
	return node.replace(/[^A-Za-z0-9_]/g, '_');
}

/**
 * RethinkDB sizes its cache from the host's free memory and ignores cgroup
 * limits, so it must be told: about 45% of the container's limit, leaving
 * the rest for the server itself (the cache is not a hard cap).
 */
export function cacheSizeMb(memoryLimitBytes: number): number {
	return Math.max(100, Math.floor((memoryLimitBytes / 1024 / 1024) * 0.45));
}

/** A secret's name carries a hash of its content: Swarm secrets cannot change in place. */
export function passwordSecretName(password: string): string {
	return `swarmbee_rethinkdb_admin_${createHash('sha256').update(password).digest('hex').slice(0, 10)}`;
}

export function passwordSecretContent(password: string): string {
	return `initial-password=${password}\n`;
}

export interface StackInput {
	cluster: string;
	/** Nodes in order; the first runs the server every other one joins. */
	nodes: string[];
	image: string;
	memoryLimitBytes: number;
	network: string;
	secret: string;
}

/**
 * What each server runs: find its own overlay address (its own dnsrr name
 * resolves to its task alone), wait for the first server's name, join every
 * peer that already resolves, then exec rethinkdb. Names are resolved before
 * rethinkdb starts because rethinkdb exits on a --join it cannot resolve.
 */
export function serverCommand(input: StackInput, node: string): string {
	const index = input.nodes.indexOf(node);
	const self = serviceName(node);
	const seed = serviceName(input.nodes[0]!);
	const peers = input.nodes.filter(n => n !== node).map(serviceName);
	const lines = [
		'set -eu',
		`self=${shq(self)}`,
		'addr=""',
		'while [ -z "$addr" ]; do addr=$(getent ahostsv4 "$self" | awk \'{ print $1; exit }\'); [ -n "$addr" ] || sleep 1; done',
		...(index > 0 ? [`until getent ahostsv4 ${shq(seed)} >/dev/null; do echo "waiting for ${seed}"; sleep 2; done`] : []),
		'joins=""',
		...(peers.length > 0 ? [
			`for peer in ${peers.map(p => shq(p)).join(' ')}; do`,
			`  if getent ahostsv4 "$peer" >/dev/null; then joins="$joins --join $peer:${CLUSTER_PORT}"; fi`,
			'done',
		] : []),
		`echo "rethinkdb server ${serverName(node)} at $addr, joining:$joins"`,
		`exec ${shellCommand([
			'rethinkdb', '--bind', 'all',
			'--directory', '/data/rethinkdb_data',
			'--server-name', serverName(node),
			'--cache-size', cacheSizeMb(input.memoryLimitBytes),
			...(index === 0
				// The first server sets the admin password, from a secret file so it never shows in ps.
				? ['--config-file', `/run/secrets/${PASSWORD_SECRET_TARGET}`]
				// Joiners must not start without a password; they adopt the cluster's.
				: ['--initial-password', 'auto']),
		])} --canonical-address "$addr" $joins`,
	];
	return lines.join('\n');
}

/**
 * The Compose-spec stack file, e.g. for a 1+1 cluster:
 *
 *     services:
 *       rdb-queenbee:
 *         image: "rethinkdb:2.4.4-bookworm-slim"
 *         hostname: "rdb-queenbee"
 *         command: ["sh", "-c", "…exec rethinkdb --bind all …"]
 *         volumes: ["rdb-queenbee-data:/data"]
 *         networks: ["swarmbee"]
 *         deploy:
 *           endpoint_mode: "dnsrr"
 *           placement: {constraints: ["node.hostname == queenbee"]}
 *           resources: {limits: {memory: "450M"}, reservations: {memory: "450M"}}
 *       rdb-workerbee-1: …
 */
export function renderStackFile(input: StackInput): string {
	const memory = `${Math.round(input.memoryLimitBytes / 1024 / 1024)}M`;
	const services: Record<string, YamlValue> = {};
	const volumes: Record<string, YamlValue> = {};
	input.nodes.forEach((node, index) => {
		const volume = `${serviceName(node)}-data`;
		const labels = {'swarmbee.cluster': input.cluster, 'swarmbee.node': node};
		services[serviceName(node)] = {
			image: input.image,
			hostname: serviceName(node),
			command: ['sh', '-c', composeEscape(serverCommand(input, node))],
			volumes: [`${volume}:/data`],
			networks: [input.network],
			...(index === 0 ? {secrets: [{source: input.secret, target: PASSWORD_SECRET_TARGET, mode: 0o400}]} : {}),
			labels,
			stop_grace_period: '30s',
			deploy: {
				mode: 'replicated',
				replicas: 1,
				endpoint_mode: 'dnsrr',
				placement: {constraints: [`node.hostname == ${node}`]},
				resources: {limits: {memory}, reservations: {memory}},
				restart_policy: {condition: 'any', delay: '5s'},
				update_config: {order: 'stop-first'},
				labels,
			},
		};
		volumes[volume] = {labels};
	});
	return [
		`# RethinkDB on the ${input.cluster} cluster, written by swarmbee. Deployed with:`,
		`#   docker stack deploy --prune -c stack.yml ${STACK_NAME}`,
		toYaml({
			version: '3.8',
			services,
			volumes,
			networks: {[input.network]: {external: true}},
			secrets: {[input.secret]: {external: true}},
		}),
	].join('\n');
}

/** Compose interpolates `$VAR` in every string of the file; `$$` is a literal `$`. */
export function composeEscape(text: string): string {
	return text.replace(/\$/g, '$$$$');
}

export function stackHash(stack: string): string {
	return createHash('sha256').update(stack).digest('hex').slice(0, 16);
}

/** Deploy (or update) the stack; services no longer in the file are removed. */
export function stackDeployCommand(remoteFile: string, resolveImage: 'always' | 'never'): string {
	return shellCommand(['docker', 'stack', 'deploy', '--prune', '--resolve-image', resolveImage, '-c', remoteFile, STACK_NAME]);
}

export function secretEnsureCommand(secret: string): string {
	return `${shellCommand(['docker', 'secret', 'inspect', secret])} >/dev/null 2>&1 || ${shellCommand(['docker', 'secret', 'create', secret, '-'])} >/dev/null`;
}

/** `Name Replicas` per service of the stack, as JSON lines. */
export const stackServicesCommand = shellCommand(['docker', 'stack', 'services', STACK_NAME, '--format', '{{json .}}']);
