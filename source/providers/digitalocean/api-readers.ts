/**
 * Readers for the answers the client relies on (answers.ts): each names the
 * fields swarmbee reads of a resource, with their types. The rest of an
 * answer passes through unread.
 */
import {read, type Reader} from './answers.js';
import type {
	Account,
	Action,
	Droplet,
	Firewall,
	Image,
	Region,
	Size,
	SshKey,
	Tag,
	Volume,
	VolumeAction,
	Vpc,
} from './api-types.js';

const strings = read.list(read.string);

export const readAccount: Reader<Account> = read.object<Account>({
	droplet_limit: read.whole,
	floating_ip_limit: read.optional(read.whole) as Reader<number>,
	email: read.string,
	email_verified: read.optional(read.boolean) as Reader<boolean>,
	uuid: read.string,
	status: read.oneOf('active', 'warning', 'locked'),
	status_message: read.optional(read.string) as Reader<string>,
	name: read.optional(read.string),
	team: read.optional(read.object({uuid: read.string, name: read.string})),
});

export const readRegion: Reader<Region> = read.object<Region>({
	slug: read.string,
	name: read.string,
	available: read.boolean,
	features: strings,
	sizes: strings,
});

export const readSize: Reader<Size> = read.object<Size>({
	slug: read.string,
	memory: read.whole,
	vcpus: read.whole,
	disk: read.whole,
	transfer: read.number,
	price_monthly: read.number,
	price_hourly: read.number,
	regions: strings,
	available: read.boolean,
	description: read.optional(read.string) as Reader<string>,
});

export const readImage: Reader<Image> = read.object<Image>({
	id: read.whole,
	name: read.string,
	distribution: read.string,
	slug: read.nullable(read.string),
	public: read.boolean,
	regions: strings,
	type: read.string,
	min_disk_size: read.optional(read.whole) as Reader<number>,
	status: read.optional(read.string) as Reader<string>,
});

export const readSshKey: Reader<SshKey> = read.object<SshKey>({
	id: read.whole,
	fingerprint: read.string,
	public_key: read.string,
	name: read.string,
});

const readNetworkV4 = read.object<Droplet['networks']['v4'][number]>({
	ip_address: read.string,
	netmask: read.string,
	gateway: read.optional(read.string),
	type: read.oneOf('public', 'private'),
});

export const readDroplet: Reader<Droplet> = read.object<Droplet>({
	id: read.whole,
	name: read.string,
	memory: read.whole,
	vcpus: read.whole,
	disk: read.whole,
	locked: read.boolean,
	status: read.oneOf('new', 'active', 'off', 'archive'),
	created_at: read.string,
	features: strings,
	networks: read.object<Droplet['networks']>({
		v4: read.list(readNetworkV4),
		v6: read.optional(read.list(read.object({ip_address: read.string}))) as Reader<Droplet['networks']['v6']>,
	}),
	tags: strings,
	size_slug: read.string,
	region: read.object<Region>({slug: read.string}) as Reader<Region>,
	image: read.object<Image>({}) as Reader<Image>,
	vpc_uuid: read.optional(read.string),
});

export const readAction: Reader<Action> = read.object<Action>({
	id: read.whole,
	status: read.oneOf('in-progress', 'completed', 'errored'),
	type: read.string,
	started_at: read.string,
	completed_at: read.nullable(read.string),
	resource_id: read.optional(read.nullable(read.whole)) as Reader<number>,
	resource_type: read.optional(read.string) as Reader<string>,
	region_slug: read.optional(read.nullable(read.string)) as Reader<string | undefined>,
});

export const readVpc: Reader<Vpc> = read.object<Vpc>({
	id: read.string,
	urn: read.optional(read.string) as Reader<string>,
	name: read.string,
	description: read.optional(read.string) as Reader<string>,
	region: read.string,
	ip_range: read.cidr,
	default: read.boolean,
	created_at: read.optional(read.string) as Reader<string>,
});

const readTargets = read.optional(
	read.object({
		addresses: read.optional(strings),
		tags: read.optional(strings),
		droplet_ids: read.optional(read.list(read.whole)),
	}),
);
const readRule = read.object<Firewall['inbound_rules'][number]>({
	protocol: read.oneOf('tcp', 'udp', 'icmp'),
	ports: read.string,
	sources: readTargets,
	destinations: readTargets,
});

export const readFirewall: Reader<Firewall> = read.object<Firewall>({
	id: read.string,
	name: read.string,
	status: read.oneOf('waiting', 'succeeded', 'failed'),
	created_at: read.string,
	inbound_rules: read.list(readRule),
	outbound_rules: read.list(readRule),
	tags: strings,
	droplet_ids: read.list(read.whole),
	pending_changes: read.optional(read.list(read.object({}))) as Reader<Firewall['pending_changes']>,
});

export const readTag: Reader<Tag> = read.object<Tag>({
	name: read.string,
	resources: read.object<Tag['resources']>({
		count: read.whole,
		droplets: read.object<Tag['resources']['droplets']>({count: read.whole}),
	}),
});

export const readVolume: Reader<Volume> = read.object<Volume>({
	id: read.string,
	name: read.string,
	description: read.optional(read.string) as Reader<string>,
	size_gigabytes: read.whole,
	droplet_ids: ((value, where) => (value === null ? [] : read.list(read.whole)(value, where))) as Reader<number[]>,
	region: read.object<Region>({slug: read.string}) as Reader<Region>,
	created_at: read.string,
	filesystem_type: read.optional(read.string),
	tags: read.optional(read.nullable(strings)) as Reader<string[] | undefined>,
});

export const readVolumeAction: Reader<VolumeAction> = read.object<VolumeAction>({
	id: read.whole,
	status: read.oneOf('in-progress', 'completed', 'errored'),
	type: read.string,
	started_at: read.string,
	completed_at: read.nullable(read.string),
});

/** `{key: T}`: one resource under its key. */
export function one<T>(key: string, reader: Reader<T>): Reader<T> {
	// biome-ignore lint/style/noNonNullAssertion: read.object ran `reader` on this very key, so the value there is the T it read.
	return (value, where) => read.object<Record<string, T>>({[key]: reader})(value, where)[key]!;
}
