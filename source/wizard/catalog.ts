import {InputError} from '../errors.js';
import {LOCAL_IMAGES, LOCAL_SIZES} from '../providers/local/sizes.js';
import type {ProviderName} from '../spec.js';

/**
 * What the wizard asks a provider while the user answers: whose token this
 * is, which sizes, regions and images exist. Plain data, so the DigitalOcean
 * API client (another branch) can fill it and tests can fake it.
 *
 * SEAM for the DigitalOcean provider: implement `WizardCatalog` over the
 * API client (GET /v2/account, /v2/sizes, /v2/regions, /v2/images?type=
 * distribution) and return it from `catalogFor` below for 'digitalocean'.
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

export interface CatalogRegion {
	slug: string;
	name: string;
	available: boolean;
	/** Size slugs the region can create. */
	sizes: string[];
}

export interface CatalogImage {
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
}

/** Makes the catalog of a provider; `token` is the one the user gave (DigitalOcean). */
export type CatalogFor = (provider: ProviderName, token?: string) => WizardCatalog;

/** The local provider's catalog: sizes of node containers, one region (this machine), its images. */
export const localCatalog: WizardCatalog = {
	async validateToken() {
		throw new InputError('the local provider needs no token');
	},
	async regions() {
		return [{slug: 'local', name: "this machine's Docker engine", available: true, sizes: LOCAL_SIZES.map(s => s.slug)}];
	},
	async sizes() {
		return LOCAL_SIZES.map(s => ({slug: s.slug, memoryMb: s.memoryMb, vcpus: s.vcpus, priceMonthly: 0, priceHourly: 0, regions: ['local'], available: true}));
	},
	async images() {
		return Object.entries(LOCAL_IMAGES).map(([slug, from]) => ({slug, name: `${from}, built into the node image`}));
	},
};

function notInThisBuild(): never {
	throw new InputError('the DigitalOcean catalog is not part of this build yet', {
		nextSteps: ['choose the local provider for now, or pass every answer as flags: swarmbee up NAME --provider digitalocean --size … --region …'],
	});
}

/** Stands in until the DigitalOcean client is merged: every call says so. */
const digitaloceanPending: WizardCatalog = {
	unavailable: 'not in this build yet',
	validateToken: async () => notInThisBuild(),
	regions: async () => notInThisBuild(),
	sizes: async () => notInThisBuild(),
	images: async () => notInThisBuild(),
};

export const catalogFor: CatalogFor = provider => (provider === 'local' ? localCatalog : digitaloceanPending);
