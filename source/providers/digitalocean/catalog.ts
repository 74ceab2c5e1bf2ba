import {formatUsd} from '../../render/format.js';
/**
 * What the account and DigitalOcean offer (regions, sizes, images), and the
 * checks and prices built on them. The loaders make the requests; everything
 * else is pure, so the preflight, `swarmbee plan` and the wizard share one
 * set of rules and tests pin them as values.
 */
import {InputError, type FieldProblem} from '../../errors.js';
import {counted} from '../../render/format.js';
import {memoryFitProblem, type ClusterSpec} from '../../spec.js';
import type {Account, DigitalOceanClient, Image, Region, Size} from './api.js';
import {FIRST_BOOT_DISTRIBUTIONS, firstBootSupports} from './user-data.js';

export interface Catalog {
	account: Account;
	regions: Region[];
	sizes: Size[];
	/** The spec's image, when it exists. */
	image?: Image;
}

/**
 * The account first (a bad token fails on one request), then regions, sizes
 * and the image at once.
 */
export async function loadCatalog(
	client: DigitalOceanClient,
	imageSlug: string,
	signal?: AbortSignal,
): Promise<Catalog> {
	const account = await client.account(signal);
	const [regions, sizes, image] = await Promise.all([
		client.regions(signal),
		client.sizes(signal),
		client.image(imageSlug, signal),
	]);
	return {account, regions, sizes, image};
}

/** Regions that take new droplets, for the wizard's choices. */
function availableRegions(catalog: Pick<Catalog, 'regions'>): Region[] {
	return catalog.regions.filter(r => r.available).sort((a, b) => a.slug.localeCompare(b.slug));
}

/** Sizes that can be created in `region`, cheapest first. */
export function sizesIn(catalog: Pick<Catalog, 'regions' | 'sizes'>, region: string): Size[] {
	const offered = new Set(catalog.regions.find(r => r.slug === region)?.sizes ?? []);
	return catalog.sizes
		.filter(s => s.available && s.regions.includes(region) && offered.has(s.slug))
		.sort((a, b) => a.price_hourly - b.price_hourly || a.slug.localeCompare(b.slug));
}

/** `s-1vcpu-1gb (1 vCPU, 1 GB, $6/month)`. */
export function describeSize(size: Size): string {
	const memory = size.memory >= 1024 ? `${size.memory / 1024} GB` : `${size.memory} MB`;
	return `${size.slug} (${size.vcpus} vCPU, ${memory}, ${formatUsd(size.price_monthly)}/month)`;
}

function listSome(items: string[], max = 8): string {
	return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')}, and ${items.length - max} more`;
}

/** The images swarmbee can set up (see FIRST_BOOT_DISTRIBUTIONS), as slugs, sorted. */
export function supportedImageSlugs(images: Image[]): string[] {
	return images
		.filter(firstBootSupports)
		.map(i => i.slug)
		.filter((s): s is string => Boolean(s))
		.sort();
}

/**
 * Every reason the spec's region, size, image and memory limit cannot work
 * on this catalog, each with its fix (`distributionSlugs`: the images
 * swarmbee supports, to suggest). Empty when all is well.
 */
export function placementProblems(
	spec: Pick<ClusterSpec, 'region' | 'size' | 'image' | 'memoryLimit'> & Partial<Pick<ClusterSpec, 'memoryLimitBytes'>>,
	catalog: Pick<Catalog, 'regions' | 'sizes' | 'image'>,
	distributionSlugs: string[] = [],
): FieldProblem[] {
	const problems: FieldProblem[] = [];
	const region = catalog.regions.find(r => r.slug === spec.region);
	const size = catalog.sizes.find(s => s.slug === spec.size);
	const offering = (slug: string) =>
		availableRegions(catalog)
			.filter(r => r.sizes.includes(slug) && catalog.sizes.find(s => s.slug === slug)?.regions.includes(r.slug))
			.map(r => r.slug);

	if (!region) {
		const where = size ? offering(size.slug) : availableRegions(catalog).map(r => r.slug);
		problems.push({
			field: 'region',
			problem: `"${spec.region}" is not a DigitalOcean region`,
			fix: `use one of: ${listSome(where)}`,
		});
	} else if (!region.available) {
		problems.push({
			field: 'region',
			problem: `${region.slug} (${region.name}) takes no new droplets at the moment`,
			fix: `use another region${size ? ` that offers ${size.slug}: ${listSome(offering(size.slug))}` : ''}`,
		});
	}

	if (!size) {
		const choices = region ? sizesIn(catalog, region.slug) : catalog.sizes.filter(s => s.available);
		problems.push({
			field: 'size',
			problem: `"${spec.size}" is not a DigitalOcean size`,
			fix: `use one of: ${listSome(choices.map(s => s.slug))}`,
		});
	} else if (
		region?.available &&
		!(size.available && size.regions.includes(region.slug) && region.sizes.includes(size.slug))
	) {
		const elsewhere = offering(size.slug);
		problems.push({
			field: 'size',
			problem: `${size.slug} is not offered in ${region.slug}`,
			fix: `${elsewhere.length > 0 ? `use --region ${listSome(elsewhere, 5)}, or ` : ''}choose a size ${region.slug} offers: ${listSome(
				sizesIn(catalog, region.slug).map(s => s.slug),
				5,
			)}`,
		});
	}

	const supported =
		distributionSlugs.length > 0
			? `use one of: ${listSome(distributionSlugs)}`
			: 'use e.g. debian-12-x64 or ubuntu-24-04-x64';
	if (!catalog.image) {
		problems.push({
			field: 'image',
			problem: `"${spec.image}" is not a DigitalOcean image slug (old ones get retired)`,
			fix: supported,
		});
	} else if (!firstBootSupports(catalog.image)) {
		problems.push({
			field: 'image',
			problem: `${spec.image} (${catalog.image.distribution} ${catalog.image.name}) cannot be set up by swarmbee: a node's first boot installs with apt and restarts sshd with \`service ssh\`, which only ${FIRST_BOOT_DISTRIBUTIONS.join(' and ')} have`,
			fix: supported,
		});
	} else if (region && catalog.image.regions.length > 0 && !catalog.image.regions.includes(region.slug)) {
		problems.push({
			field: 'image',
			problem: `${spec.image} is not available in ${region.slug}`,
			fix: `use it in ${listSome(catalog.image.regions, 5)}, or another image`,
		});
	}

	if (size) {
		const fit = memoryFitProblem({...spec, size: size.slug}, size.memory);
		if (fit) problems.push(fit);
	}
	return problems;
}

/**
 * The account must be active and its droplet limit must leave room for the
 * droplets this run will create (`existing` counts every droplet on the
 * account, this cluster's included).
 */
export function accountProblem(account: Account, existing: number, toCreate: number): InputError | undefined {
	if (account.status !== 'active') {
		return new InputError(
			`the DigitalOcean account ${account.email} is ${account.status}, so it cannot create droplets`,
			{
				hint: account.status_message.trim() || undefined,
				nextSteps: [
					'see cloud.digitalocean.com for what the account needs (billing, verification), then run the same command again',
				],
			},
		);
	}
	if (toCreate > 0 && existing + toCreate > account.droplet_limit) {
		return new InputError(
			`this cluster needs ${counted(toCreate, 'new droplet')}, but the account may have ${account.droplet_limit} and has ${existing}`,
			{
				hint: `DigitalOcean would refuse the create request: ${existing} + ${toCreate} > droplet limit ${account.droplet_limit}.`,
				nextSteps: [
					`ask for fewer workers (--workers ${Math.max(1, account.droplet_limit - existing - 1)} would fit)`,
					'or ask DigitalOcean to raise the droplet limit (cloud.digitalocean.com → Settings → Team), or remove droplets you do not need',
				],
			},
		);
	}
	return undefined;
}

interface Cost {
	currency: 'USD';
	nodes: number;
	size: string;
	perNodeHourly: number;
	perNodeMonthly: number;
	hourly: number;
	monthly: number;
}

/** List prices from /v2/sizes: per node, and for the cluster. */
export function costOf(size: Size, nodes: number): Cost {
	return {
		currency: 'USD',
		nodes,
		size: size.slug,
		perNodeHourly: size.price_hourly,
		perNodeMonthly: size.price_monthly,
		hourly: Math.round(size.price_hourly * nodes * 1e5) / 1e5,
		monthly: Math.round(size.price_monthly * nodes * 100) / 100,
	};
}
