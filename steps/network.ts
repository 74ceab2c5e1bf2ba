import {chooseFreeSubnet, chooseOverlaySubnet} from '../source/nodes/cidr.js';
import {
	DATABASE_NETWORK,
	OVERLAY_NETWORK,
	overlayCreateCommand,
	overlayInspectCommand,
	parseOverlay,
	type OverlaySettings,
} from '../source/nodes/overlay.js';
import {defined, ExternalError, InputError} from '../source/errors.js';
import type {Journal} from '../source/store/journal.js';
import type {RemoteShell} from '../source/ssh/shell.js';
import type {ClusterContext, Step, StepIO} from './types.js';
import {firstNode} from '../source/store/nodes.js';

/** Docker's own defaults on a Swarm manager: the ingress overlay and docker_gwbridge. */
const DOCKER_DEFAULTS = ['10.0.0.0/24', '172.17.0.0/16', '172.18.0.0/16'];

interface Ensured {
	settings: OverlaySettings;
	changed: boolean;
}

/** The overlay as asked, created if missing; one that exists in another shape is refused (it cannot change in place). */
async function ensureOverlay(
	manager: RemoteShell,
	want: OverlaySettings,
	cluster: string,
	io: StepIO,
): Promise<Ensured> {
	const {signal} = io;
	const existing = parseOverlay(want.name, await manager.run(overlayInspectCommand(want.name), {signal}));
	if (!existing) {
		await manager.run(overlayCreateCommand(want), {signal});
		return {settings: want, changed: true};
	}
	const attachable = want.attachable !== false;
	if (existing.driver !== 'overlay' || existing.encrypted !== want.encrypted || existing.attachable !== attachable) {
		const shape =
			existing.driver !== 'overlay'
				? `a ${existing.driver} network`
				: existing.encrypted !== want.encrypted
					? existing.encrypted
						? 'encrypted'
						: 'not encrypted'
					: existing.attachable
						? 'attachable'
						: 'not attachable';
		throw new InputError(`network ${want.name} exists on the swarm but is ${shape}`, {
			hint: 'an overlay cannot be changed in place while services use it.',
			nextSteps:
				existing.encrypted !== want.encrypted
					? [
							want.encrypted
								? 'run again with --no-encrypt-overlay to keep it as it is'
								: 'run again with --encrypt-overlay to keep it as it is',
							`or remove the cluster (swarmbee down ${cluster}) and build it again`,
						]
					: [
							`remove the cluster (swarmbee down ${cluster}) and build it again, or remove the network by hand on queenbee (docker network rm ${want.name}) if nothing uses it`,
						],
		});
	}
	return {settings: {...want, subnet: existing.subnet}, changed: false};
}

function describe(settings: OverlaySettings, changed: boolean): string {
	return `${settings.name} ${changed ? 'created' : 'in place'} (${settings.subnet}${settings.encrypted ? ', encrypted' : ''})`;
}

/**
 * The attachable overlay applications share, and (with the database) the
 * servers' own non-attachable one, on subnets swarmbee picks clear of the
 * nodes' own networks and of each other. Encrypted (IPsec) where asked.
 */
export const networkStep: Step<Pick<ClusterContext, 'spec' | 'journal' | 'provider' | 'ssh'>> = {
	id: 'network',
	title: 'Overlay network',
	async run(ctx, io) {
		const {journal, spec, provider, ssh} = ctx;
		const manager = await ssh.get(firstNode(journal.value).name, io.signal);
		const encrypted = spec.encryptOverlay;
		if (encrypted && !provider.capabilities.encryptedOverlay) {
			io.warn(
				`an encrypted overlay may not carry traffic on the ${provider.name} provider (IPsec between nested engines); pass --no-encrypt-overlay if the verify step fails`,
			);
		}
		const infra = journal.value.infra;
		const avoid = [infra?.privateCidr, infra?.publicCidr, ...DOCKER_DEFAULTS].filter((c): c is string => Boolean(c));
		const recorded = journal.value.swarm;
		const app = await ensureOverlay(
			manager,
			{
				name: OVERLAY_NETWORK,
				subnet: recorded?.overlay?.subnet ?? chooseOverlaySubnet(spec.name, avoid),
				encrypted,
			},
			spec.name,
			io,
		);
		journal.update(j => {
			swarmOf(j).overlay = {name: OVERLAY_NETWORK, subnet: app.settings.subnet, encrypted: app.settings.encrypted};
		});
		if (spec.database === 'none') return {changed: app.changed, summary: describe(app.settings, app.changed)};

		const databaseSubnet =
			recorded?.databaseOverlay?.subnet ??
			chooseFreeSubnet('10.208.0.0/12', [...avoid, app.settings.subnet], `database:${spec.name}`, 24);
		if (!databaseSubnet)
			throw new ExternalError('no free /24 left in 10.208.0.0/12 for the database network', {
				nextSteps: [
					'remove networks you no longer need from the nodes (docker network ls), then run the same command again',
				],
			});
		const database = await ensureOverlay(
			manager,
			{name: DATABASE_NETWORK, subnet: databaseSubnet, encrypted, attachable: false},
			spec.name,
			io,
		);
		journal.update(j => {
			swarmOf(j).databaseOverlay = {
				name: DATABASE_NETWORK,
				subnet: database.settings.subnet,
				encrypted: database.settings.encrypted,
			};
		});
		return {
			changed: app.changed || database.changed,
			summary: `${describe(app.settings, app.changed)}; ${describe(database.settings, database.changed)}, for the database servers only`,
		};
	},
};

/** The swarm record the swarm step wrote before this step runs. */
function swarmOf(journal: Journal): NonNullable<Journal['swarm']> {
	return defined(journal.swarm, `the journal of ${journal.cluster} has no swarm yet: the swarm step runs first`);
}
