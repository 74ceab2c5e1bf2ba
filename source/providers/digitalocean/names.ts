/**
 * How swarmbee names and tags what it makes on DigitalOcean. Droplet names
 * are the node names (`queenbee`, `workerbee-1`), as in the 2015
 * walk-through; names are not unique on DigitalOcean, so clusters are told
 * apart by tags, never by names.
 *
 *     swarmbee                      every droplet swarmbee made
 *     swarmbee-demo                 every droplet of cluster demo (firewall target, list, delete)
 *     swarmbee-role:manager         the node's planned Swarm role
 *     swarmbee-owner:<uuid>         the swarmbee state (journal) that made it
 *
 * Tag names allow `[a-zA-Z0-9_\-:]`; cluster names never contain `:`, so
 * the role and owner tags can never equal another cluster's tag.
 */
import type {NodeRole} from '../../spec.js';

export const SHARED_TAG = 'swarmbee';
const OWNER_PREFIX = 'swarmbee-owner:';

export const doNames = {
	clusterTag: (cluster: string) => `swarmbee-${cluster}`,
	roleTag: (role: NodeRole) => `swarmbee-role:${role}`,
	ownerTag: (owner: string) => `${OWNER_PREFIX}${owner}`,
	firewall: (cluster: string) => `swarmbee-${cluster}`,
	/** The cluster key, as uploaded to the account. */
	sshKey: (cluster: string) => `swarmbee-${cluster}`,
};

/** The owner id a droplet was tagged with, if any. */
export function ownerFromTags(tags: readonly string[]): string | undefined {
	return tags.find(tag => tag.startsWith(OWNER_PREFIX))?.slice(OWNER_PREFIX.length);
}

/** Every tag a droplet of this cluster, role and owner carries. */
export function dropletTags(cluster: string, role: NodeRole, owner: string): string[] {
	return [SHARED_TAG, doNames.clusterTag(cluster), doNames.roleTag(role), doNames.ownerTag(owner)];
}
