/**
 * The emulator's regions, sizes and images: real slugs and list prices
 * (sizes as DigitalOcean listed them in 2025/26; prices drift), enough of
 * them that `/v2/sizes` spans two pages at the default `per_page` of 20.
 */
import type {Image, Region, Size} from '../../source/providers/digitalocean/api.js';

const FEATURES = ['private_networking', 'backups', 'ipv6', 'metadata', 'install_agent', 'storage', 'image_transfer'];

const REGIONS: Array<[slug: string, name: string, available: boolean]> = [
	['ams3', 'Amsterdam 3', true],
	['blr1', 'Bangalore 1', true],
	['fra1', 'Frankfurt 1', true],
	['lon1', 'London 1', true],
	['nyc1', 'New York 1', true],
	['nyc2', 'New York 2', false],
	['nyc3', 'New York 3', true],
	['sfo2', 'San Francisco 2', true],
	['sfo3', 'San Francisco 3', true],
	['sgp1', 'Singapore 1', true],
	['syd1', 'Sydney 1', true],
	['tor1', 'Toronto 1', true],
	['ams2', 'Amsterdam 2', false],
];

const ALL = REGIONS.filter(r => r[2]).map(r => r[0]);

// [slug, memory MB, vcpus, disk GB, transfer TB, $ monthly, regions (default: all available), description]
const SIZES: Array<[string, number, number, number, number, number, string[]?, string?]> = [
	['s-1vcpu-512mb-10gb', 512, 1, 10, 0.5, 4, ['ams3', 'blr1', 'fra1', 'lon1', 'nyc1', 'sfo3', 'sgp1', 'syd1', 'tor1']],
	['s-1vcpu-1gb', 1024, 1, 25, 1, 6],
	['s-1vcpu-1gb-amd', 1024, 1, 25, 1, 7],
	['s-1vcpu-1gb-intel', 1024, 1, 25, 1, 7],
	['s-1vcpu-2gb', 2048, 1, 50, 2, 12],
	['s-1vcpu-2gb-amd', 2048, 1, 50, 2, 14],
	['s-2vcpu-2gb', 2048, 2, 60, 3, 18],
	['s-2vcpu-2gb-amd', 2048, 2, 60, 3, 21],
	['s-2vcpu-4gb', 4096, 2, 80, 4, 24],
	['s-2vcpu-4gb-amd', 4096, 2, 80, 4, 28],
	['s-4vcpu-8gb', 8192, 4, 160, 5, 48],
	['s-4vcpu-8gb-amd', 8192, 4, 160, 5, 56],
	['s-8vcpu-16gb', 16384, 8, 320, 6, 96],
	['c-2', 4096, 2, 25, 4, 42, undefined, 'CPU-Optimized'],
	['c-4', 8192, 4, 50, 5, 84, undefined, 'CPU-Optimized'],
	['c-8', 16384, 8, 100, 6, 168, undefined, 'CPU-Optimized'],
	['g-2vcpu-8gb', 8192, 2, 25, 4, 63, undefined, 'General Purpose'],
	['g-4vcpu-16gb', 16384, 4, 50, 5, 126, undefined, 'General Purpose'],
	['m-2vcpu-16gb', 16384, 2, 50, 4, 84, undefined, 'Memory-Optimized'],
	['m-4vcpu-32gb', 32768, 4, 100, 5, 168, undefined, 'Memory-Optimized'],
	['so-2vcpu-16gb', 16384, 2, 300, 4, 131, undefined, 'Storage-Optimized'],
	['gpu-h100x1-80gb', 245760, 20, 720, 15, 2522.88, ['tor1', 'nyc2'], 'GPU'],
];

export function emulatorRegions(unavailable: readonly string[] = []): Region[] {
	return REGIONS.map(([slug, name, available]) => ({
		slug,
		name,
		available: available && !unavailable.includes(slug),
		features: FEATURES,
		sizes: SIZES.filter(s => (s[6] ?? ALL).includes(slug)).map(s => s[0]),
	}));
}

export function emulatorSizes(): Size[] {
	return SIZES.map(([slug, memory, vcpus, disk, transfer, monthly, regions, description]) => ({
		slug,
		memory,
		vcpus,
		disk,
		transfer,
		price_monthly: monthly,
		price_hourly: Math.round((monthly / 672) * 1e5) / 1e5,
		regions: regions ?? ALL,
		available: true,
		description: description ?? 'Basic',
	}));
}

// No almalinux-9-x64: the spec's `distribution` enum has no AlmaLinux, and the
// emulator's answers must match the spec (openapi.ts checks every one).
const DISTRIBUTIONS: Array<[id: number, slug: string, distribution: string, name: string]> = [
	[170000001, 'debian-12-x64', 'Debian', '12 x64'],
	[170000002, 'debian-13-x64', 'Debian', '13 x64'],
	[170000003, 'ubuntu-22-04-x64', 'Ubuntu', '22.04 (LTS) x64'],
	[170000004, 'ubuntu-24-04-x64', 'Ubuntu', '24.04 (LTS) x64'],
	[170000005, 'ubuntu-25-04-x64', 'Ubuntu', '25.04 x64'],
	[170000006, 'ubuntu-25-10-x64', 'Ubuntu', '25.10 x64'],
	[170000007, 'rockylinux-9-x64', 'Rocky Linux', '9 x64'],
	[170000009, 'fedora-42-x64', 'Fedora', '42 x64'],
];

export function emulatorImages(): Image[] {
	const distributions = DISTRIBUTIONS.map(([id, slug, distribution, name]) => ({
		id,
		name,
		distribution,
		slug,
		public: true,
		regions: ALL,
		type: 'snapshot',
		min_disk_size: 10,
		status: 'available',
	}));
	const application: Image = {
		id: 170000100,
		name: 'Docker on Ubuntu 22.04',
		distribution: 'Ubuntu',
		slug: 'docker-20-04',
		public: true,
		regions: ALL,
		type: 'snapshot',
		min_disk_size: 25,
		status: 'available',
	};
	return [...distributions, application];
}

/** Which images `?type=distribution` returns (the `type` field says snapshot for all). */
export function isDistribution(image: Image): boolean {
	return DISTRIBUTIONS.some(d => d[0] === image.id);
}
