import {counted, formatTable, formatUsd} from '../render/format.js';
import {planNodes} from '../spec.js';
import {readPublicKey} from '../ssh/keys.js';
import {confirmOrStop, type CommandIO} from './io.js';
import type {ClusterSession} from './session.js';

/**
 * Before a run that may create machines. On a cloud, in a terminal, the
 * price of what it would create is shown before the question (the same
 * look as `plan`, which validates everything first, so a bad image or size
 * is refused here, before any write). Elsewhere the one-line question of a
 * new cluster (or of the nodes a scale adds), which without a terminal asks
 * for --yes.
 *
 *     demo on digitalocean: 3 droplets to create in nyc3 (s-1vcpu-1gb, debian-12-x64)
 *     NODE         ROLE     $/MONTH  $/HOUR
 *     queenbee     manager  $6.00    $0.00893
 *     cost: $18.00 a month ($0.0268 an hour) while they exist, running or not (swarmbee down demo stops it)
 *     ? Create 3 droplets for demo at $18.00 a month? (Y/n)
 *
 * The provider it asked stays the session's: its catalog is not asked for again.
 */
export async function confirmCost(
	session: ClusterSession,
	io: CommandIO,
	input: {
		yes: boolean;
		command: string;
		/** The nodes a scale adds to a cluster that exists: asked about as a new cluster is. */
		adding?: string[];
	},
): Promise<void> {
	const {spec, store} = session;
	if (input.yes) return;
	const fresh = !store.exists(spec.name);
	const adding = input.adding ?? [];
	const provider = session.provider;
	const ask = (message: string) =>
		confirmOrStop(io, {
			yes: false,
			what: fresh ? `creating cluster ${spec.name}` : `adding ${counted(adding.length, 'node')} to ${spec.name}`,
			command: input.command,
			message,
			defaultAnswer: true,
			declined: 'nothing was created.',
		});
	const billed = provider.capabilities.billed;
	if (!billed || !io.interactive) {
		if (fresh)
			await ask(
				`Create ${spec.name}: ${1 + spec.workers} ${spec.provider} nodes (${spec.size}), 1 queenbee + ${counted(spec.workers, 'workerbee')}${billed ? '' : ', nothing billed'}?`,
			);
		// Growing a cluster creates machines too: never without a yes, from the user or --yes.
		else if (adding.length > 0)
			await ask(
				`Add ${adding.join(', ')} to ${spec.name} (${spec.provider}, ${spec.size}${billed ? '' : ', nothing billed'})?`,
			);
		return;
	}
	const plan = await provider.plan({
		spec,
		owner: session.journal.value.owner,
		sshPublicKey: readPublicKey(session.paths.clusterKey),
	});
	const created = plan.resources.filter(r => r.kind === billed.machine && r.action === 'create');
	if (created.length === 0 || !plan.cost) return;
	const roles = new Map(planNodes(spec).map(n => [n.name, n.role]));
	const c = plan.cost;
	const many = created.length !== 1;
	const lines = [
		`${spec.name} on ${spec.provider}: ${created.length} ${billed.machine}${many ? 's' : ''} to create in ${spec.region} (${c.size}, ${spec.image})`,
		...formatTable([
			['NODE', 'ROLE', '$/MONTH', '$/HOUR'],
			...created.map(r => [r.name, roles.get(r.name) ?? '', formatUsd(c.perNodeMonthly), formatUsd(c.perNodeHourly)]),
		]),
		`cost: ${formatUsd(c.perNodeMonthly * created.length)} a month (${formatUsd(c.perNodeHourly * created.length)} an hour) while ${many ? 'they exist' : 'it exists'}, running or not (swarmbee down ${spec.name} stops it)`,
	];
	io.stdout.write(`${lines.join('\n')}\n`);
	await ask(
		`Create ${created.length} ${billed.machine}${many ? 's' : ''} for ${spec.name} at ${formatUsd(c.perNodeMonthly * created.length)} a month?`,
	);
}
