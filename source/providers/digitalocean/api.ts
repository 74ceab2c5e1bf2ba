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
import {CancelledError, defined, ExternalError, InputError, SwarmbeeError, type ErrorKind} from '../../errors.js';
import {pause} from '../../concurrency.js';
import {packageVersion} from '../../paths.js';
import {registerSecret} from '../../redact.js';
import {formatDuration} from '../../render/format.js';
import {AnswerProblem, parseAnswer, read, stripControl, type Reader} from './answers.js';
import {
	one,
	readAccount,
	readAction,
	readDroplet,
	readFirewall,
	readImage,
	readRegion,
	readSize,
	readSshKey,
	readTag,
	readVolume,
	readVolumeAction,
	readVpc,
} from './api-readers.js';
import type {FirewallRequest} from './firewall.js';
import type {
	Volume,
	VolumeAction,
	VolumeCreateRequest,
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
	Volume,
	VolumeAction,
	VolumeCreateRequest,
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
	/** A 429 of a per-minute limit (the burst limit, or one of an endpoint's), which clears within a minute. */
	readonly perMinute: boolean;

	constructor(init: {
		status: number;
		id?: string;
		message: string;
		requestId?: string;
		method: string;
		path: string;
		retryAfterMs?: number;
		perMinute?: boolean;
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
		this.perMinute = init.perMinute ?? false;
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
	[/^\/v2\/volumes\/(actions|[^/]+\/actions)/, 'block_storage_action'],
	[/^\/v2\/volumes/, 'block_storage'],
];

/** The scope a call needs, for a 403's hint (custom-scoped tokens). */
export function scopeFor(method: string, path: string): string {
	const resource = SCOPES.find(([pattern]) => pattern.test(path))?.[1] ?? 'the resource';
	if (resource === 'block_storage_action') return `${resource}:${method === 'GET' ? 'read' : 'create'}`;
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
	perMinute?: boolean;
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
		case e.status === 429 && e.perMinute:
			return {
				kind: 'external',
				hint: `DigitalOcean's per-minute limit was reached (250 requests a minute per token, and 10 lists of SSH keys); it clears within a minute${e.retryAfterMs === undefined ? '' : `: DigitalOcean takes requests again in ${formatDuration(Math.ceil(e.retryAfterMs / 1000) * 1000)}`}.`,
				nextSteps: [
					'run the same command again in a minute: it resumes where it stopped',
					'other programs using the same token share the limit',
				],
			};
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
		throw new InputError(`DIGITALOCEAN_API_URL is ${JSON.stringify(shownUrl(given ?? ''))}, which is not a URL`, {
			nextSteps: fix,
		});
	}
	if (url.username || url.password) {
		// Never shown: they are credentials. The API takes the token alone.
		throw new InputError(
			`DIGITALOCEAN_API_URL carries a user name or password (${url.protocol}//…@${url.host}): swarmbee sends only the token, and never a URL with credentials`,
			{nextSteps: fix},
		);
	}
	if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url))) {
		throw new InputError(
			`refusing to send the API token to ${url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : shownUrl(given ?? '')}: only https, or plain http to this machine (an emulator)`,
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
 * Retry-After, in either form RFC 9110 §10.2.3 allows: a number of seconds
 * or an HTTP-date. Undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
	if (value === null || value.trim() === '') return undefined;
	const text = value.trim();
	if (/^\d+$/.test(text)) return Number(text) * 1000;
	const at = Date.parse(text);
	return Number.isNaN(at) || !/[a-z]/i.test(text) ? undefined : Math.max(0, at - now);
}

/**
 * How long a response asks to wait. Retry-After comes with the per-minute
 * (burst) limit and may with a 503 (godo honours it on both, in either
 * form); a 429 without it means the hourly budget is spent, and the next
 * request frees up at ratelimit-reset, when the oldest counted request
 * expires.
 */
function retryAfterMs(status: number, headers: Headers, now: number): number | undefined {
	const retryAfter = status === 429 || status >= 500 ? parseRetryAfter(headers.get('retry-after'), now) : undefined;
	if (retryAfter !== undefined) return retryAfter;
	const reset = status === 429 ? headerNumber(headers, 'ratelimit-reset') : undefined;
	return reset === undefined ? undefined : Math.max(0, reset * 1000 - now);
}

/** The API answered something swarmbee cannot use: not JSON, or without the fields it relies on. */
export class UnreadableAnswerError extends ExternalError {
	constructor(
		readonly method: string,
		readonly path: string,
		problem: string,
		readonly requestId?: string,
	) {
		super(
			`DigitalOcean API: ${method} ${path}: the API answered something swarmbee cannot read (${problem})${requestId ? ` (request ${requestId})` : ''}`,
			{
				hint: 'this is not an answer DigitalOcean documents: a proxy in the way, an outage, or DIGITALOCEAN_API_URL pointing at something that is not the API.',
				nextSteps: [
					'see https://status.digitalocean.com, then run the same command again',
					'if DIGITALOCEAN_API_URL is set, check that it is the API',
				],
			},
		);
	}
}

/** `url` as it may be shown: never with the user and password it may carry. */
export function shownUrl(text: string): string {
	return stripControl(text).replace(/\/\/[^/@\s]*@/g, '//');
}

/**
 * Why a request got no answer, in words: what Node's fetch hides behind
 * "fetch failed" (the code of the system error, or the TLS failure).
 */
export function connectionFailure(cause: unknown): string {
	const inner = (cause as {cause?: unknown})?.cause ?? cause;
	const code = (inner as {code?: string})?.code;
	const message = shownUrl(String((inner as Error)?.message ?? inner ?? 'no answer'));
	const known: Record<string, string> = {
		ECONNREFUSED: 'the connection was refused (nothing listens there)',
		ECONNRESET: 'the connection was cut',
		ENOTFOUND: 'the host name does not resolve',
		EAI_AGAIN: 'the host name could not be resolved (DNS)',
		ETIMEDOUT: 'the connection timed out',
		EHOSTUNREACH: 'the host cannot be reached',
		ENETUNREACH: 'the network cannot be reached',
		UND_ERR_SOCKET: 'the connection was cut',
		ERR_SSL_WRONG_VERSION_NUMBER: 'the TLS handshake failed: the server does not speak https there',
		DEPTH_ZERO_SELF_SIGNED_CERT: "the server's TLS certificate is self-signed",
		CERT_HAS_EXPIRED: "the server's TLS certificate has expired",
		ERR_TLS_CERT_ALTNAME_INVALID: "the server's TLS certificate is for another name",
	};
	const said = (code && known[code]) ?? (/ssl|tls|certificate/i.test(message) ? `TLS failed: ${message}` : message);
	return code && !said.includes(code) ? `${said} (${code})` : said;
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
			// No stamp: nothing to expire.
			while ((this.stamps[0] ?? Number.POSITIVE_INFINITY) <= t - 60_000) this.stamps.shift();
			if (this.stamps.length < this.perMinute) {
				this.stamps.push(t);
				return;
			}
			const oldest = defined(
				this.stamps[0],
				`the rate limit of ${this.perMinute} a minute is full with no request in it`,
			);
			await this.sleep(oldest + 60_000 - t, signal);
		}
	}
}

/** The most pages a list follows (at 200 a page, 20,000 items): beyond it the API is not ending its list. */
export const MAX_PAGES = 100;

/** swarmbee's User-Agent, so DigitalOcean's support can tell its traffic apart. */
export function userAgent(): string {
	return `swarmbee/${packageVersion()}`;
}

export class DigitalOceanClient {
	readonly baseUrl: URL;
	private readonly token: string;
	private readonly fetchImpl: typeof fetch;
	private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
	private readonly now: () => number;
	private readonly random: () => number;
	private readonly window: RequestWindow;
	private readonly userAgent = userAgent();
	/** ratelimit-remaining as the last answer said it: a 429 right after plenty left is a per-minute limit. */
	private lastRemaining?: number;
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
	 * longer than maxWaitMs; a per-minute limit without Retry-After waits a
	 * minute; a 5xx with Retry-After waits that; anything else backs off.
	 */
	retryWait(error: DigitalOceanApiError, attempt: number): number | undefined {
		if (error.status !== 429) {
			const asked = error.retryAfterMs;
			return asked !== undefined && asked <= this.maxWaitMs ? Math.max(asked, 0) : this.backoffMs(attempt);
		}
		const wait = error.retryAfterMs ?? this.backoffMs(attempt);
		return wait > this.maxWaitMs ? undefined : wait;
	}

	async request<T>(method: string, path: string, options: RequestOptions & {read?: Reader<T>} = {}): Promise<T> {
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
		options: RequestOptions & {read?: Reader<T>},
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
					'User-Agent': this.userAgent,
					...(options.body === undefined ? {} : {'Content-Type': 'application/json'}),
				},
				body: options.body === undefined ? undefined : JSON.stringify(options.body),
				// A redirect would take the token (fetch keeps Authorization on a same-origin hop) or the
				// request somewhere the user did not name: the API never redirects, so one is an error.
				redirect: 'manual',
				signal,
			});
		} catch (cause) {
			if (options.signal?.aborted) throw new CancelledError();
			const reason = timeout.aborted ? 'no answer within the timeout' : connectionFailure(cause);
			return {error: new DigitalOceanApiError({status: 0, message: reason, method, path})};
		}
		const requestId = stripControl(response.headers.get('x-request-id') ?? '').trim() || undefined;
		if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) {
			await response.body?.cancel().catch(() => {});
			throw new UnreadableAnswerError(
				method,
				path,
				`a redirect (${response.status || 'opaque'}), which swarmbee refuses to follow`,
				requestId,
			);
		}
		const remainingBefore = this.lastRemaining;
		this.reportRateLimit(response.headers);
		const text = await response.text().catch(() => '');
		if (response.ok) {
			if (!text) return {value: undefined};
			try {
				const parsed = parseAnswer(text);
				return {value: options.read ? options.read(parsed, 'the answer') : (parsed as T)};
			} catch (error) {
				const problem =
					error instanceof AnswerProblem
						? error.message
						: `not JSON: ${JSON.stringify(stripControl(text.slice(0, 40)))}${text.length > 40 ? '…' : ''}`;
				throw new UnreadableAnswerError(method, path, problem, requestId);
			}
		}
		let body: {id?: unknown; message?: unknown; request_id?: unknown; error?: unknown; root_causes?: unknown} = {};
		try {
			const parsed = text ? parseAnswer(text) : {};
			body = typeof parsed === 'object' && parsed !== null ? parsed : {};
		} catch {
			// A proxy's HTML page on a 5xx: the raw text is the message, as godo does.
			body = {message: stripControl(text.slice(0, 200))};
		}
		const textOf = (value: unknown) => (typeof value === 'string' ? value : undefined);
		const causes = Array.isArray(body.root_causes) ? body.root_causes.filter(c => typeof c === 'string') : [];
		const now = this.now();
		const asked = parseRetryAfter(response.headers.get('retry-after'), now);
		// The hourly budget cannot go from plenty to nothing in one request: a 429 then is a per-minute limit.
		const perMinute =
			response.status === 429 && (asked !== undefined || (remainingBefore !== undefined && remainingBefore > 10));
		// Such a 429 without Retry-After clears within the minute, whatever ratelimit-reset says.
		const retryAfter = perMinute && asked === undefined ? 60_000 : retryAfterMs(response.status, response.headers, now);
		return {
			error: new DigitalOceanApiError({
				status: response.status,
				id: textOf(body.id),
				// POST /v2/tags answers 400 in another shape: {error, root_causes}.
				message:
					textOf(body.message) ??
					([textOf(body.error), ...causes].filter(Boolean).join(': ') || stripControl(response.statusText)),
				requestId: textOf(body.request_id) ?? requestId,
				method,
				path,
				retryAfterMs: retryAfter,
				perMinute,
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
		this.lastRemaining = remaining;
		this.onRateLimit?.({limit, remaining, resetAt: new Date(reset * 1000)});
	}

	/**
	 * Every item of a paginated list (`per_page=200`). As godo does, each page
	 * is asked with this request's own path and filter and only the page
	 * number taken from `links.pages.next`: the token never goes to another
	 * host, and a `next` that drops the filter cannot widen the list. A `next`
	 * that does not move forward, a page over the size asked, or more than
	 * MAX_PAGES pages is an answer swarmbee cannot read.
	 */
	async list<T>(path: string, key: string, options: RequestOptions & {read?: Reader<T>} = {}): Promise<Page<T>> {
		const items: T[] = [];
		let total = 0;
		const perPage = Number(options.query?.['per_page'] ?? 200);
		const readPage = read.object<{items: unknown; links?: {pages?: {next?: string}}; meta?: {total?: number}}>({
			links: read.optional(
				read.object({pages: read.optional(read.object({next: read.optional(read.string)}))}),
			) as Reader<{pages?: {next?: string}} | undefined>,
			meta: read.optional(read.object({total: read.optional(read.whole)})) as Reader<{total?: number} | undefined>,
		});
		const readItems = read.list(options.read ?? ((value: unknown) => value as T));
		for (let page = 1; ; ) {
			const answer = await this.request<Record<string, unknown>>('GET', path, {
				...options,
				read: undefined,
				query: {per_page: perPage, ...options.query, ...(page > 1 ? {page} : {})},
			});
			const fail = (problem: string) => new UnreadableAnswerError('GET', path, problem);
			let checked: ReturnType<typeof readPage>;
			let pageItems: T[];
			try {
				checked = readPage(answer, 'the answer');
				const listed = answer?.[key];
				if (!Array.isArray(listed)) throw new AnswerProblem(`the answer.${key} is not a list`);
				if (listed.length > perPage)
					throw new AnswerProblem(`page ${page} holds ${listed.length} items, more than the ${perPage} asked for`);
				pageItems = readItems(listed, `the answer.${key}`);
			} catch (error) {
				if (error instanceof AnswerProblem) throw fail(error.message);
				throw error;
			}
			for (const item of pageItems) items.push(item);
			total = checked.meta?.total ?? items.length;
			const link = checked.links?.pages?.next;
			if (!link) break;
			let next: number;
			try {
				next = Number(new URL(link, this.baseUrl).searchParams.get('page'));
			} catch {
				throw fail(`links.pages.next is no URL: ${JSON.stringify(link.slice(0, 80))}`);
			}
			if (!Number.isInteger(next) || next <= page)
				throw fail(
					`links.pages.next on page ${page} points to page ${next || '(none)'}: the list does not move forward`,
				);
			if (next > MAX_PAGES) throw fail(`the list goes on past ${MAX_PAGES} pages`);
			page = next;
		}
		return {items, total};
	}

	// -- account and catalog --------------------------------------------------

	async account(signal?: AbortSignal): Promise<Account> {
		return this.request('GET', '/v2/account', {signal, read: one('account', readAccount)});
	}

	async regions(signal?: AbortSignal): Promise<Region[]> {
		return (await this.list('/v2/regions', 'regions', {signal, read: readRegion})).items;
	}

	async sizes(signal?: AbortSignal): Promise<Size[]> {
		return (await this.list('/v2/sizes', 'sizes', {signal, read: readSize})).items;
	}

	/** One public image by slug, or undefined when there is none. */
	async image(slug: string, signal?: AbortSignal): Promise<Image | undefined> {
		return this.getOrUndefined(`/v2/images/${pathSegment(slug)}`, one('image', readImage), signal);
	}

	async distributionImages(signal?: AbortSignal): Promise<Image[]> {
		return (await this.list('/v2/images', 'images', {signal, query: {type: 'distribution'}, read: readImage})).items;
	}

	// -- droplets -------------------------------------------------------------

	/** Droplets with a tag (or a name); one request per 200. */
	async droplets(filter: {tagName?: string; name?: string} = {}, signal?: AbortSignal): Promise<Droplet[]> {
		return (
			await this.list('/v2/droplets', 'droplets', {
				signal,
				query: {tag_name: filter.tagName, name: filter.name},
				read: readDroplet,
			})
		).items;
	}

	/** How many droplets the account has (one request, from `meta.total`). */
	async dropletCount(signal?: AbortSignal): Promise<number> {
		const page = await this.request('GET', '/v2/droplets', {
			signal,
			query: {per_page: 1},
			read: read.object<{meta?: {total?: number}; droplets: unknown[]}>({
				meta: read.optional(read.object({total: read.optional(read.whole)})) as Reader<{total?: number} | undefined>,
				droplets: read.list(value => value),
			}),
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
		const result = await this.request('POST', '/v2/droplets', {
			body,
			signal,
			retry: 'never',
			read: read.object<{droplets: Droplet[]; links?: {actions?: Array<{id: number}>}}>({
				droplets: read.list(readDroplet),
				links: read.optional(
					read.object({actions: read.optional(read.list(read.object<{id: number}>({id: read.whole})))}),
				) as Reader<{actions?: Array<{id: number}>} | undefined>,
			}),
		});
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
		return this.request('POST', `/v2/droplets/${pathSegment(id)}/actions`, {
			body: {type},
			signal,
			read: one('action', readAction),
		});
	}

	/** A droplet's most recent actions, newest first (one page). */
	async dropletActions(id: number | string, signal?: AbortSignal): Promise<Action[]> {
		return this.request('GET', `/v2/droplets/${pathSegment(id)}/actions`, {
			signal,
			query: {per_page: 20},
			read: value => read.object<{actions: Action[]}>({actions: read.list(readAction)})(value, 'the answer').actions,
		});
	}

	async action(id: number | string, signal?: AbortSignal): Promise<Action | undefined> {
		return this.getOrUndefined(`/v2/actions/${pathSegment(id)}`, one('action', readAction), signal);
	}

	// -- SSH keys -------------------------------------------------------------

	/** A key by id or MD5 fingerprint, or undefined. */
	async sshKey(idOrFingerprint: string | number, signal?: AbortSignal): Promise<SshKey | undefined> {
		return this.getOrUndefined(`/v2/account/keys/${pathSegment(idOrFingerprint)}`, one('ssh_key', readSshKey), signal);
	}

	/** The whole list. DigitalOcean allows only 10 of these a minute: prefer `sshKey`. */
	async sshKeys(signal?: AbortSignal): Promise<SshKey[]> {
		return (await this.list('/v2/account/keys', 'ssh_keys', {signal, read: readSshKey})).items;
	}

	async createSshKey(name: string, publicKey: string, signal?: AbortSignal): Promise<SshKey> {
		return this.request('POST', '/v2/account/keys', {
			body: {name, public_key: publicKey},
			signal,
			read: one('ssh_key', readSshKey),
		});
	}

	async deleteSshKey(id: number, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/account/keys/${pathSegment(id)}`, signal);
	}

	// -- VPCs, firewalls, tags ------------------------------------------------

	async vpcs(signal?: AbortSignal): Promise<Vpc[]> {
		return (await this.list('/v2/vpcs', 'vpcs', {signal, read: readVpc})).items;
	}

	async createVpc(
		body: {name: string; region: string; description?: string; ip_range?: string},
		signal?: AbortSignal,
	): Promise<Vpc> {
		return this.request('POST', '/v2/vpcs', {body, signal, read: one('vpc', readVpc)});
	}

	async firewalls(signal?: AbortSignal): Promise<Firewall[]> {
		return (await this.list('/v2/firewalls', 'firewalls', {signal, read: readFirewall})).items;
	}

	async createFirewall(body: FirewallRequest, signal?: AbortSignal): Promise<Firewall> {
		return this.request('POST', '/v2/firewalls', {body, signal, read: one('firewall', readFirewall)});
	}

	/** PUT replaces the whole firewall (omitted fields reset). */
	async updateFirewall(id: string, body: FirewallRequest, signal?: AbortSignal): Promise<Firewall> {
		return this.request('PUT', `/v2/firewalls/${pathSegment(id)}`, {
			body,
			signal,
			read: one('firewall', readFirewall),
		});
	}

	async deleteFirewall(id: string, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/firewalls/${pathSegment(id)}`, signal);
	}

	/** Creates a tag; creating one that exists is a no-op, so this is safe to retry. */
	async createTag(name: string, signal?: AbortSignal): Promise<void> {
		await this.request('POST', '/v2/tags', {body: {name}, signal, retry: 'always'});
	}

	async tag(name: string, signal?: AbortSignal): Promise<Tag | undefined> {
		return this.getOrUndefined(`/v2/tags/${pathSegment(name)}`, one('tag', readTag), signal);
	}

	async deleteTag(name: string, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/tags/${pathSegment(name)}`, signal);
	}

	// -- block-storage volumes --------------------------------------------------

	/**
	 * Creates a volume. Not retried after a 5xx or a cut connection (it may
	 * have been made): the caller looks it up by name and region first, since
	 * a region holds one volume of a name.
	 */
	async createVolume(body: VolumeCreateRequest, signal?: AbortSignal): Promise<Volume> {
		return this.request('POST', '/v2/volumes', {body, signal, read: one('volume', readVolume)});
	}

	/** Volumes by name (a region holds at most one of a name), and region when given. */
	async volumes(filter: {name?: string; region?: string} = {}, signal?: AbortSignal): Promise<Volume[]> {
		return (
			await this.list('/v2/volumes', 'volumes', {
				signal,
				query: {name: filter.name, region: filter.region},
				read: readVolume,
			})
		).items;
	}

	async volume(id: string, signal?: AbortSignal): Promise<Volume | undefined> {
		return this.getOrUndefined(`/v2/volumes/${pathSegment(id)}`, one('volume', readVolume), signal);
	}

	/** Attaches a volume to a droplet in its region; the action runs on (waitForVolumeAction). */
	async attachVolume(
		volume: Pick<Volume, 'id' | 'region'>,
		dropletId: number,
		signal?: AbortSignal,
	): Promise<VolumeAction> {
		return this.volumeAction(volume, {type: 'attach', droplet_id: dropletId, region: volume.region.slug}, signal);
	}

	async detachVolume(
		volume: Pick<Volume, 'id' | 'region'>,
		dropletId: number,
		signal?: AbortSignal,
	): Promise<VolumeAction> {
		return this.volumeAction(volume, {type: 'detach', droplet_id: dropletId, region: volume.region.slug}, signal);
	}

	/** Grows a volume (volumes only grow); the filesystem on it is grown on the droplet. */
	async resizeVolume(
		volume: Pick<Volume, 'id' | 'region'>,
		sizeGigabytes: number,
		signal?: AbortSignal,
	): Promise<VolumeAction> {
		return this.volumeAction(
			volume,
			{type: 'resize', size_gigabytes: sizeGigabytes, region: volume.region.slug},
			signal,
		);
	}

	private async volumeAction(
		volume: Pick<Volume, 'id'>,
		body: Record<string, unknown>,
		signal?: AbortSignal,
	): Promise<VolumeAction> {
		return this.request('POST', `/v2/volumes/${pathSegment(volume.id)}/actions`, {
			body,
			signal,
			read: one('action', readVolumeAction),
		});
	}

	/**
	 * Waits for a volume action to finish, one GET per `intervalMs`: its
	 * last state, `completed` or `errored` (or still `in-progress` at the
	 * timeout, which is the caller's to report).
	 */
	async waitForVolumeAction(
		volume: Pick<Volume, 'id'>,
		action: VolumeAction,
		options: {intervalMs?: number; timeoutMs?: number; signal?: AbortSignal} = {},
	): Promise<VolumeAction> {
		const {intervalMs = 2_000, timeoutMs = 5 * 60_000, signal} = options;
		const deadline = this.now() + timeoutMs;
		let last = action;
		while (last.status === 'in-progress' && this.now() < deadline) {
			await this.sleep(intervalMs, signal);
			last = await this.request('GET', `/v2/volumes/${pathSegment(volume.id)}/actions/${pathSegment(last.id)}`, {
				signal,
				read: one('action', readVolumeAction),
			});
		}
		return last;
	}

	/** Deletes a detached volume; one already gone counts as deleted. */
	async deleteVolume(id: string, signal?: AbortSignal): Promise<void> {
		await this.deleteOrGone(`/v2/volumes/${pathSegment(id)}`, signal);
	}

	// -- helpers --------------------------------------------------------------

	private async getOrUndefined<T>(path: string, reader: Reader<T>, signal?: AbortSignal): Promise<T | undefined> {
		try {
			return await this.request<T>('GET', path, {signal, read: reader});
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
