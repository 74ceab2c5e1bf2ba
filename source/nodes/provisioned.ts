import {createHash} from 'node:crypto';
import {shq} from '../shell.js';

/**
 * What provisioning applied to a node, and the cheap look that tells
 * whether it still holds, so a re-run of `up` skips the playbook where
 * nothing changed (a playbook run costs seconds of CPU per node; this look
 * costs one SSH command).
 */

/** Ports Swarm needs between nodes, and only between nodes. */
const SWARM_PORTS = [
	{port: 2377, proto: 'tcp'}, // cluster management (managers)
	{port: 7946, proto: 'tcp'}, // node gossip
	{port: 7946, proto: 'udp'},
	{port: 4789, proto: 'udp'}, // VXLAN: overlay network data
] as const;

/**
 * The firewall every node gets, as `ufw` command lines (the playbook runs
 * `ufw <line>` for each): deny incoming but SSH from `sshFrom`; Swarm, and
 * ESP for an encrypted overlay, only from the private network.
 */
export function ufwRules(input: {sshFrom: readonly string[]; privateCidr: string}): string[] {
	return [
		'default deny incoming',
		'default allow outgoing',
		...input.sshFrom.map(source => `allow from ${source} to any port 22 proto tcp`),
		...SWARM_PORTS.map(rule => `allow from ${input.privateCidr} to any port ${rule.port} proto ${rule.proto}`),
		`allow from ${input.privateCidr} proto esp`,
	];
}

/** The bridges a node's containers leave it by: the default bridge, docker_gwbridge (every overlay task's way out), user-defined bridges. */
const CONTAINER_BRIDGES = ['docker0', 'docker_gwbridge', 'br-+'] as const;

/**
 * The rules of the DOCKER-USER chain, as ufw's after.rules block the
 * playbook appends (so ufw loads them at boot, before Docker starts, and
 * again at every reload; dockerd, when it restarts, keeps the chain as it
 * is). Two things cross FORWARD, and so this chain:
 *
 * - Containers reaching out. A container's traffic to another node leaves
 *   through a bridge and is NATed to this node's private address, which the
 *   other nodes' ufw trusts with Swarm's ports: a container on the
 *   attachable overlay could talk to the managers' API (2377), join the
 *   gossip (7946) or inject VXLAN (4789) into the database's network. So a
 *   new connection from a bridge to Swarm's ports in the private network is
 *   dropped. Swarm itself is not: dockerd talks from the node (OUTPUT), and
 *   the overlay's VXLAN is sent by the node's kernel, never forwarded.
 * - Docker's published ports, DNAT'd in PREROUTING and forwarded, so they
 *   never meet ufw's INPUT rules: a port a service publishes would answer
 *   the whole internet. A new connection to a container is dropped unless it
 *   comes from the private network (the other nodes, the VPC) or from the
 *   node's own containers.
 *
 * Replies, and traffic that does not cross FORWARD (swarmbee's tunnel,
 * which sshd on the node opens to a task's docker_gwbridge address) are not
 * affected. A container reaching its own node's Swarm ports arrives on
 * INPUT from a bridge address, which ufw does not allow.
 */
export function dockerUserRules(privateCidr: string): string[] {
	const byProtocol = (['tcp', 'udp'] as const).map(proto => ({
		proto,
		ports: SWARM_PORTS.filter(rule => rule.proto === proto)
			.map(rule => rule.port)
			.join(','),
	}));
	return [
		'*filter',
		':DOCKER-USER - [0:0]',
		'-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
		...CONTAINER_BRIDGES.flatMap(bridge =>
			byProtocol.map(
				({proto, ports}) =>
					`-A DOCKER-USER -i ${bridge} -d ${privateCidr} -p ${proto} -m multiport --dports ${ports} -j DROP`,
			),
		),
		`-A DOCKER-USER -s ${privateCidr} -j RETURN`,
		...CONTAINER_BRIDGES.map(bridge => `-A DOCKER-USER -i ${bridge} -j RETURN`),
		'-A DOCKER-USER -m conntrack --ctstate NEW -j DROP',
		'-A DOCKER-USER -j RETURN',
		'COMMIT',
	];
}

/** Kept on the node after a successful provisioning run. */
export interface AppliedRecord {
	/** The swarmbee version that ran the playbooks. */
	swarmbee: string;
	/** sha256 of the playbooks (swarmbee's and the user's) and their variables but the firewall. */
	playbooks: string;
	/** sha256 of the ufw rules. */
	firewall: string;
}

export const APPLIED_FILE = '/root/.swarmbee/provisioned.json';

/** Where the firewall's state is kept as it was right after provisioning (the playbook writes it, swarmbee again after every playbook). */
const UFW_SNAPSHOT = '/etc/ufw/swarmbee.status';

/**
 * The firewall as a node shows it: ufw's rules and the DOCKER-USER chain.
 * The playbook's firewall task uses these very words (a unit test checks).
 */
export const FIREWALL_STATE = '{ ufw status; iptables -S DOCKER-USER 2>/dev/null; }';

/**
 * Run after every playbook (the user's may add ufw rules of its own): the
 * firewall as provisioning left it is what the next look compares with.
 */
export const ufwSnapshotCommand = `${FIREWALL_STATE} >${shq(UFW_SNAPSHOT)}`;

export function digest(value: unknown): string {
	return createHash('sha256')
		.update(typeof value === 'string' ? value : JSON.stringify(value))
		.digest('hex');
}

/** One line a node prints: the record, then whether ufw still shows what was applied and fail2ban runs. */
export const provisionedCheckCommand = [
	`printf 'applied=%s\\n' "$(cat ${shq(APPLIED_FILE)} 2>/dev/null | tr -d '\\n')"`,
	`if [ -f ${shq(UFW_SNAPSHOT)} ] && ${FIREWALL_STATE} 2>/dev/null | cmp -s - ${shq(UFW_SNAPSHOT)}; then echo ufw=as-applied; else echo ufw=changed; fi`,
	'if pgrep -x fail2ban-server >/dev/null; then echo fail2ban=running; else echo fail2ban=stopped; fi',
	// Without systemd, fail2ban reads what rsyslog writes: no rsyslog, no bans.
	'if [ -d /run/systemd/system ] || pgrep -x rsyslogd >/dev/null; then echo syslog=running; else echo syslog=stopped; fi',
].join('; ');

interface ProvisionedState {
	applied?: AppliedRecord;
	ufwAsApplied: boolean;
	fail2banRunning: boolean;
	/** False only where there is no systemd and rsyslog, which fail2ban reads, is not running. */
	syslogRunning: boolean;
}

export function parseProvisionedCheck(stdout: string): ProvisionedState {
	const values = new Map(
		stdout.split('\n').map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const),
	);
	let applied: AppliedRecord | undefined;
	try {
		const parsed = JSON.parse(values.get('applied') || 'null') as Partial<AppliedRecord> | null;
		if (parsed?.swarmbee && parsed.playbooks && parsed.firewall)
			applied = {swarmbee: parsed.swarmbee, playbooks: parsed.playbooks, firewall: parsed.firewall};
	} catch {
		// A record cut short or edited: as good as none, so the playbook runs.
	}
	return {
		...(applied ? {applied} : {}),
		ufwAsApplied: values.get('ufw') === 'as-applied',
		fail2banRunning: values.get('fail2ban') === 'running',
		// A node provisioned before this was looked at says nothing: as good as running.
		syslogRunning: values.get('syslog') !== 'stopped',
	};
}

/** Why the playbook must run again on a node; empty when what was applied still holds. */
export function provisionDrift(wanted: AppliedRecord, found: ProvisionedState): string[] {
	const {applied} = found;
	if (!applied) return ['no record of an earlier provisioning run on the node'];
	const reasons: string[] = [];
	if (applied.swarmbee !== wanted.swarmbee)
		reasons.push(`swarmbee ${applied.swarmbee} provisioned it, this is ${wanted.swarmbee}`);
	if (applied.playbooks !== wanted.playbooks) reasons.push('the playbook or its settings changed');
	if (applied.firewall !== wanted.firewall) reasons.push('the firewall rules wanted changed');
	if (!found.ufwAsApplied) reasons.push('ufw no longer shows the rules applied (changed by hand?)');
	if (!found.fail2banRunning) reasons.push('fail2ban is not running');
	if (!found.syslogRunning) reasons.push('rsyslog is not running (fail2ban would see no logins)');
	return reasons;
}
