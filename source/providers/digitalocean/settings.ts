import type {ProviderCredential} from '../types.js';
import type {ClientOptions} from './api.js';

/** DigitalOcean's token: from $DIGITALOCEAN_ACCESS_TOKEN (or handed over in-process); the API's address can be overridden for the emulator. */
export const DIGITALOCEAN_CREDENTIAL: ProviderCredential = {
	env: 'DIGITALOCEAN_ACCESS_TOKEN',
	endpointEnv: 'DIGITALOCEAN_API_URL',
	label: 'DigitalOcean API token (read and write)',
	help: 'DigitalOcean: a read/write token in $DIGITALOCEAN_ACCESS_TOKEN (never a flag).',
};

/** How long to wait, and how often to look; tests and the benchmark shorten them. */
export interface Timing {
	/** Poll interval while droplets boot: this at first … */
	pollEarlyMs: number;
	/** … and this after `pollSwitchAfterMs` (a droplet takes about a minute). */
	pollLateMs: number;
	pollSwitchAfterMs: number;
	/** A droplet not active with a public IPv4 by then has failed. */
	activeTimeoutMs: number;
	/**
	 * After a create whose outcome is unknown (5xx, cut connection), how long
	 * to let the droplet list catch up before looking: a new droplet can be
	 * missing from lists for a few seconds.
	 */
	settleMs: number;
	/** A droplet still `new` this long gets its create action checked, then every `actionCheckEveryMs`. */
	actionCheckAfterMs: number;
	actionCheckEveryMs: number;
	/** `down`: how long deleted droplets may take to disappear from lists. */
	drainTimeoutMs: number;
	/** user_data (Docker install included) must finish within this. */
	firstBootTimeoutMs: number;
	/** How long a droplet may refuse actions with "pending event". */
	busyTimeoutMs: number;
	sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
	now?: () => number;
}

export const DEFAULT_TIMING: Timing = {
	pollEarlyMs: 3_000,
	pollLateMs: 5_000,
	pollSwitchAfterMs: 20_000,
	activeTimeoutMs: 10 * 60_000,
	settleMs: 10_000,
	actionCheckAfterMs: 90_000,
	actionCheckEveryMs: 30_000,
	drainTimeoutMs: 90_000,
	firstBootTimeoutMs: 15 * 60_000,
	busyTimeoutMs: 5 * 60_000,
};

export interface DigitalOceanProviderOptions {
	/** The API token; checked at first use, so commands that need none never ask. */
	token?: string;
	/** Default https://api.digitalocean.com (DIGITALOCEAN_API_URL points it at the emulator). */
	apiUrl?: string;
	/** Client settings for tests (sleep, now, backoff). */
	client?: Partial<Omit<ClientOptions, 'token' | 'baseUrl'>>;
	timing?: Partial<Timing>;
}
