import {InputError} from '../errors.js';
import {DigitalOceanApiError, DigitalOceanClient} from '../providers/digitalocean/api.js';
import {firstBootSupports} from '../providers/digitalocean/user-data.js';
import {LOCAL_IMAGES, LOCAL_SIZES} from '../providers/local/sizes.js';
import type {ProviderName} from '../spec.js';
import {DockerCli} from '../docker/cli.js';
import {checkDatabaseImage, databaseImageChoices, type DatabaseImageChoice} from '../docker/database-images.js';
import {findRethinkdbSource} from '../docker/rethinkdb-image.js';
import {DEFAULT_RETHINKDB_IMAGE} from '../spec-fields.js';

/**
 * What the wizard asks a provider while the user answers: whose token this
 * is, which sizes, regions and images exist. Plain data, so the DigitalOcean
 * API client can fill it and tests can fake it.
 */
export interface CatalogAccount {
	email: string;
	/** How many droplets the account may have in all. */
	dropletLimit: number;
	/** How many it has now. */
	dropletCount: number;
}

export interface CatalogSize {
	slug: string;
	memoryMb: number;
	vcpus: number;
	/** US dollars; 0 where nothing is billed (local). */
	priceMonthly: number;
	priceHourly: number;
	/** Region slugs where this size can be created. */
	regions: string[];
	/** False when the provider lists it but will not create it now. */
	available?: boolean;
}

interface CatalogRegion {
	slug: string;
	name: string;
	available: boolean;
	/** Size slugs the region can create. */
	sizes: string[];
}

interface CatalogImage {
	slug: string;
	name: string;
}

export interface WizardCatalog {
	/** Set while a provider cannot be used from the wizard: its choice is shown disabled, with this reason. */
	unavailable?: string;
	/** Checks a token live; throws an InputError that says what is wrong with it. */
	validateToken(token: string): Promise<CatalogAccount>;
	regions(): Promise<CatalogRegion[]>;
	sizes(): Promise<CatalogSize[]>;
	images(): Promise<CatalogImage[]>;
	/**
	 * Where nodes load the database image from this machine's engine
	 * (local): the images that can be offered, and the check of one typed.
	 * Absent where nodes pull it themselves (DigitalOcean).
	 */
	databaseImages?: {
		offer(wanted?: string): Promise<DatabaseImageChoice[]>;
		check(image: string): Promise<DatabaseImageChoice>;
	};
}

/** Makes the catalog of a provider; `token` is the one the user gave (DigitalOcean). */
export type CatalogFor = (provider: ProviderName, token?: string) => WizardCatalog;

/** The local provider's catalog: sizes of node containers, one region (this machine), its images. */
export const localCatalog: WizardCatalog = {
	async validateToken() {
		throw new InputError('the local provider needs no token');
	},
	async regions() {
		return [
			{slug: 'local', name: "this machine's Docker engine", available: true, sizes: LOCAL_SIZES.map(s => s.slug)},
		];
	},
	async sizes() {
		return LOCAL_SIZES.map(s => ({
			slug: s.slug,
			memoryMb: s.memoryMb,
			vcpus: s.vcpus,
			priceMonthly: 0,
			priceHourly: 0,
			regions: ['local'],
			available: true,
		}));
	},
	async images() {
		return Object.entries(LOCAL_IMAGES).map(([slug, from]) => ({slug, name: `${from}, built into the node image`}));
	},
};

/**
 * DigitalOcean's catalog, live over its API with the token being checked.
 * One client per token for the wizard's session.
 */
function digitaloceanCatalog(token: string, env: NodeJS.ProcessEnv): WizardCatalog {
	const client = new DigitalOceanClient({token, baseUrl: env['DIGITALOCEAN_API_URL'] || undefined, retries: 2});
	return {
		async validateToken() {
			try {
				const [account, dropletCount] = await Promise.all([client.account(), client.dropletCount()]);
				if (account.status !== 'active')
					throw new InputError(
						`the account ${account.email} is ${account.status}: ${account.status_message.trim() || 'DigitalOcean will not create droplets for it'}`,
					);
				return {email: account.email, dropletLimit: account.droplet_limit, dropletCount};
			} catch (error) {
				if (error instanceof DigitalOceanApiError && (error.status === 401 || error.status === 403)) {
					throw new InputError(`DigitalOcean refused the token (${error.status} ${error.apiMessage})`, {
						hint: error.hint,
						nextSteps: error.nextSteps,
					});
				}
				throw error;
			}
		},
		async regions() {
			return (await client.regions()).map(r => ({slug: r.slug, name: r.name, available: r.available, sizes: r.sizes}));
		},
		async sizes() {
			return (await client.sizes()).map(s => ({
				slug: s.slug,
				memoryMb: s.memory,
				vcpus: s.vcpus,
				priceMonthly: s.price_monthly,
				priceHourly: s.price_hourly,
				regions: s.regions,
				available: s.available,
			}));
		},
		async images() {
			// Only images whose first boot swarmbee can carry out (Debian, Ubuntu): any other would be billed and never finish.
			return (await client.distributionImages())
				.filter(i => i.slug && firstBootSupports(i))
				.map(i => ({slug: i.slug!, name: `${i.distribution} ${i.name}`}));
		},
	};
}

/** A token is needed before DigitalOcean can be asked anything. */
const digitaloceanWithoutToken: WizardCatalog = {
	validateToken: async () => {
		throw new InputError('no token to check');
	},
	regions: async () => [],
	sizes: async () => [],
	images: async () => [],
};

/** The catalogs the wizard uses: local, and DigitalOcean through the API at $DIGITALOCEAN_API_URL (or the real one). */
export function catalogsFor(env: NodeJS.ProcessEnv): CatalogFor {
	const clients = new Map<string, WizardCatalog>();
	// The engine of the environment the wizard was given (its PATH finds the docker CLI).
	const docker = new DockerCli(env['PATH'] ? {PATH: env['PATH']} : {});
	const where = () => ({official: DEFAULT_RETHINKDB_IMAGE, source: rethinkdbSourceAt(env)});
	const local: WizardCatalog = {
		...localCatalog,
		databaseImages: {
			offer: wanted => databaseImageChoices(docker, {...where(), wanted}),
			check: image => checkDatabaseImage(docker, image, where()),
		},
	};
	return (provider, token) => {
		if (provider === 'local') return local;
		if (!token) return digitaloceanWithoutToken;
		let catalog = clients.get(token);
		if (!catalog) {
			catalog = digitaloceanCatalog(token, env);
			clients.set(token, catalog);
		}
		return catalog;
	};
}

/** The real server's source folder, where one is at hand (preflight builds the official image from it where it cannot be pulled). */
function rethinkdbSourceAt(env: NodeJS.ProcessEnv): string | undefined {
	try {
		return findRethinkdbSource(env);
	} catch {
		return undefined;
	}
}
