/**
 * A typed client for the part of DigitalOcean's API v2 swarmbee uses, on
 * global `fetch`. Written to the reference in shared/reference
 * (digitalocean-api.md): bearer auth, pagination by `links.pages.next`,
 * errors with `id`/`message`/`request_id`, rate-limit headers, retries.
 *
 * Retries: GET, PUT and DELETE are retried on 429 (after Retry-After or
 * until ratelimit-reset, if that is within maxWaitMs; otherwise the error
 * says when to come back), 5xx except 501 and cut connections, with capped
 * exponential backoff and jitter. POSTs are retried only on 429, which
 * refuses a request without carrying it out; after a 5xx or a cut connection
 * a POST may or may not have happened, so the error goes back to the caller,
 * which looks before it creates again when the error is `uncertain` (5xx,
 * no answer; a 429 is not: nothing was done). Droplet creates are never
 * retried here at all, not even after a 429: see the provider's
 * reconciliation.
 */
import {CancelledError, InputError, SwarmbeeError, type ErrorKind} from '../../errors.js';
import {pause} from '../../concurrency.js';
import {registerSecret} from '../../redact.js';
import {formatDuration} from '../../render/format.js';
import type {FirewallRequest} from './firewall.js';
import type {
	Account,
	Region,
	Size,
	Image,
	SshKey,
	NetworkV4,
	DropletStatus,
	Droplet,
	Action,
	Vpc,
	Firewall,
	Tag,
	DropletCreateRequest,
} from './api-types.js';

export const DEFAULT_API_URL = 'https://api.digitalocean.com';
export const TOKEN_URL = 'https://cloud.digitalocean.com/account/api/tokens';

// Resources, as the API returns them: api-types.ts.
export type {
	Account,
	Region,
	Size,
	Image,
	SshKey,
	NetworkV4,
	DropletStatus,
	Droplet,
	Action,
	Vpc,
	Firewall,
	Tag,
	DropletCreateRequest,
};
export type {FirewallRule, FirewallTargets} from './firewall.js';

// ---------------------------------------------------------------------------
// Errors

/** What DigitalOcean said about a failed request, with the fix for a human. */
export class DigitalOceanApiError extends SwarmbeeError {
	override readonly kind: ErrorKind;
	/** HTTP status; 0 when no response came (connection cut, timeout). */
	readonly status: number;
	readonly id?: string;
	readonly apiMessage: string;
	readonly requestId?: string;
	readonly method: string;
	readonly path: string;
	/** The request may have been carried out although it failed (5xx, no response). */
	readonly uncertain: boolean;
	/** How long the API asked us to wait: Retry-After, or on a 429 without it, until ratelimit-reset. */
	readonly retryAfterMs?: number;

	constructor(init: {
		status: number;
		id?: string;
		message: string;
		requestId?: string;
		method: string;
		path: string;
		retryAfterMs?: number;
		cause?: unknown;
		/** For the 429 hint: the client's clock and the longest wait it honours by itself. */
		now?: number;
		maxWaitMs?: number;
	}) {
		const {hint, nextSteps, kind} = explain(init);
		const what = init.status === 0 ? 'got no answer' : `answered ${init.status}${init.id ? ` ${init.id}` : ''}`;
		super(
			`DigitalOcean API: ${init.method} ${init.path} ${what}: ${init.message}${init.requestId ? ` (request ${init.requestId})` : ''}`,
			{hint, nextSteps, cause: init.cause},
		);
		this.kind = kind;
		this.status = init.status;
		this.id = init.id;
		this.apiMessage = init.message;
		this.requestId = init.requestId;
		this.method = init.method;
		this.path = init.path;
		this.uncertain = init.status === 0 || init.status >= 500;
		this.retryAfterMs = init.retryAfterMs;
	}

	/** Worth trying again: rate limited, a server error (not 501), or no answer. */
	get retryable(): boolean {
		return this.status === 429 || this.status === 0 || (this.status >= 500 && this.status !== 501);
	}
}

/** Token scopes by path, as the spec's `security` names them (do-openapi.test checks). */
const SCOPES: Array<[RegExp, string]> = [
	[/^\/v2\/account\/keys/, 'ssh_key'],
	[/^\/v2\/account/, 'account'],
	[/^\/v2\/droplets/, 'droplet'],
	[/^\/v2\/actions/, 'actions'],
	[/^\/v2\/vpcs/, 'vpc'],
	[/^\/v2\/firewalls/, 'firewall'],
	[/^\/v2\/tags/, 'tag'],
	[/^\/v2\/(sizes|regions)/, 'regions'],
	[/^\/v2\/images/, 'image'],
];

/** The scope a call needs, for a 403's hint (custom-scoped tokens). */
export function scopeFor(method: string, path: string): string {
	const resource = SCOPES.find(([pattern]) => pattern.test(path))?.[1] ?? 'the resource';
	const action =
		method === 'GET'
			? 'read'
			: method === 'DELETE'
				? 'delete'
				: method === 'POST' && !/\/actions$/.test(path)
					? 'create'
					: 'update';
	return `${resource}:${action}`;
}

function explain(e: {
	status: number;
	message: string;
	method: string;
	path: string;
	retryAfterMs?: number;
	now?: number;
	maxWaitMs?: number;
}): {hint?: string; nextSteps: string[]; kind: ErrorKind} {
	const message = e.message.toLowerCase();
	switch (true) {
		case e.status === 401:
			return {
				kind: 'input',
				hint: 'DigitalOcean did not accept the API token: it is mistyped, expired or revoked.',
				nextSteps: [
					`create a personal access token with read and write scope at ${TOKEN_URL}`,
					'then export DIGITALOCEAN_ACCESS_TOKEN=<the token> and run the same command again (swarmbee never takes a token on the command line)',
				],
			};
		case e.status === 403:
			return {
				kind: 'input',
				hint: `the token is valid but lacks the scope this call needs (${scopeFor(e.method, e.path)}), or the account may not do this.`,
				nextSteps: [
					`give the token full read and write scope, or at least ${scopeFor(e.method, e.path)}, at ${TOKEN_URL}`,
				],
			};
		case e.status === 422 && message.includes('droplet limit'):
			return {
				kind: 'input',
				hint: 'the account may not have this many droplets.',
				nextSteps: [
					'ask for fewer workers (--workers)',
					'or ask DigitalOcean to raise the droplet limit (cloud.digitalocean.com → Settings → Team)',
				],
			};
		case e.status === 422 && message.includes('not available in this region'):
			return {
				kind: 'input',
				hint: 'that size cannot be created in that region right now.',
				nextSteps: ['choose another --size or --region; swarmbee plan shows what the region offers'],
			};
		case e.status === 422 && message.includes('region is not available'):
			return {
				kind: 'input',
				hint: 'the region takes no new droplets at the moment.',
				nextSteps: ['choose another --region'],
			};
		case e.status === 422 && /invalid (image|size|region)/.test(message):
			return {
				kind: 'input',
				hint: 'DigitalOcean does not know that slug (old image slugs get retired).',
				nextSteps: ['check --image, --size and --region; swarmbee plan lists what exists'],
			};
		case e.status === 422 && message.includes('invalid key identifiers'):
			return {
				kind: 'external',
				hint: 'a freshly uploaded SSH key is not visible to droplet creation yet (DigitalOcean is eventually consistent).',
				nextSteps: ['run the same command again in a minute'],
			};
		case e.status === 422 && message.includes('already in use'):
			return {kind: 'input', hint: 'this SSH key is on the account already.', nextSteps: []};
		case e.status === 422 && message.includes('pending event'):
			return {
				kind: 'external',
				hint: 'the droplet is busy with another action.',
				nextSteps: ['wait a minute and run the same command again'],
			};
		case e.status === 422:
			return {kind: 'input', hint: 'DigitalOcean refused the request as asked.', nextSteps: []};
		case e.status === 429: {
			const used = 'the API rate limit (250 requests a minute, 5,000 an hour per token) is used up';
			if (e.retryAfterMs === undefined)
				return {
					kind: 'external',
					hint: `${used}.`,
					nextSteps: ['wait a minute, then run the same command again: it resumes where it stopped'],
				};
			// Whole seconds: the API's reset is a whole second.
			const wait = Math.ceil(e.retryAfterMs / 1000) * 1000;
			const at = new Date((e.now ?? Date.now()) + e.retryAfterMs).toISOString().slice(11, 19);
			const longer =
				e.maxWaitMs !== undefined && e.retryAfterMs > e.maxWaitMs
					? `, longer than swarmbee waits on its own (${formatDuration(e.maxWaitMs)})`
					: '';
			return {
				kind: 'external',
				hint: `${used}: DigitalOcean takes requests again in ${formatDuration(wait)}, at ${at} UTC${longer}.`,
				nextSteps: [`run the same command again after ${at} UTC: it resumes where it stopped`],
			};
		}
		case e.status === 0 || e.status >= 500:
			return {
				kind: 'external',
				hint: 'DigitalOcean or the connection to it failed; see https://status.digitalocean.com.',
				nextSteps: ['run the same command again: it looks for what exists before creating anything'],
			};
		default:
			return {kind: 'external', nextSteps: []};
	}
}

// ---------------------------------------------------------------------------
// The client

export interface RateLimitInfo {
	/** Requests allowed per hour. */
	limit: number;
	remaining: number;
	/** When the oldest counted request stops counting. */
	resetAt: Date;
}

export interface ClientOptions {
	token: string;
	/** Default https://api.digitalocean.com; plain http only to this machine (the emulator). */
	baseUrl?: string;
	fetch?: typeof fetch;
	sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
	now?: () => number;
	random?: () => number;
	onRateLimit?: (info: RateLimitInfo) => void;
	/** Retries after the first attempt, for retryable failures. Default 5. */
	retries?: number;
	/** Exponential backoff: base doubled per attempt, capped. Default 1 s to 30 s. */
	backoff?: {baseMs: number; capMs: number};
	/** The longest wait a 429 is honoured with; beyond it the error is shown. Default 90 s. */
	maxWaitMs?: number;
	/** Client-side cap per sliding minute, below the API's 250. Default 240. */
	perMinute?: number;
	/** Per attempt. Default 30 s. */
	timeoutMs?: number;
}

export type RetryPolicy = 'always' | 'rate-limit-only' | 'never';

export interface RequestOptions {
	query?: Record<string, string | number | undefined>;
	body?: unknown;
	signal?: AbortSignal;
	/** Default: `always` for GET/PUT/DELETE, `rate-limit-only` for POST. */
	retry?: RetryPolicy;
}

export interface Page<T> {
	items: T[];
	total: number;
}

function isLoopback(url: URL): boolean {
	return ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

/**
 * The API's address: DigitalOcean's, or DIGITALOCEAN_API_URL's when set. One
 * that is no URL, or that would carry the token in the clear off this
 * machine, is refused before any request, saying what it may be.
 */
function apiUrl(given: string | undefined): URL {
	const fix = [
		`unset DIGITALOCEAN_API_URL for DigitalOcean's API (${DEFAULT_API_URL})`,
		'or set it to an https URL, or http://127.0.0.1:PORT for an emulator on this machine',
	];
	let url: URL;
	try {
		url = new URL(given ?? DEFAULT_API_URL);
	} catch {
		throw new InputError(`DIGITALOCEAN_API_URL is ${JSON.stringify(given)}, which is not a URL`, {nextSteps: fix});
	}
	if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) {
		throw new InputError(
			`refusing to send the API token to ${url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : given}: only https, or plain http to this machine (an emulator)`,
			{nextSteps: fix},
		);
	}
	return url;
}

/**
 * One path segment, escaped as godo's (Go's url package) are: only what may
 * not stand in a path is escaped, so the `:` of `swarmbee-role:manager` and of
 * an MD5 fingerprint goes raw. An API that matches the raw path finds no tag
 * named `swarmbee-role%3Amanager`.
 */
export function pathSegment(value: string | number): string {
	return encodeURIComponent(String(value)).replace(/%(3A|40|24|26|2B|2C|3B|3D)/gi, escaped =>
		decodeURIComponent(escaped),
	);
}

function headerNumber(headers: Headers, name: string): number | undefined {
	const value = headers.get(name);
	if (value === null || value.trim() === '') return undefined;
	const n = Number(value);
	return Number.isFinite(n) ? n : undefined;
}

/**
 * How long a response asks to wait. Retry-After comes with the burst limit
 * (and may with a 503); a 429 without it means the hourly budget is spent,
 * and the next request frees up at ratelimit-reset, when the oldest counted
 * request expires.
 */
function retryAfterMs(status: number, headers: Headers, now: number): number | undefined {
	const retryAfter = headerNumber(headers, 'retry-after');
	if (retryAfter !== undefined) return retryAfter * 1000;
	const reset = status === 429 ? headerNumber(headers, 'ratelimit-reset') : undefined;
	return reset === undefined ? undefined : Math.max(0, reset * 1000 - now);
}

/**
 * Counts requests in a sliding minute and makes the next one wait when the
 * budget is spent, so swarmbee alone never trips the API's burst limit.
 */
export class RequestWindow {
	private readonly stamps: number[] = [];

	constructor(
		private readonly perMinute: number,
		private readonly now: () => number,
		private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>,
	) {}

	async take(signal?: AbortSignal): Promise<void> {
		for (;;) {
			const t = this.now();
			while (this.stamps.length > 0 && this.stamps[0]! <= t - 60_000) this.stamps.shift();
			if (this.stamps.length < this.perMinute) {
				this.stamps.push(t);
				return;
			}
			await this.sleep(this.stamps[0]! + 60_000 - t, signal);
		}
	}
}

export class DigitalOceanClient {
	readonly baseUrl: URL;
	private readonly token: string;
	private readonly fetchImpl: typeof fetch;
	private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
	private readonly now: () => number;
	private readonly random: () => number;
	private readonly window: RequestWindow;
	/** Set per run by the provider, so rate-limit events reach that run's stream. */
	onRateLimit?: (info: RateLimitInfo) => void;

	constructor(private readonly options: ClientOptions) {
		this.token = options.token;
		registerSecret(options.token);
		this.baseUrl = apiUrl(options.baseUrl);
		this.fetchImpl = options.fetch ?? globalThis.fetch;
		this.sleep = options.sleep ?? pause;
		this.now = options.now ?? Date.now;
		this.random = options.random ?? Math.random;
		this.onRateLimit = options.onRateLimit;
		this.window = new RequestWindow(options.perMinute ?? 240, this.now, this.sleep);
	}

	/** Backoff before retry `attempt` (0-based): capped exponential with "equal jitter". */
	backoffMs(attempt: number): number {
		const {baseMs, capMs} = this.options.backoff ?? {baseMs: 1_000, capMs: 30_000};
		const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
		return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
	}

	private get maxWaitMs(): number {
		return this.options.maxWaitMs ?? 90_000;
	}

	/**
	 * How long to wait before retry `attempt` (0-based) after `error`, or
	 * undefined to give up: a 429 waits as long as the API says (Retry-After,
	 * or until ratelimit-reset, which can be most of an hour away), but never
	 * longer than maxWaitMs; anything else backs off.
	 */
	retryWait(error: DigitalOceanApiError, attempt: number): number | undefined {
		if (error.status !== 429) return this.backoffMs(attempt);
		const wait = error.retryAfterMs ?? this.backoffMs(attempt);
		return wait > this.maxWaitMs ? undefined : wait;
	}

	async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
		const retry = options.retry ?? (method === 'POST' ? 'rate-limit-only' : 'always');
		const retries = this.options.retries ?? 5;
		const url = new URL(path, this.baseUrl);
		for (const [key, value] of Object.entries(options.query ?? {}))
			if (value !== undefined) url.searchParams.set(key, String(value));
		for (let attempt = 0; ; attempt++) {
			if (options.signal?.aborted) throw new CancelledError();
			await this.window.take(options.signal);
			const {error, value} = await this.attempt<T>(method, url, options);
			if (!error) return value as T;
			const allowed = retry === 'always' ? error.retryable : retry === 'rate-limit-only' ? error.status === 429 : false;
			const wait = allowed && attempt < retries ? this.retryWait(error, attempt) : undefined;
			if (wait === undefined) throw error;
			await this.sleep(wait, options.signal);
		}
	}

	private async attempt<T>(
		method: string,
		url: URL,
		options: RequestOptions,
	): Promise<{error?: DigitalOceanApiError; value?: T}> {
		const path = url.pathname;
		const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
		const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
		let response: Response;
		try {
			response = await this.fetchImpl(url, {
				method,
				headers: {
					Authorization: `Bearer ${this.token}`,
					Accept: 'application/json',
					...(options.body === undefined ? {} : {'Content-Type': 'application/json'}),
				},
				body: options.body === undefined ? undefined : JSON.stringify(options.body),
				signal,
			});
		} catch (cause) {
			if (options.signal?.aborted) throw new CancelledError();
			const reason = timeout.aborted ? 'no answer within the timeout' : (cause as Error).message;
			return {error: new DigitalOceanApiError({status: 0, message: reason, method, path, cause})};
		}
		this.reportRateLimit(response.headers);
		const text = await response.text().catch(() => '');
		if (response.ok) return {value: (text ? JSON.parse(text) : undefined) as T};
		let body: {id?: string; message?: string; request_id?: string; error?: string; root_causes?: string[]} = {};
		try {
			body = text ? JSON.parse(text) : {};
		} catch {
			// A proxy's HTML page on a 5xx: the raw text is the message, as godo does.
			body = {message: text.slice(0, 200)};
		}
		const now = this.now();
		return {
			error: new DigitalOceanApiError({
				status: response.status,
				id: body.id,
				// POST /v2/tags answers 400 in another shape: {error, root_causes}.
				message:
					body.message ?? ([body.error, ...(body.root_causes ?? [])].filter(Boolean).join(': ') || response.statusText),
				requestId: body.request_id ?? response.headers.get('x-request-id') ?? undefined,
				method,
				path,
				retryAfterMs: retryAfterMs(response.status, response.headers, now),
				now,
				maxWaitMs: this.maxWaitMs,
			}),
		};
	}

	private reportRateLimit(headers: Headers): void {
		const limit = headerNumber(headers, 'ratelimit-limit');
		const remaining = headerNumber(headers, 'ratelimit-remaining');
		const reset = headerNumber(headers, 'ratelimit-reset');
		if (limit === undefined || remaining === undefined || reset === undefined) return;
		this.onRateLimit?.({limit, remaining, resetAt: new Date(reset * 1000)});
	}

	/**
	 * Every item of a paginated list (`per_page=200`), following
	 * `links.pages.next` until it is absent. Only the path and query of
	 * `next` are used: the token never goes to another host.
	 */
	async list<T>(path: string, key: string, options: RequestOptions = {}): Promise<Page<T>> {
		const items: T[] = [];
		let total = 0;
		let next: string | undefined = path;
		let query: RequestOptions['query'] = {per_page: 200, ...options.query};
		while (next) {
			const page: Record<string, unknown> & {links?: {pages?: {next?: string}}; meta?: {total?: number}} =
				await this.request('GET', next, {...options, query});
			items.push(...((page[key] as T[] | undefined) ?? []));
			total = page.meta?.total ?? items.length;
			const link = page.links?.pages?.next;
			if (!link) break;
			const parsed = new URL(link, this.baseUrl);
			next = `${parsed.pathname}${parsed.search}`;
			query = undefined;
		}
		return {items, total};
	}

	// -- account and catalog --------------------------------------------------

	async account(signal?: AbortSignal): Promise<Account> {
		return (await this.request<{account: Account}>('GET', '/v2/account', {signal})).account;
	}

	async regions(signal?: AbortSignal): Promise<Region[]> {
		return (await this.list<Region>('/v2/regions', 'regions', {signal})).items;
	}

	async sizes(signal?: AbortSignal): Promise<Size[]> {
		return (await this.list<Size>('/v2/sizes', 'sizes', {signal})).items;
	}

	/** One public image by slug, or undefined when there is none. */
	async image(slug: string, signal?: AbortSignal): Promise<Image | undefined> {
		return (await this.getOrUndefined<{image: Image}>(`/v2/images/${pathSegment(slug)}`, signal))?.image;
	}

	async distributionImages(signal?: AbortSignal): Promise<Image[]> {
		return (await this.list<Image>('/v2/images', 'images', {signal, query: {type: 'distribution'}})).items;
	}

	// -- droplets -------------------------------------------------------------

	/** Droplets with a tag (or a name); one request per 200. */
	async droplets(filter: {tagName?: string; name?: string} = {}, signal?: AbortSignal): Promise<Droplet[]> {
		return (
			await this.list<Droplet>('/v2/droplets', 'droplets', {
				signal,
				query: {tag_name: filter.tagName, name: filter.name},
			})
		).items;
	}

	/** How many droplets the account has (one request, from `meta.total`). */
	async dropletCount(signal?: AbortSignal): Promise<number> {
		const page = await this.request<{meta?: {total?: number}; droplets: Droplet[]}>('GET', '/v2/droplets', {
			signal,
			query: {per_page: 1},
		});
		return page.meta?.total ?? page.droplets.length;
	}

	/**
	 * One multi-create request. Never retried here, not even after a 429:
	 * the caller lists by tag first and asks again only for what is missing.
	 */
	async createDroplets(
		body: DropletCreateRequest,
		signal?: AbortSignal,
	): Promise<{droplets: Droplet[]; actionIds: number[]}> {
		const result = await this.request<{droplets: Droplet[]; links?: {actions?: Array<{id: number}>}}>(
			'POST',
			'/v2/droplets',
			{body, signal, retry: 'never'},
		);
		return {droplets: result.droplets, actionIds: (result.links?.actions ?? []).map(a => a.id)};
	}

	/** Deletes one droplet; one already gone counts as deleted. */
	async deleteDroplet(id: number | string, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/droplets/${pathSegment(id)}`, signal);
	}

	async deleteDropletsByTag(tag: string, signal?: AbortSignal): Promise<void> {
		await this.request('DELETE', '/v2/droplets', {signal, query: {tag_name: tag}});
	}

	async dropletAction(id: number | string, type: string, signal?: AbortSignal): Promise<Action> {
		return (
			await this.request<{action: Action}>('POST', `/v2/droplets/${pathSegment(id)}/actions`, {body: {type}, signal})
		).action;
	}

	async action(id: number | string, signal?: AbortSignal): Promise<Action | undefined> {
		return (await this.getOrUndefined<{action: Action}>(`/v2/actions/${pathSegment(id)}`, signal))?.action;
	}

	// -- SSH keys -------------------------------------------------------------

	/** A key by id or MD5 fingerprint, or undefined. */
	async sshKey(idOrFingerprint: string | number, signal?: AbortSignal): Promise<SshKey | undefined> {
		return (await this.getOrUndefined<{ssh_key: SshKey}>(`/v2/account/keys/${pathSegment(idOrFingerprint)}`, signal))
			?.ssh_key;
	}

	/** The whole list. DigitalOcean allows only 10 of these a minute: prefer `sshKey`. */
	async sshKeys(signal?: AbortSignal): Promise<SshKey[]> {
		return (await this.list<SshKey>('/v2/account/keys', 'ssh_keys', {signal})).items;
	}

	async createSshKey(name: string, publicKey: string, signal?: AbortSignal): Promise<SshKey> {
		return (
			await this.request<{ssh_key: SshKey}>('POST', '/v2/account/keys', {body: {name, public_key: publicKey}, signal})
		).ssh_key;
	}

	async deleteSshKey(id: number, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/account/keys/${pathSegment(id)}`, signal);
	}

	// -- VPCs, firewalls, tags ------------------------------------------------

	async vpcs(signal?: AbortSignal): Promise<Vpc[]> {
		return (await this.list<Vpc>('/v2/vpcs', 'vpcs', {signal})).items;
	}

	async createVpc(
		body: {name: string; region: string; description?: string; ip_range?: string},
		signal?: AbortSignal,
	): Promise<Vpc> {
		return (await this.request<{vpc: Vpc}>('POST', '/v2/vpcs', {body, signal})).vpc;
	}

	async firewalls(signal?: AbortSignal): Promise<Firewall[]> {
		return (await this.list<Firewall>('/v2/firewalls', 'firewalls', {signal})).items;
	}

	async createFirewall(body: FirewallRequest, signal?: AbortSignal): Promise<Firewall> {
		return (await this.request<{firewall: Firewall}>('POST', '/v2/firewalls', {body, signal})).firewall;
	}

	/** PUT replaces the whole firewall (omitted fields reset). */
	async updateFirewall(id: string, body: FirewallRequest, signal?: AbortSignal): Promise<Firewall> {
		return (await this.request<{firewall: Firewall}>('PUT', `/v2/firewalls/${pathSegment(id)}`, {body, signal}))
			.firewall;
	}

	async deleteFirewall(id: string, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/firewalls/${pathSegment(id)}`, signal);
	}

	/** Creates a tag; creating one that exists is a no-op, so this is safe to retry. */
	async createTag(name: string, signal?: AbortSignal): Promise<void> {
		await this.request('POST', '/v2/tags', {body: {name}, signal, retry: 'always'});
	}

	async tag(name: string, signal?: AbortSignal): Promise<Tag | undefined> {
		return (await this.getOrUndefined<{tag: Tag}>(`/v2/tags/${pathSegment(name)}`, signal))?.tag;
	}

	async deleteTag(name: string, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/tags/${pathSegment(name)}`, signal);
	}

	// -- helpers --------------------------------------------------------------

	private async getOrUndefined<T>(path: string, signal?: AbortSignal): Promise<T | undefined> {
		try {
			return await this.request<T>('GET', path, {signal});
		} catch (error) {
			if (error instanceof DigitalOceanApiError && error.status === 404) return undefined;
			throw error;
		}
	}

	/** DELETE is effectively idempotent: 404 means it is gone already. */
	private async deleteOrGone(path: string, signal?: AbortSignal): Promise<void> {
		try {
			await this.request('DELETE', path, {signal});
		} catch (error) {
			if (error instanceof DigitalOceanApiError && error.status === 404) return;
			throw error;
		}
	}
}
