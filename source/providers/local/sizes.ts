/**
 * Sizes of local nodes. Named like DigitalOcean's slugs so a spec reads the
 * same on both providers; each caps the node container's memory and CPU and
 * is what the node's dockerd reports to Swarm.
 */
export interface LocalSize {
	slug: string;
	memoryMb: number;
	vcpus: number;
}

export const LOCAL_SIZES: readonly LocalSize[] = [
	{slug: 's-1vcpu-512mb-10gb', memoryMb: 512, vcpus: 1},
	{slug: 's-1vcpu-1gb', memoryMb: 1024, vcpus: 1},
	{slug: 's-1vcpu-2gb', memoryMb: 2048, vcpus: 1},
	{slug: 's-2vcpu-2gb', memoryMb: 2048, vcpus: 2},
	{slug: 's-2vcpu-4gb', memoryMb: 4096, vcpus: 2},
];

/** Images a local node can be built from (its Dockerfile's FROM). */
export const LOCAL_IMAGES: Readonly<Record<string, string>> = {
	'debian-12': 'debian:bookworm',
};

export function localSize(slug: string): LocalSize | undefined {
	return LOCAL_SIZES.find(size => size.slug === slug);
}
