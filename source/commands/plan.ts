import {DockerCli} from '../docker/cli.js';
import {swarmbeeHome} from '../paths.js';
import {formatUsd} from '../providers/digitalocean/catalog.js';
import {createProvider} from '../providers/index.js';
import type {ProviderPlan} from '../providers/types.js';
import {formatTable} from '../render/format.js';
import {specInputFromFlags} from '../spec-fields.js';
import {checkName, planNodes, specForRun, type ClusterSpec, type SpecInput} from '../spec.js';
import {readPublicKey} from '../ssh/keys.js';
import {ClusterStore} from '../store/cluster-store.js';
import {oneName, type CommandArgs, type CommandIO} from './io.js';

interface PlanOptions {
	name: string;
	input: SpecInput;
	json: boolean;
	/** A DigitalOcean token handed over in-process; see UpOptions.token. */
	token?: string;
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
	const store = new ClusterStore(swarmbeeHome(io.env));
	// A bad name is reported with every other problem of the flags, by resolveSpec.
	const spec = specForRun(
		checkName(options.name) ? undefined : store.loadSpec(options.name),
		options.name,
		options.input,
	);
	const journal = store.loadJournal(options.name);
	const sshPublicKey = readPublicKey(store.paths(options.name).clusterKey);
	const provider = createProvider(spec, new DockerCli(), {env: io.env, token: options.token});
	const plan = await provider.plan({spec, owner: journal?.owner ?? '', sshPublicKey});
	if (options.json) {
		io.stdout.write(
			`${JSON.stringify({cluster: spec.name, provider: spec.provider, region: spec.region, size: spec.size, nodes: planNodes(spec).length, ...plan})}\n`,
		);
	} else {
		io.stdout.write(`${formatPlan(spec, plan).join('\n')}\n`);
	}
	return 0;
}
