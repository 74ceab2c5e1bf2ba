import {createHash} from 'node:crypto';
import {stringify} from 'yaml';
import {BugError} from '../errors.js';
import {shellCommand} from '../shell.js';
import {liveNodes, type Journal} from '../store/journal.js';

/**
 * The RethinkDB stack: one Swarm service per database server, each pinned to
 * its node with its own volume, on the cluster's overlay with `dnsrr` (no VIP:
 * a VIP on eth0 confuses RethinkDB's addresses, and some kernels lack IPVS).
 * Nothing is published on any host port. Each server is on two overlays: the
 * attachable one applications share (only the driver port, password-protected,
 * answers there) and a non-attachable one only the servers share (cluster
 * port). The web console listens only on the node's own docker_gwbridge
 * address, where swarmbee's SSH tunnel reaches it. See the reference notes
 * on RethinkDB on Swarm for why each choice is what it is.
 */

export const STACK_NAME = 'swarmbee';
/** Where the stack file is kept on the manager that deploys it. */
export const REMOTE_STACK_FILE = '/root/.swarmbee/stack.yml';
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

/** Where a server's TLS files are inside its container (Swarm secrets, mode 0400). */
export const TLS_TARGETS = {
	ca: 'rethinkdb-tls-ca.pem',
	cert: 'rethinkdb-tls-cert.pem',
	key: 'rethinkdb-tls-key.pem',
} as const;

/** The Swarm secrets one server's TLS files come from, by name (each name carries a hash of its content: tls.ts). */
export interface ServerTlsSecrets {
	/** The CAs the server trusts (its cluster's; old and new during `certs rotate --ca`). */
	ca: string;
	cert: string;
	key: string;
}

/**
 * The rethinkdb flags of a server with TLS on its cluster port (mutual:
 * a peer must present a certificate from the CA, and checks this one) and
 * its driver port (clients check the server against the CA; they log in
 * with the password as before, so no client certificate is asked for).
 */
export function serverTlsFlags(): string[] {
	const file = (target: string) => `/run/secrets/${target}`;
	return [
		'--cluster-tls-key',
		file(TLS_TARGETS.key),
		'--cluster-tls-cert',
		file(TLS_TARGETS.cert),
		'--cluster-tls-ca',
		file(TLS_TARGETS.ca),
		'--driver-tls-key',
		file(TLS_TARGETS.key),
		'--driver-tls-cert',
		file(TLS_TARGETS.cert),
	];
}

export interface StackInput {
	cluster: string;
	/** Nodes in order; the first one's server is the one every other waits for on a fresh start. */
	nodes: string[];
	image: string;
	/**
	 * Servers that run another image than `image`, by node: those an
	 * unfinished `swarmbee upgrade` changed so far (each deploy keeps every
	 * server on the image it runs; only the upgrade moves one at a time).
	 */
	images?: Readonly<Record<string, string>>;
	memoryLimitBytes: number;
	/** The attachable overlay applications share: the driver port is reached there. */
	network: {name: string; subnet: string};
	/** The non-attachable overlay only the servers share: cluster traffic (29015) stays there. */
	databaseNetwork: {name: string; subnet: string};
	secret: string;
	/**
	 * Each server's TLS secrets, by node: present, every server runs with
	 * TLS (one map for all of them: a cluster is all TLS or all plain, as a
	 * TLS server and a plain one cannot talk).
	 */
	tls?: Record<string, ServerTlsSecrets>;
	/**
	 * The first server, restarted with data, waits for another server to
	 * resolve before it starts (serverScript). Set for clusters deployed
	 * since; older ones keep the script they run (a change restarts every
	 * server at once) until they are deployed afresh.
	 */
	seedWaits?: boolean;
}

/** On the database network every server answers to this one name, so joining never needs a list of peers. */
export const PEERS_ALIAS = 'rdb-peers';

/** A server's own name on the database network (its service name resolves on the application overlay). */
export function peerAlias(node: string): string {
	return `rdb-peer-${node}`;
}

/**
 * How long a server of a fresh cluster waits for the first one before it
 * joins whoever else is there: every server joining the first makes the
 * cluster one piece, however the tasks race; the wait ends so that a server
 * restarting while the first node is gone still finds its peers.
 */
export const SEED_PATIENCE_SECONDS = 30;

/**
 * The one script every server runs (`sh -c SCRIPT rdb-server NAME SEED APPNET DBNET PATIENCE`):
 * the same text for all of them, so adding or removing a server never
 * changes another server's service (a change there would restart it).
 *
 * - its addresses, by subnet: the one on the database network (cluster
 *   port, canonical address), and the one on neither overlay (the node's own
 *   docker_gwbridge, which only that node reaches: the web console listens
 *   there and nowhere else);
 * - its peers, by the alias every server carries on the database network,
 *   resolved at each start, so a restarted server finds the others at their
 *   current addresses; its own address is dropped (rethinkdb would ignore a
 *   join to itself);
 * - a server other than the first (SEED names the first one's alias) waits
 *   until that one resolves, or PATIENCE seconds and any other peer;
 * - with `seedWaits`, the first server too, when it restarts with data: its
 *   node's dockerd, just restarted with it, may not have learnt the others'
 *   names yet, and a server that joins nobody stays alone (the others look
 *   for it at its old address), so it waits until another server resolves,
 *   or four times PATIENCE (measured: 26 s after a node's restart; a
 *   cluster of one starts alone after that);
 * - every server gets the same initial admin password from the secret:
 *   rethinkdb lets the oldest data directory's initial password win when
 *   servers meet, so giving all of them the one password makes the order in
 *   which they start irrelevant (with `auto`, a joiner created first would
 *   impose a random password on the cluster).
 *
 * rethinkdb exits on a --join it cannot resolve, which is why names are
 * resolved here and handed over as addresses.
 *
 * With `tls`, the servers run with TLS on both ports (serverTlsFlags); the
 * script without it is the very text it always was, so a plain cluster's
 * services do not change (and restart) when swarmbee learns something new.
 */
export function serverScript(memoryLimitBytes: number, tls = false, seedWaits = false): string {
	return [
		'set -eu',
		'name=$1 seed=$2 appnet=$3 dbnet=$4 patience=$5',
		// 0 when address $1 is inside CIDR $2 (awk: no ip(8) or python in the official image).
		`inside() { awk -v ip="$1" -v cidr="$2" 'function n(a,  p) { split(a, p, "."); return ((p[1] * 256 + p[2]) * 256 + p[3]) * 256 + p[4] } BEGIN { split(cidr, c, "/"); m = 2 ^ (32 - c[2]); exit !(int(n(ip) / m) == int(n(c[1]) / m)) }'; }`,
		'mine="" console=""',
		'for ip in $(hostname -I); do',
		'  if inside "$ip" "$dbnet"; then mine=$ip; elif ! inside "$ip" "$appnet"; then console=${console:-$ip}; fi',
		'done',
		'[ -n "$mine" ] || { echo "no address on the database network $dbnet" >&2; exit 1; }',
		'waited=0',
		'while :; do',
		`  found=$(getent ahostsv4 ${PEERS_ALIAS} $seed | awk '{ print $1 }' | sort -u)`,
		'  joins=""',
		`  for ip in $found; do [ "$ip" = "$mine" ] || joins="$joins --join $ip:${CLUSTER_PORT}"; done`,
		...(seedWaits
			? [
					'  if [ -z "$seed" ]; then',
					'    { [ -n "$joins" ] || [ ! -d /data/rethinkdb_data ] || [ "$waited" -ge $((patience * 4)) ]; } && break',
					'    echo "restarted with data: waiting for another database server to resolve ($((patience * 4))s at most)"',
					'    sleep 2; waited=$((waited + 2)); continue',
					'  fi',
				]
			: ['  [ -n "$seed" ] || break']),
		'  if [ -n "$joins" ] && { getent ahostsv4 "$seed" >/dev/null || [ "$waited" -ge "$patience" ]; }; then break; fi',
		'  echo "waiting for $seed (after ${patience}s: for any other database server)"',
		'  sleep 2; waited=$((waited + 2))',
		'done',
		'echo "rethinkdb server $name: cluster address $mine, console on ${console:-loopback only}, joining:${joins:- nobody yet}"',
		`exec rethinkdb --directory /data/rethinkdb_data --server-name "$name" --cache-size ${cacheSizeMb(memoryLimitBytes)} --config-file /run/secrets/${PASSWORD_SECRET_TARGET} \\`,
		`  --bind-driver all --bind-cluster "$mine" \${console:+--bind-http "$console"} --canonical-address "$mine" $joins${tls ? ' \\' : ''}`,
		...(tls ? [`  ${serverTlsFlags().join(' ')}`] : []),
	].join('\n');
}

/** The arguments after the script: what differs from one server to the next. */
export function serverArguments(input: StackInput, node: string, patience = SEED_PATIENCE_SECONDS): string[] {
	const seed = input.nodes[0]!;
	return [
		serverName(node),
		node === seed ? '' : peerAlias(seed),
		input.network.subnet,
		input.databaseNetwork.subnet,
		String(patience),
	];
}

/** The service's whole command: `sh -c SCRIPT rdb-server ARGS…` (the script's text is the same for every server). */
export function serverCommand(input: StackInput, node: string): string[] {
	return [
		'sh',
		'-c',
		serverScript(input.memoryLimitBytes, input.tls !== undefined, input.seedWaits === true),
		'rdb-server',
		...serverArguments(input, node),
	];
}

/**
 * The Compose-spec stack file, e.g. for a 1+1 cluster:
 *
 *     services:
 *       rdb-queenbee:
 *         image: rethinkdb:2.4.4-bookworm-slim
 *         hostname: rdb-queenbee
 *         command: [sh, -c, "set -eu …exec rethinkdb …", rdb-server, queenbee, "", 10.217.40.0/22, 10.217.44.0/24, "30"]
 *         volumes: [rdb-queenbee-data:/data]
 *         networks:
 *           swarmbee: {}
 *           swarmbee-db: {aliases: [rdb-peers, rdb-peer-queenbee]}
 *         secrets: [{source: swarmbee_rethinkdb_admin_…, target: rethinkdb-admin.conf, mode: 256},
 *                   {source: swarmbee_tls_ca_…, target: rethinkdb-tls-ca.pem, mode: 256},   (with TLS: the CAs it trusts,
 *                   {source: swarmbee_tls_queenbee_cert_…, …}, {source: swarmbee_tls_queenbee_key_…, …}]   its certificate and key)
 *         deploy:
 *           endpoint_mode: dnsrr
 *           placement: {constraints: ["node.hostname == queenbee"]}
 *           resources: {limits: {memory: 450M}, reservations: {memory: 450M}}
 *       rdb-workerbee-1: …  (the same, with its own name, volume and SEED rdb-peer-queenbee)
 */
export function renderStackFile(input: StackInput): string {
	const memory = `${Math.round(input.memoryLimitBytes / 1024 / 1024)}M`;
	const services: Record<string, unknown> = {};
	const volumes: Record<string, unknown> = {};
	const secrets: Record<string, unknown> = {[input.secret]: {external: true}};
	for (const node of input.nodes) {
		const tls = input.tls?.[node];
		if (input.tls && !tls) throw new BugError(`the stack has TLS, but no certificate for ${node}`);
		for (const name of tls ? [tls.ca, tls.cert, tls.key] : []) secrets[name] = {external: true};
		const volume = `${serviceName(node)}-data`;
		const labels = {'swarmbee.cluster': input.cluster, 'swarmbee.node': node};
		services[serviceName(node)] = {
			image: input.images?.[node] ?? input.image,
			hostname: serviceName(node),
			command: serverCommand(input, node).map(composeEscape),
			volumes: [`${volume}:/data`],
			networks: {
				[input.network.name]: {},
				[input.databaseNetwork.name]: {aliases: [PEERS_ALIAS, peerAlias(node)]},
			},
			secrets: [
				{source: input.secret, target: PASSWORD_SECRET_TARGET, mode: 0o400},
				...(tls
					? [
							{source: tls.ca, target: TLS_TARGETS.ca, mode: 0o400},
							{source: tls.cert, target: TLS_TARGETS.cert, mode: 0o400},
							{source: tls.key, target: TLS_TARGETS.key, mode: 0o400},
						]
					: []),
			],
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
	}
	return [
		`# RethinkDB on the ${input.cluster} cluster, written by swarmbee. Deployed with:`,
		`#   docker stack deploy --prune -c stack.yml ${STACK_NAME}`,
		stringify(
			{
				version: '3.8',
				services,
				volumes,
				networks: {[input.network.name]: {external: true}, [input.databaseNetwork.name]: {external: true}},
				secrets,
			},
			{lineWidth: 0},
		),
	].join('\n');
}

/** Compose interpolates `$VAR` in every string of the file; `$$` is a literal `$`. */
export function composeEscape(text: string): string {
	return text.replace(/\$/g, '$$$$');
}

/**
 * The stack as the journal says it is deployed: every server on the image
 * and TLS secrets it runs. A change to one server (a rotation, an upgrade)
 * replaces that server's part of it, so the deploy restarts that one alone.
 */
export function deployedStackInput(
	spec: {name: string; rethinkdbImage: string; memoryLimitBytes: number},
	journal: Readonly<Journal>,
	password: string,
): StackInput {
	const {overlay, databaseOverlay} = journal.swarm ?? {};
	if (!overlay || !databaseOverlay) throw new BugError(`${spec.name} has no overlay networks recorded`);
	const database = journal.database;
	return {
		cluster: spec.name,
		nodes: liveNodes(journal).map(n => n.name),
		image: database?.image ?? spec.rethinkdbImage,
		...(database?.images ? {images: database.images} : {}),
		memoryLimitBytes: spec.memoryLimitBytes,
		network: overlay,
		databaseNetwork: databaseOverlay,
		secret: passwordSecretName(password),
		...(database?.tls ? {tls: database.tls.servers} : {}),
		seedWaits: database?.seedWaits === true,
	};
}

export function stackHash(stack: string): string {
	return createHash('sha256').update(stack).digest('hex').slice(0, 16);
}

/** Deploy (or update) the stack; services no longer in the file are removed. */
export function stackDeployCommand(remoteFile: string, resolveImage: 'always' | 'changed' | 'never'): string {
	return shellCommand([
		'docker',
		'stack',
		'deploy',
		'--prune',
		'--resolve-image',
		resolveImage,
		'-c',
		remoteFile,
		STACK_NAME,
	]);
}

export function secretEnsureCommand(secret: string): string {
	return `${shellCommand(['docker', 'secret', 'inspect', secret])} >/dev/null 2>&1 || ${shellCommand(['docker', 'secret', 'create', secret, '-'])} >/dev/null`;
}

/** `Name Replicas` per service of the stack, as JSON lines. */
export const stackServicesCommand = shellCommand(['docker', 'stack', 'services', STACK_NAME, '--format', '{{json .}}']);
