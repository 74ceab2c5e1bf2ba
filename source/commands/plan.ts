import type {ProviderPlan} from '../providers/types.js';
import {formatTable, formatUsd} from '../render/format.js';
import type {CommandIO} from '../session/io.js';
import {planSession} from '../session/open.js';
import {specInputFromFlags} from '../spec-fields.js';
import {planNodes, type ClusterSpec, type SpecInput} from '../spec.js';
import {readPublicKey} from '../ssh/keys.js';
import {oneName, type CommandArgs} from './args.js';

interface PlanOptions {
	name: string;
	input: SpecInput;
	json: boolean;
}

/**
 *     plan for demo: 4 digitalocean nodes (s-1vcpu-1gb, nyc3); nothing was created
 *     ACTION  KIND      NAME           DETAIL
 *     create  droplet   queenbee       s-1vcpu-1gb in nyc3, debian-12-x64; tags swarmbee, …
 *     use     vpc       default-nyc3   10.116.0.0/20, nyc3's default VPC (shared, never deleted by swarmbee)
 *     create  firewall  swarmbee-demo  22/tcp from 0.0.0.0/0, ::/0; tcp, udp and icmp from tag swarmbee-demo; outbound open
 *     cost: 4 × s-1vcpu-1gb at $0.00893 an hour: $0.0357 an hour, $24.00 a month
 */
function formatPlan(spec: ClusterSpec, plan: ProviderPlan): string[] {
	const nodes = planNodes(spec).length;
	const where = spec.provider === 'local' ? 'this Docker engine' : spec.region;
	const lines = [
		`plan for ${spec.name}: ${nodes} ${spec.provider} nodes (${spec.size}, ${where}); nothing was created`,
	];
	lines.push(
		...formatTable([
			['ACTION', 'KIND', 'NAME', 'DETAIL'],
			...plan.resources.map(r => [r.action, r.kind, r.name, r.detail]),
		]),
	);
	const c = plan.cost;
	if (c)
		lines.push(
			`cost: ${c.nodes} × ${c.size} at ${formatUsd(c.perNodeHourly)} an hour: ${formatUsd(c.hourly)} an hour, ${formatUsd(c.monthly)} a month`,
		);
	lines.push(...plan.notes.map(note => `note: ${note}`));
	const toCreate = plan.resources.filter(r => r.action === 'create').length;
	lines.push(
		toCreate > 0
			? `swarmbee up ${spec.name}${spec.provider === 'local' ? '' : ` --provider ${spec.provider}`} creates the ${toCreate} marked create`
			: 'everything is there: swarmbee up has nothing to create',
	);
	return lines;
}

/**
 * What `up` would make, by looking only: every check `up` does before it
 * creates anything, then each resource with create/exists/use, and on a
 * cloud the price from the provider's own size list. Writes nothing, not even
 * the cluster's state folder.
 */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	return planCommand(
		{name: oneName('plan', positionals), input: specInputFromFlags(values), json: Boolean(values.json)},
		io,
	);
}

async function planCommand(options: PlanOptions, io: CommandIO): Promise<number> {
	// Reads only: no lock, and nothing is written, not even the cluster's state folder.
	const session = await planSession(options.name, options.input, io);
	try {
		const {spec} = session;
		const plan = await session.provider.plan({
			spec,
			owner: session.journal.value.owner,
			sshPublicKey: readPublicKey(session.paths.clusterKey),
		});
		if (options.json) {
			io.stdout.write(
				`${JSON.stringify({cluster: spec.name, provider: spec.provider, region: spec.region, size: spec.size, nodes: planNodes(spec).length, ...plan})}\n`,
			);
		} else {
			io.stdout.write(`${formatPlan(spec, plan).join('\n')}\n`);
		}
		return 0;
	} finally {
		await session.close();
	}
}
