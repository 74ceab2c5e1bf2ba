import type {Machine, MachineStatus} from '../types.js';
import type {NodeRole} from '../../spec.js';
import type {Droplet} from './api.js';
import {ownerFromTags} from './names.js';

/** At most this many names per create request (DigitalOcean's limit). */
export const BATCH_SIZE = 10;

/**
 * Create requests for `plans`: one per role (the role is a tag, and one
 * request gives every droplet the same tags), at most 10 names each.
 */
export function dropletBatches<T extends {role: NodeRole}>(plans: readonly T[]): T[][] {
	const batches: T[][] = [];
	for (const role of ['manager', 'worker'] as const) {
		const ofRole = plans.filter(p => p.role === role);
		for (let i = 0; i < ofRole.length; i += BATCH_SIZE) batches.push(ofRole.slice(i, i + BATCH_SIZE));
	}
	return batches;
}

function publicIpv4(droplet: Droplet): string | undefined {
	return droplet.networks.v4.find(n => n.type === 'public')?.ip_address;
}

/**
 * A droplet as a Machine. `active` without a public IPv4 yet is still
 * `creating`: DigitalOcean can report active before the address appears.
 */
export function dropletMachine(droplet: Droplet): Machine {
	const publicAddress = publicIpv4(droplet);
	const privateAddress = droplet.networks.v4.find(n => n.type === 'private')?.ip_address;
	const statuses: Record<Droplet['status'], MachineStatus> = {
		new: 'creating',
		active: publicAddress ? 'running' : 'creating',
		off: 'stopped',
		archive: 'error',
	};
	return {
		name: droplet.name,
		providerId: String(droplet.id),
		status: statuses[droplet.status] ?? 'error',
		owner: ownerFromTags(droplet.tags),
		publicAddress,
		privateAddress,
		...(publicAddress ? {ssh: {host: publicAddress, port: 22, user: 'root'}} : {}),
	};
}
