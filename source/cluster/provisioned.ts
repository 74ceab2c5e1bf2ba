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

/** Where `ufw status` is kept as it was right after provisioning (the playbook writes it, swarmbee again after every playbook). */
const UFW_SNAPSHOT = '/etc/ufw/swarmbee.status';

/**
 * Run after every playbook (the user's may add ufw rules of its own): the
 * firewall as provisioning left it is what the next look compares with.
 */
export const ufwSnapshotCommand = `ufw status >${shq(UFW_SNAPSHOT)}`;

export function digest(value: unknown): string {
	return createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex');
}

/** One line a node prints: the record, then whether ufw still shows what was applied and fail2ban runs. */
export const provisionedCheckCommand = [
	`printf 'applied=%s\\n' "$(cat ${shq(APPLIED_FILE)} 2>/dev/null | tr -d '\\n')"`,
	`if [ -f ${shq(UFW_SNAPSHOT)} ] && ufw status 2>/dev/null | cmp -s - ${shq(UFW_SNAPSHOT)}; then echo ufw=as-applied; else echo ufw=changed; fi`,
	'if pgrep -x fail2ban-server >/dev/null; then echo fail2ban=running; else echo fail2ban=stopped; fi',
].join('; ');

interface ProvisionedState {
	applied?: AppliedRecord;
	ufwAsApplied: boolean;
	fail2banRunning: boolean;
}

export function parseProvisionedCheck(stdout: string): ProvisionedState {
	const values = new Map(stdout.split('\n').map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
	let applied: AppliedRecord | undefined;
	try {
		const parsed = JSON.parse(values.get('applied') || 'null') as Partial<AppliedRecord> | null;
		if (parsed?.swarmbee && parsed.playbooks && parsed.firewall) applied = {swarmbee: parsed.swarmbee, playbooks: parsed.playbooks, firewall: parsed.firewall};
	} catch {
		// A record cut short or edited: as good as none, so the playbook runs.
	}
	return {...(applied ? {applied} : {}), ufwAsApplied: values.get('ufw') === 'as-applied', fail2banRunning: values.get('fail2ban') === 'running'};
}

/** Why the playbook must run again on a node; empty when what was applied still holds. */
export function provisionDrift(wanted: AppliedRecord, found: ProvisionedState): string[] {
	const {applied} = found;
	if (!applied) return ['no record of an earlier provisioning run on the node'];
	const reasons: string[] = [];
	if (applied.swarmbee !== wanted.swarmbee) reasons.push(`swarmbee ${applied.swarmbee} provisioned it, this is ${wanted.swarmbee}`);
	if (applied.playbooks !== wanted.playbooks) reasons.push('the playbook or its settings changed');
	if (applied.firewall !== wanted.firewall) reasons.push('the firewall rules wanted changed');
	if (!found.ufwAsApplied) reasons.push('ufw no longer shows the rules applied (changed by hand?)');
	if (!found.fail2banRunning) reasons.push('fail2ban is not running');
	return reasons;
}
