import {shellCommand, shq} from '../shell.js';
import {OVERLAY_NETWORK} from './overlay.js';

/**
 * The cross-host check: a global `dnsrr` service of the probe image, one
 * task per node, each serving its node's name over HTTP on the overlay. From
 * every node, swarmbee asks `tasks.<service>` for all task addresses and
 * fetches each one: every node must reach every other by name.
 */

const PROBE_SERVICE = 'swarmbee-probe';
const PROBE_PORT = 8000;

/** `run` labels the service, so only the guard of the run that made it removes it. */
export function probeServiceCreateCommand(image: string, run: string, network = OVERLAY_NETWORK): string {
	return shellCommand([
		'docker',
		'service',
		'create',
		'--detach',
		'--name',
		PROBE_SERVICE,
		'--mode',
		'global',
		'--endpoint-mode',
		'dnsrr',
		'--network',
		network,
		'--hostname',
		'{{.Node.Hostname}}',
		'--restart-condition',
		'on-failure',
		'--label',
		`swarmbee.probe=${run}`,
		image,
		'sh',
		'-c',
		`hostname > /www/index.html && exec httpd -f -p ${PROBE_PORT} -h /www`,
	]);
}

/**
 * Holds on the manager while the probe service lives, and removes it (if it
 * is still this run's) once its stdin ends: when swarmbee closes it, and
 * equally when swarmbee dies (kill -9, a lost connection), since sshd then
 * closes the session's pipes. A killed verify leaves no probe behind, not
 * even until the next `up`. Started before the service is created, on the
 * same connection, so it is in place first.
 */
export function probeGuardCommand(run: string): string {
	return [
		'exec >/dev/null 2>&1',
		"trap '' HUP INT PIPE",
		'cat',
		`[ "$(docker service inspect --format '{{index .Spec.Labels "swarmbee.probe"}}' ${PROBE_SERVICE})" = ${shq(run)} ] && docker service rm ${PROBE_SERVICE}`,
		'exit 0',
	].join('; ');
}

export const probeServiceRemoveCommand = `${shellCommand(['docker', 'service', 'rm', PROBE_SERVICE])} >/dev/null 2>&1 || true`;

export const probeTasksCommand = shellCommand([
	'docker',
	'service',
	'ps',
	PROBE_SERVICE,
	'--filter',
	'desired-state=running',
	'--format',
	'{{json .}}',
]);

export interface ProbeTask {
	Node: string;
	CurrentState: string;
	Error: string;
}

/**
 * Run on a node: inside its probe task, look up every task by name and fetch
 * each. Prints `<address> <hostname>` per task (hostname empty when the
 * fetch failed). busybox's `wget -T` crashes, hence `timeout`.
 */
export function probeFetchCommand(): string {
	const inner = [
		`for ip in $(nslookup tasks.${PROBE_SERVICE} 2>/dev/null | sed -n 's/^Address: *\\([0-9.]*\\)$/\\1/p'); do`,
		`printf '%s %s\\n' "$ip" "$(timeout 5 wget -qO- "http://$ip:${PROBE_PORT}/" 2>/dev/null)";`,
		'done',
	].join(' ');
	return [
		`c=$(docker ps -q --filter ${shq(`label=com.docker.swarm.service.name=${PROBE_SERVICE}`)} | head -n 1)`,
		'[ -n "$c" ] || { echo "no probe task on this node" >&2; exit 3; }',
		`docker exec "$c" sh -c ${shq(inner)}`,
	].join('; ');
}

/** Node names reached, from probeFetchCommand's output. */
export function parseProbeFetch(text: string): {addresses: string[]; reached: string[]} {
	const addresses: string[] = [];
	const reached: string[] = [];
	for (const line of text.split('\n')) {
		const [address, name] = line.trim().split(/\s+/);
		if (!address) continue;
		addresses.push(address);
		if (name) reached.push(name);
	}
	return {addresses, reached};
}
