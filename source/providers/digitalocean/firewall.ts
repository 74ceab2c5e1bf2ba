import {doNames} from './names.js';

/** Where a rule's traffic may come from or go to. */
export interface FirewallTargets {
	addresses?: string[];
	tags?: string[];
	droplet_ids?: number[];
}

export interface FirewallRule {
	protocol: 'tcp' | 'udp' | 'icmp';
	/**
	 * A port, a range `8000-9000`, or `0` for all ports. The spec requires it
	 * on every rule, ICMP's too (which has no ports and reads back `0`).
	 */
	ports: string;
	sources?: FirewallTargets;
	destinations?: FirewallTargets;
}

/** The body of `POST /v2/firewalls`. */
export interface FirewallRequest {
	name: string;
	inbound_rules: FirewallRule[];
	outbound_rules: FirewallRule[];
	tags: string[];
	droplet_ids: number[];
}

const ANYWHERE = ['0.0.0.0/0', '::/0'];

/**
 * The cluster's Cloud Firewall. A Cloud Firewall denies everything not
 * allowed, in both directions, on the public and the VPC interface alike;
 * so:
 *
 *     inbound   22/tcp              from --ssh-from (default anywhere)
 *     inbound   all tcp, udp, icmp  from droplets tagged swarmbee-<cluster>
 *     outbound  all tcp, udp, icmp  to anywhere (apt, cloud-init, image pulls)
 *
 * It applies to the cluster tag, not to droplet ids: a firewall takes at most
 * 10 droplets by id but any number by tag, and droplets created later are
 * covered from their first boot.
 */
export function firewallRequest(cluster: string, sshFrom: readonly string[]): FirewallRequest {
	const tag = doNames.clusterTag(cluster);
	const fromCluster = {tags: [tag]};
	return {
		name: doNames.firewall(cluster),
		inbound_rules: [
			{protocol: 'tcp', ports: '22', sources: {addresses: [...sshFrom]}},
			{protocol: 'tcp', ports: '0', sources: fromCluster},
			{protocol: 'udp', ports: '0', sources: fromCluster},
			{protocol: 'icmp', ports: '0', sources: fromCluster},
		],
		outbound_rules: [
			{protocol: 'tcp', ports: '0', destinations: {addresses: ANYWHERE}},
			{protocol: 'udp', ports: '0', destinations: {addresses: ANYWHERE}},
			{protocol: 'icmp', ports: '0', destinations: {addresses: ANYWHERE}},
		],
		tags: [tag],
		droplet_ids: [],
	};
}

/** A rule in one canonical form: lists sorted, ICMP's ports "0" whatever was sent. */
function canonical(rule: FirewallRule): string {
	const targets = (t?: FirewallTargets) => ({
		addresses: [...(t?.addresses ?? [])].sort(),
		tags: [...(t?.tags ?? [])].sort(),
		droplet_ids: [...(t?.droplet_ids ?? [])].sort((a, b) => a - b),
	});
	return JSON.stringify([
		rule.protocol,
		rule.protocol === 'icmp' ? '0' : rule.ports,
		targets(rule.sources),
		targets(rule.destinations),
	]);
}

/** Whether an existing firewall already has exactly the rules wanted (order aside). */
export function sameRules(
	existing: Pick<FirewallRequest, 'inbound_rules' | 'outbound_rules'>,
	wanted: Pick<FirewallRequest, 'inbound_rules' | 'outbound_rules'>,
): boolean {
	const key = (rules: FirewallRule[]) => rules.map(canonical).sort().join('\n');
	return (
		key(existing.inbound_rules) === key(wanted.inbound_rules) &&
		key(existing.outbound_rules) === key(wanted.outbound_rules)
	);
}

/** One line for humans: `22/tcp from 0.0.0.0/0, ::/0; all from tag swarmbee-demo; outbound open`. */
export function describeFirewall(request: FirewallRequest): string {
	const ssh = request.inbound_rules.find(r => r.ports === '22')?.sources?.addresses ?? [];
	return `22/tcp from ${ssh.join(', ')}; tcp, udp and icmp from tag ${request.tags.join(', ')}; outbound open`;
}
