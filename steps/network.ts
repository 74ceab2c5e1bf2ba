import {chooseOverlaySubnet} from '../source/cluster/cidr.js';
import {OVERLAY_NETWORK, overlayCreateCommand, overlayInspectCommand, parseOverlay} from '../source/cluster/overlay.js';
import {InputError} from '../source/errors.js';
import {event} from '../source/events.js';
import type {ClusterContext, Step} from './types.js';

/** Docker's own defaults on a Swarm manager: the ingress overlay and docker_gwbridge. */
const DOCKER_DEFAULTS = ['10.0.0.0/24', '172.17.0.0/16', '172.18.0.0/16'];

/**
 * The attachable overlay the database servers share, on a subnet swarmbee
 * picks clear of the nodes' own networks. Encrypted (IPsec) when asked for.
 */
export const networkStep: Step<Pick<ClusterContext, 'spec' | 'journal' | 'provider' | 'ssh'>> = {
	id: 'network',
	title: 'Overlay network',
	async run(ctx, io) {
		const {journal, spec, provider, ssh} = ctx;
		const {signal} = io;
		const manager = await ssh.get(journal.value.nodes[0]!.name, signal);
		const existing = parseOverlay(OVERLAY_NETWORK, await manager.run(overlayInspectCommand(OVERLAY_NETWORK), {signal}));
		const encrypted = spec.encryptOverlay;
		if (encrypted && !provider.capabilities.encryptedOverlay) {
			io.emit(event({type: 'warning', message: `an encrypted overlay may not carry traffic on the ${provider.name} provider (IPsec between nested engines); pass --no-encrypt-overlay if the verify step fails`}));
		}
		if (existing) {
			if (existing.driver !== 'overlay' || existing.encrypted !== encrypted) {
				throw new InputError(`network ${OVERLAY_NETWORK} exists on the swarm but is ${existing.driver !== 'overlay' ? `a ${existing.driver} network` : existing.encrypted ? 'encrypted' : 'not encrypted'}`, {
					hint: 'an overlay cannot be changed in place while services use it.',
					nextSteps: [encrypted ? `run again with --no-encrypt-overlay to keep it as it is` : `run again with --encrypt-overlay to keep it as it is`, `or remove the cluster (swarmbee down ${spec.name}) and build it again`],
				});
			}
			journal.update(j => {
				j.swarm!.overlay = {name: OVERLAY_NETWORK, subnet: existing.subnet, encrypted: existing.encrypted};
			});
			return {changed: false, summary: `${OVERLAY_NETWORK} (${existing.subnet}${existing.encrypted ? ', encrypted' : ''}) in place`};
		}
		const infra = journal.value.infra;
		const subnet = journal.value.swarm?.overlay?.subnet
			?? chooseOverlaySubnet(spec.name, [infra?.privateCidr, infra?.publicCidr, ...DOCKER_DEFAULTS].filter((c): c is string => Boolean(c)));
		await manager.run(overlayCreateCommand({name: OVERLAY_NETWORK, subnet, encrypted}), {signal});
		journal.update(j => {
			j.swarm!.overlay = {name: OVERLAY_NETWORK, subnet, encrypted};
		});
		return {changed: true, summary: `${OVERLAY_NETWORK} created (${subnet}${encrypted ? ', encrypted' : ''})`};
	},
};
