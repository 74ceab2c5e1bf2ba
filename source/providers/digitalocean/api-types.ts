/**
 * DigitalOcean's API v2 resources, as the API returns them (the fields
 * swarmbee reads), and the bodies it sends. Kept apart from the client
 * (api.ts), which re-exports them.
 */
import type {FirewallRequest, FirewallRule, FirewallTargets} from './firewall.js';

export interface Account {
	droplet_limit: number;
	floating_ip_limit: number;
	email: string;
	email_verified: boolean;
	uuid: string;
	status: 'active' | 'warning' | 'locked';
	status_message: string;
	name?: string;
	team?: {uuid: string; name: string};
}

export interface Region {
	slug: string;
	name: string;
	available: boolean;
	features: string[];
	sizes: string[];
}

export interface Size {
	slug: string;
	/** MB. */
	memory: number;
	vcpus: number;
	/** GB. */
	disk: number;
	/** TB. */
	transfer: number;
	price_monthly: number;
	price_hourly: number;
	regions: string[];
	available: boolean;
	description: string;
}

export interface Image {
	id: number;
	name: string;
	distribution: string;
	slug: string | null;
	public: boolean;
	regions: string[];
	type: string;
	min_disk_size: number;
	status: string;
}

export interface SshKey {
	id: number;
	fingerprint: string;
	public_key: string;
	name: string;
}

export interface NetworkV4 {
	ip_address: string;
	netmask: string;
	gateway?: string;
	type: 'public' | 'private';
}

export type DropletStatus = 'new' | 'active' | 'off' | 'archive';

export interface Droplet {
	id: number;
	name: string;
	memory: number;
	vcpus: number;
	disk: number;
	locked: boolean;
	status: DropletStatus;
	created_at: string;
	features: string[];
	networks: {v4: NetworkV4[]; v6: Array<{ip_address: string; netmask: number; gateway: string; type: 'public'}>};
	tags: string[];
	size_slug: string;
	region: Region;
	image: Image;
	vpc_uuid?: string;
}

export interface Action {
	id: number;
	status: 'in-progress' | 'completed' | 'errored';
	type: string;
	started_at: string;
	completed_at: string | null;
	resource_id: number;
	resource_type: string;
	region_slug?: string;
}

export interface Vpc {
	id: string;
	urn: string;
	name: string;
	description: string;
	region: string;
	ip_range: string;
	default: boolean;
	created_at: string;
}

export interface Firewall extends FirewallRequest {
	id: string;
	status: 'waiting' | 'succeeded' | 'failed';
	created_at: string;
	pending_changes: Array<{droplet_id: number; removing: boolean; status: string}>;
}

export type {FirewallRule, FirewallTargets};

export interface Tag {
	name: string;
	resources: {count: number; droplets: {count: number}};
}

/** The body of `POST /v2/droplets`, multi-create form. */
export interface DropletCreateRequest {
	names: string[];
	region: string;
	size: string;
	image: string;
	ssh_keys: Array<number | string>;
	backups: boolean;
	ipv6: boolean;
	monitoring: boolean;
	tags: string[];
	user_data: string;
	vpc_uuid?: string;
	/** Omitted: the agent (and with it the web console) is installed, its errors ignored. */
	with_droplet_agent?: boolean;
}

/** A block-storage volume: attached to at most one droplet, in one region. */
export interface Volume {
	id: string;
	name: string;
	description: string;
	size_gigabytes: number;
	/** The droplet it is attached to (at most one); empty when detached. */
	droplet_ids: number[];
	region: Region;
	created_at: string;
	filesystem_type?: string;
	tags?: string[];
}

/** The body of `POST /v2/volumes`. */
export interface VolumeCreateRequest {
	name: string;
	size_gigabytes: number;
	region: string;
	description?: string;
	/** Left out: an unformatted volume. */
	filesystem_type?: 'ext4' | 'xfs';
	filesystem_label?: string;
	tags?: string[];
}

/** An action on a volume (attach_volume, detach_volume, resize_volume). */
export interface VolumeAction {
	id: number;
	status: 'in-progress' | 'completed' | 'errored';
	type: string;
	started_at: string;
	completed_at: string | null;
}
