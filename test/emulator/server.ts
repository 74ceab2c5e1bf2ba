/**
 * A DigitalOcean API v2 emulator: a real HTTP server (node:http) for the
 * subset swarmbee uses, written to shared/reference/digitalocean-api.md and
 * its emulator checklist, and as strict as the published OpenAPI spec: every
 * request is validated against the spec's schemas (openapi.ts) before it is
 * carried out, and every answer is checked against them. [spec] behaviour is
 * the default; [obs] behaviour
 * (eventual-consistency lags, the 401 id spelling) is switchable, and so are
 * faults: 429 every k requests, 5xx before or after carrying a request out,
 * a droplet whose create errors, slow `active`, a late public IP, a token
 * without some scope.
 *
 * Droplets are records only ("paper" mode, for scale tests and the
 * benchmark) or real node containers ("real" mode, see real.ts). Every
 * request is recorded (method, path, status, time) so tests can count
 * requests and rates.
 *
 * It is a stand-in: it proves swarmbee speaks the API as documented and
 * copes with the failures documented; it cannot prove the documentation is
 * complete, nor real timings, nor what a real droplet image does at boot.
 */
import {randomBytes, randomUUID} from 'node:crypto';
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import {isIP, type AddressInfo} from 'node:net';
import {chooseFreeSubnet, formatIpv4, hostAddress, overlaps, parseCidr} from '../../source/nodes/cidr.js';
import type {
	Account,
	Action,
	Droplet,
	Firewall,
	FirewallRule,
	Image,
	Region,
	Size,
	SshKey,
	Vpc,
} from '../../source/providers/digitalocean/api.js';
import {md5Fingerprint} from '../../source/ssh/keys.js';
import {emulatorImages, emulatorRegions, emulatorSizes, isDistribution} from './catalog.js';
import {
	checkRequest,
	checkResponse,
	compileAll,
	specCommit,
	specOperation,
	type SpecOperation,
	type Violation,
} from './openapi.js';
import {RealBacking} from './real.js';

export interface EmulatorFaults {
	/** Every k-th request matching `rateLimitOnly` answers 429 (a burst-limit storm). */
	rateLimitEvery?: number;
	/** `METHOD /path` regular expression limiting the 429 faults, e.g. `^POST /v2/droplets$`. */
	rateLimitOnly?: string;
	/** Retry-After on those 429s, in seconds (a burst limit); 0 leaves it out: the hourly budget is spent, and ratelimit-reset (up to an hour away) is all a client gets. */
	retryAfterSeconds: number;
	/** Every k-th request matching `serverErrorOnly` answers 500 … */
	serverErrorEvery?: number;
	/** … or each one with this probability. */
	serverErrorRate?: number;
	/** Whether a 5xx request was carried out first ("after": the nasty case for creates). */
	serverErrorWhen: 'before' | 'after';
	/** `METHOD /path` regular expression limiting the 5xx faults, e.g. `^POST /v2/droplets$`. */
	serverErrorOnly?: string;
	/** Droplet names whose first create action errors (the droplet stays `new`). */
	erroringDroplets: string[];
	/** Extra boot time for droplets of these names (slow `active`). */
	slowActiveMs: Record<string, number>;
	/** `METHOD /path` regular expression answered 403, as for a token without that scope. */
	forbidden?: string;
	/** The status of the 5xx faults: 500 (default), 502, 503 or 504. */
	serverErrorStatus: number;
	/** Retry-After on the 5xx faults, in seconds (none by default) … */
	serverErrorRetryAfterSeconds?: number;
	/** … written as seconds or as an HTTP-date (RFC 9110 §10.2.3 allows both). */
	serverErrorRetryAfterForm: 'seconds' | 'http-date';
}

export interface EmulatorLags {
	/** [obs] A new droplet is missing from list responses for this long. */
	listMs: number;
	/** [obs] A new SSH key 404s by id/fingerprint and is refused by droplet creates for this long. */
	keyMs: number;
	/** [obs] A droplet is `active` this long before its public IPv4 shows (the "late IP"). */
	activeWithoutIpMs: number;
	/** [obs] A deleted droplet still lists (and keeps its VPC membership) for this long. */
	deleteMs: number;
}

export interface EmulatorOptions {
	mode: 'paper' | 'real';
	/** Tokens that authenticate; the first is the one printed. */
	tokens: string[];
	host: string;
	port: number;
	/** From create to `active`: every droplet's, or with bootP90Ms the median of a seeded lognormal spread. */
	bootDelayMs: number;
	/**
	 * The 90th percentile of boot times: each droplet draws its boot from a
	 * lognormal distribution with median bootDelayMs and this p90 (seeded, so
	 * a run is repeatable). Unset: every droplet boots in bootDelayMs.
	 */
	bootP90Ms?: number;
	/**
	 * How long a droplet action (reboot, power_on, …) runs on a paper droplet,
	 * which stays locked ("pending event") meanwhile: a fixed time, or one
	 * drawn (seeded) from a range. Default 10 s to 60 s, as reboots and power
	 * actions take on DigitalOcean; tests shorten it.
	 */
	actionMs: number | {min: number; max: number};
	/** How long a volume action (attach, detach, resize) runs. */
	volumeActionMs: number;
	/** Seed of the emulator's random draws (boot spread, action times). */
	seed: number;
	/** The emulator's clock (epoch ms); tests advance a shared one instead of sleeping. */
	clock: () => number;
	account: Account;
	/** Droplets of "other projects" on the account, counted against droplet_limit. */
	otherDroplets: number;
	unavailableRegions: string[];
	/** Regions whose default VPC does not exist yet (a fresh account). */
	regionsWithoutVpc: string[];
	rateLimit: {perHour: number; perMinute: number; keyListsPerMinute: number};
	/** [obs] Some APIs answered 401 with id `Unauthorized`. */
	unauthorizedId: 'unauthorized' | 'Unauthorized';
	lags: EmulatorLags;
	faults: EmulatorFaults;
	/**
	 * Requests are refused when they break the published spec (openapi.ts)
	 * either way; with this, close() also fails when any did: every test of
	 * swarmbee's client proves its requests conform. Off for tests that send
	 * bad requests on purpose, and by hand.
	 */
	expectValidRequests: boolean;
	log: (line: string) => void;
}

export interface RequestRecord {
	method: string;
	path: string;
	query: string;
	status: number;
	/** Epoch ms when the request arrived. */
	at: number;
	ms: number;
	/** What the request broke of the spec (it was refused for it). */
	violations?: string[];
	/** What the emulator's answer broke of the spec: an emulator bug. */
	responseViolations?: string[];
}

interface DropletRecord {
	id: number;
	name: string;
	region: Region;
	size: Size;
	image: Image;
	tags: string[];
	vpcId: string;
	userData?: string;
	sshKeys: SshKey[];
	ipv6: boolean;
	createdAt: number;
	/** When it may be active (boot delay, slow-active fault). */
	bootAt: number;
	/** Paper: at once; real: once its container runs. */
	readyAt?: number;
	failed: boolean;
	publicIp?: string;
	privateIp?: string;
	power: 'on' | 'off';
	/** A paper action's power change, applied when it completes. */
	powerAt?: {at: number; power: 'on' | 'off'};
	/** Until when an action holds the droplet (besides its create, while `new`). */
	lockedUntil: number;
	deletedAt?: number;
	/** One of the account's other droplets (otherDroplets), not a test's. */
	other?: boolean;
}

interface ActionRecord {
	id: number;
	type: string;
	dropletId: number;
	regionSlug: string;
	startedAt: number;
	/** Resolves the action's status at a given time. */
	status: () => Action['status'];
	completedAt: () => number | undefined;
}

/** A block-storage volume, as the emulator keeps it. */
export interface VolumeRecord {
	id: string;
	name: string;
	description: string;
	sizeGigabytes: number;
	region: Region;
	createdAt: number;
	/** At most one droplet at a time ([spec] "a volume can only be attached to a single Droplet"). */
	dropletIds: number[];
	tags: string[];
	filesystemType: string;
	filesystemLabel: string;
	/** Until when its current action holds it. */
	busyUntil: number;
}

interface VolumeActionRecord {
	id: number;
	type: 'attach_volume' | 'detach_volume' | 'resize_volume';
	volumeId: string;
	dropletId?: number;
	region: Region;
	startedAt: number;
	doneAt: number;
}

/** What happened to volumes, in order: the records a test reads ("one attach to each droplet"). */
export interface VolumeEvent {
	type: 'create' | 'attach' | 'detach' | 'resize' | 'delete';
	volumeId: string;
	dropletId?: number;
	sizeGigabytes?: number;
	at: number;
}

interface KeyRecord extends SshKey {
	createdAt: number;
}

interface TagRecord {
	name: string;
}

class HttpError extends Error {
	constructor(
		readonly status: number,
		readonly id: string,
		message: string,
		readonly extra: Record<string, unknown> = {},
	) {
		super(message);
	}
}

const HOSTNAME_MESSAGE = 'Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)';
/** [spec] a tag name, in POST /v2/tags and in paths; droplet creates apply the same rule to the tags they name. */
const TAG_PATTERN = /^[a-zA-Z0-9_\-:]+$/;
/** VPC ranges the emulator hands out: clear of local clusters (10.100/14) and overlays (10.208/12). */
const VPC_SPACE = '10.104.0.0/13';
const RESERVED = ['10.244.0.0/16', '10.245.0.0/16', '10.246.0.0/24', '10.229.0.0/16'];

/** Options as callers give them: nested groups may be partial. */
export type EmulatorInit = Partial<Omit<EmulatorOptions, 'account' | 'lags' | 'faults' | 'rateLimit'>> & {
	account?: Partial<Account>;
	lags?: Partial<EmulatorLags>;
	faults?: Partial<EmulatorFaults>;
	rateLimit?: Partial<EmulatorOptions['rateLimit']>;
};

export function defaultOptions(init: EmulatorInit = {}): EmulatorOptions {
	const {account, lags, faults, rateLimit, ...rest} = init;
	return {
		mode: 'paper',
		tokens: [`dop_v1_${randomBytes(32).toString('hex')}`],
		host: '127.0.0.1',
		port: 0,
		bootDelayMs: 2_000,
		actionMs: {min: 10_000, max: 60_000},
		volumeActionMs: 3_000,
		seed: 1,
		clock: Date.now,
		otherDroplets: 0,
		unavailableRegions: [],
		regionsWithoutVpc: [],
		unauthorizedId: 'unauthorized',
		expectValidRequests: true,
		log: () => {},
		...rest,
		account: {
			droplet_limit: 25,
			floating_ip_limit: 3,
			email: 'sammy@example.com',
			email_verified: true,
			uuid: randomUUID(),
			status: 'active',
			status_message: ' ',
			team: {uuid: randomUUID(), name: 'Emulated Team'},
			...account,
		},
		rateLimit: {perHour: 5_000, perMinute: 250, keyListsPerMinute: 10, ...rateLimit},
		lags: {listMs: 0, keyMs: 0, activeWithoutIpMs: 0, deleteMs: 0, ...lags},
		faults: {
			retryAfterSeconds: 1,
			serverErrorWhen: 'before',
			serverErrorStatus: 500,
			serverErrorRetryAfterForm: 'seconds',
			erroringDroplets: [],
			slowActiveMs: {},
			...faults,
		},
	};
}

/** The cluster a droplet belongs to, from swarmbee's `swarmbee-<cluster>` tag. */
export function clusterOfTags(tags: readonly string[]): string | undefined {
	return tags.find(t => /^swarmbee-[a-z][a-z0-9-]*$/.test(t))?.slice('swarmbee-'.length);
}

export class Emulator {
	readonly options: EmulatorOptions;
	readonly requests: RequestRecord[] = [];
	readonly droplets = new Map<number, DropletRecord>();
	readonly keys = new Map<number, KeyRecord>();
	readonly vpcs = new Map<string, Vpc>();
	readonly firewalls = new Map<string, Firewall>();
	readonly tags = new Map<string, TagRecord>();
	readonly actions = new Map<number, ActionRecord>();
	readonly volumes = new Map<string, VolumeRecord>();
	readonly volumeActions = new Map<number, VolumeActionRecord>();
	readonly volumeEvents: VolumeEvent[] = [];
	private readonly regions: Region[];
	private readonly sizes = emulatorSizes();
	private readonly images = emulatorImages();
	private readonly erroredOnce = new Set<string>();
	private readonly pending = new Set<Promise<unknown>>();
	private readonly instance = randomBytes(3).toString('hex');
	private server?: Server;
	private real?: RealBacking;
	private nextId = 300_000_000;
	private nextAction = 7_000_000;
	private nextKey = 40_000_000;
	private nextPublic = 0;
	private nextVolumeAction = 9_000_000;
	private rateLimitCounter = 0;
	private readonly random: () => number;
	private serverErrorCounter = 0;
	url = '';

	constructor(options: EmulatorInit = {}) {
		this.options = defaultOptions(options);
		this.regions = emulatorRegions(this.options.unavailableRegions);
		this.random = seededRandom(this.options.seed);
	}

	/** The emulator's time: the clock it was given (a test's, which it advances), else the real one. */
	now(): number {
		return this.options.clock();
	}

	/**
	 * One droplet's boot time: bootDelayMs, or with bootP90Ms a draw from the
	 * lognormal distribution whose median is bootDelayMs and whose 90th
	 * percentile is bootP90Ms (σ = ln(p90 / median) / z₀.₉, z₀.₉ ≈ 1.2816).
	 */
	bootTimeMs(): number {
		const {bootDelayMs, bootP90Ms} = this.options;
		if (bootP90Ms === undefined || bootDelayMs <= 0 || bootP90Ms <= bootDelayMs) return bootDelayMs;
		const sigma = Math.log(bootP90Ms / bootDelayMs) / 1.2816;
		// Box–Muller: a standard normal from two uniforms.
		const z = Math.sqrt(-2 * Math.log(1 - this.random())) * Math.cos(2 * Math.PI * this.random());
		return Math.round(bootDelayMs * Math.exp(sigma * z));
	}

	/** How long one droplet action runs (and locks its droplet). */
	private actionTimeMs(): number {
		const {actionMs} = this.options;
		if (typeof actionMs === 'number') return actionMs;
		return Math.round(actionMs.min + this.random() * (actionMs.max - actionMs.min));
	}

	get token(): string {
		return this.options.tokens[0]!;
	}

	async start(): Promise<this> {
		compileAll();
		let avoid = [...RESERVED];
		if (this.options.mode === 'real') {
			this.real = new RealBacking(this.instance, undefined, this.options.log);
			await this.real.prepare();
			avoid = [...avoid, ...(await this.real.takenSubnets())];
		}
		// Every region but the listed ones has its default VPC already, as on
		// an account that has used them.
		for (const region of this.regions) {
			if (!this.options.regionsWithoutVpc.includes(region.slug))
				this.addVpc(`default-${region.slug}`, region.slug, true, avoid);
		}
		this.addOtherDroplets();
		this.server = createServer((req, res) => {
			this.handle(req, res).catch(error => {
				this.options.log(`emulator bug: ${(error as Error).stack}`);
				if (!res.headersSent) res.writeHead(500).end();
			});
		});
		await new Promise<void>(resolve => this.server!.listen(this.options.port, this.options.host, resolve));
		const {port} = this.server.address() as AddressInfo;
		this.url = `http://${this.options.host}:${port}`;
		return this;
	}

	/**
	 * Droplets of "other projects": untagged records that count against the
	 * droplet limit and show in unfiltered lists; never backed by containers.
	 */
	private addOtherDroplets(): void {
		const region = this.regions.find(r => r.available)!;
		const vpc = [...this.vpcs.values()].find(v => v.region === region.slug);
		for (let i = 1; i <= this.options.otherDroplets; i++) {
			const now = this.now();
			const id = this.nextId++;
			this.droplets.set(id, {
				id,
				name: `other-${i}`,
				region,
				size: this.sizes[1]!,
				image: this.images[0]!,
				tags: [],
				vpcId: vpc?.id ?? '',
				sshKeys: [],
				ipv6: false,
				createdAt: now,
				bootAt: now,
				readyAt: now,
				failed: false,
				power: 'on',
				lockedUntil: 0,
				publicIp: `198.19.0.${i}`,
				privateIp: vpc ? hostAddress(vpc.ip_range, 200 + i) : undefined,
				other: true,
			});
		}
	}

	/**
	 * Stops serving and removes every container, volume and network real mode
	 * made; then fails if a request broke the spec (see expectValidRequests) or
	 * an answer did.
	 */
	async close(): Promise<void> {
		await new Promise<void>(resolve => (this.server ? this.server.close(() => resolve()) : resolve()));
		this.server?.closeAllConnections();
		await this.settled();
		await this.real?.close();
		const broken = this.requests.flatMap(r => [
			...(this.options.expectValidRequests
				? (r.violations ?? []).map(v => `request ${r.method} ${r.path}${r.query}: ${v}`)
				: []),
			...(r.responseViolations ?? []).map(v => `answer ${r.status} to ${r.method} ${r.path}${r.query}: ${v}`),
		]);
		if (broken.length > 0)
			throw new Error(
				`DigitalOcean's OpenAPI spec (${specCommit().slice(0, 12)}) was broken:\n${[...new Set(broken)].join('\n')}`,
			);
	}

	/** The requests refused for breaking the spec, as `METHOD /path: what`. */
	specViolations(): string[] {
		return this.requests.flatMap(r => (r.violations ?? []).map(v => `${r.method} ${r.path}: ${v}`));
	}

	/** Waits for container work in flight (boots, deletions). */
	async settled(): Promise<void> {
		while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
	}

	private track<T>(work: Promise<T>): void {
		const tracked = work
			.catch(error => this.options.log(`backing: ${(error as Error).message}`))
			.finally(() => this.pending.delete(tracked));
		this.pending.add(tracked);
	}

	// -- what tests look at -----------------------------------------------------

	/** Requests matching a method and a path (string: exact; RegExp: test). */
	count(filter: {method?: string; path?: string | RegExp; status?: number} = {}): number {
		return this.requests.filter(
			r =>
				(!filter.method || r.method === filter.method) &&
				(filter.path === undefined ||
					(typeof filter.path === 'string' ? r.path === filter.path : filter.path.test(r.path))) &&
				(filter.status === undefined || r.status === filter.status),
		).length;
	}

	/** The most requests in any 60 s window. */
	maxPerMinute(): number {
		let max = 0;
		let start = 0;
		const times = this.requests.map(r => r.at).sort((a, b) => a - b);
		for (let end = 0; end < times.length; end++) {
			while (times[end]! - times[start]! >= 60_000) start++;
			max = Math.max(max, end - start + 1);
		}
		return max;
	}

	/** Droplets that exist (not deleted), by name. */
	liveDroplets(): DropletRecord[] {
		return [...this.droplets.values()].filter(d => d.deletedAt === undefined);
	}

	/** What a cluster leaves behind: droplets, firewalls, keys, tags and non-default VPCs. */
	resources(): {droplets: string[]; firewalls: string[]; sshKeys: string[]; tags: string[]; vpcs: string[]} {
		return {
			droplets: this.liveDroplets()
				.filter(d => !d.other)
				.map(d => `${d.name} ${d.id}`),
			firewalls: [...this.firewalls.values()].map(f => f.name),
			sshKeys: [...this.keys.values()].map(k => k.name),
			tags: [...this.tags.keys()],
			vpcs: [...this.vpcs.values()].filter(v => !v.default).map(v => v.name),
		};
	}

	// -- HTTP ---------------------------------------------------------------------

	private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
		const at = this.now();
		const url = new URL(req.url ?? '/', this.url);
		const method = req.method ?? 'GET';
		const chunks: Buffer[] = [];
		for await (const chunk of req) chunks.push(chunk as Buffer);
		const text = Buffer.concat(chunks).toString();
		let status = 500;
		let body: unknown;
		const headers: Record<string, string> = {
			'content-type': 'application/json; charset=utf-8',
			'x-request-id': randomUUID(),
		};
		const record: RequestRecord = {method, path: url.pathname, query: url.search, status, at, ms: 0};
		try {
			[status, body] = this.respond(method, url, text, headers, at, record, req.headers.authorization);
		} catch (error) {
			if (!(error instanceof HttpError)) throw error;
			status = error.status;
			body =
				error.status === 400 && error.extra['root_causes']
					? {error: error.message, messages: null, root_causes: error.extra['root_causes']}
					: {id: error.id, message: error.message, request_id: headers['x-request-id']};
		}
		// [spec] nothing remains while limited, whichever limit it was.
		if (status === 429) headers['ratelimit-remaining'] = '0';
		const payload = body === undefined ? '' : JSON.stringify(body);
		res.writeHead(status, status === 204 ? {...headers, 'content-type': ''} : headers);
		res.end(status === 204 ? undefined : payload);
		const answer = checkResponse(method, url.pathname, status, body);
		if (answer.length > 0) {
			record.responseViolations = answer;
			this.options.log(
				`emulator bug: its ${status} to ${method} ${url.pathname} breaks the spec: ${answer.join('; ')}`,
			);
		}
		this.requests.push({...record, status, ms: this.now() - at});
	}

	/** Auth, rate limits and faults around the route; every response gets rate-limit headers. */
	private respond(
		method: string,
		url: URL,
		text: string,
		headers: Record<string, string>,
		now: number,
		record: RequestRecord,
		authorization?: string,
	): [number, unknown] {
		const {rateLimit, faults} = this.options;
		const auth = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
		// Requests refused for the token (401) or for the limit itself (429) are not counted: a client that
		// waits as told is then served.
		const window = this.requests.filter(r => r.status !== 401 && r.status !== 429 && r.at > now - 3_600_000);
		const remaining = Math.max(0, rateLimit.perHour - window.length - 1);
		const oldest = window[0]?.at ?? now;
		headers['ratelimit-limit'] = String(rateLimit.perHour);
		headers['ratelimit-remaining'] = String(remaining);
		headers['ratelimit-reset'] = String(Math.ceil((oldest + 3_600_000) / 1000));
		if (!auth || !this.options.tokens.includes(auth)) {
			throw new HttpError(401, this.options.unauthorizedId, 'Unable to authenticate you');
		}
		// [spec] on a 429 ratelimit-reset stays the oldest counted request's expiry
		// (up to an hour away; remaining is 0, see handle); only the burst limit
		// adds retry-after. A fault without Retry-After is the spent hourly budget.
		const limited = (retryAfterSeconds?: number) => {
			if (retryAfterSeconds) headers['retry-after'] = String(retryAfterSeconds);
			return new HttpError(429, 'too_many_requests', 'API rate limit exceeded.');
		};
		const lastMinute = window.filter(r => r.at > now - 60_000);
		if (window.length >= rateLimit.perHour) throw limited();
		if (lastMinute.length >= rateLimit.perMinute)
			throw limited(Math.max(1, Math.ceil((lastMinute[0]!.at + 60_000 - now) / 1000)));
		const line = `${method} ${url.pathname}`;
		if (
			faults.rateLimitEvery &&
			(!faults.rateLimitOnly || new RegExp(faults.rateLimitOnly).test(line)) &&
			++this.rateLimitCounter % faults.rateLimitEvery === 0
		) {
			throw limited(faults.retryAfterSeconds);
		}
		if (faults.forbidden && new RegExp(faults.forbidden).test(line)) {
			throw new HttpError(403, 'forbidden', 'You do not have permission to perform this action.');
		}
		let serverError = false;
		if (!faults.serverErrorOnly || new RegExp(faults.serverErrorOnly).test(line)) {
			if (faults.serverErrorEvery && ++this.serverErrorCounter % faults.serverErrorEvery === 0) serverError = true;
			if (faults.serverErrorRate && Math.random() < faults.serverErrorRate) serverError = true;
		}
		const failed = () => {
			const seconds = faults.serverErrorRetryAfterSeconds;
			if (seconds !== undefined)
				headers['retry-after'] =
					faults.serverErrorRetryAfterForm === 'http-date'
						? new Date(Math.ceil((now + seconds * 1000) / 1000) * 1000).toUTCString()
						: String(seconds);
			const status = faults.serverErrorStatus;
			return status === 500
				? new HttpError(500, 'server_error', 'Unexpected server-side error')
				: new HttpError(status, 'service_unavailable', 'The service is temporarily unavailable');
		};
		if (serverError && faults.serverErrorWhen === 'before') throw failed();
		let body: unknown;
		try {
			body = text ? JSON.parse(text) : undefined;
		} catch {
			throw new HttpError(400, 'bad_request', 'error parsing request body');
		}
		const violations = checkRequest({method, path: url.pathname, query: url.searchParams, body});
		if (violations.length > 0) {
			record.violations = violations.map(v => `${v.in}: ${v.message}`);
			this.options.log(`refused ${method} ${url.pathname}${url.search}: ${record.violations.join('; ')}`);
			throw refusal(specOperation(method, url.pathname), violations[0]!);
		}
		const result = this.route(method, url, body, now, limited);
		if (serverError) throw failed();
		return result;
	}

	private route(
		method: string,
		url: URL,
		body: unknown,
		now: number,
		limited: (retryAfterSeconds?: number) => HttpError,
	): [number, unknown] {
		// Segments are matched raw, never percent-decoded: `swarmbee-role%3Amanager`
		// names no tag, as on an API that matches the raw path.
		const path = url.pathname.replace(/\/+$/, '');
		const q = url.searchParams;
		const b = (body ?? {}) as Record<string, unknown>;
		let m: RegExpExecArray | null;
		if (method === 'GET' && path === '/v2/account') return [200, {account: this.options.account}];
		if (method === 'GET' && path === '/v2/regions') return [200, this.page(url, 'regions', this.regions)];
		if (method === 'GET' && path === '/v2/sizes') return [200, this.page(url, 'sizes', this.sizes)];
		if (method === 'GET' && path === '/v2/images') {
			let images = this.images;
			if (q.get('type') === 'distribution') images = images.filter(isDistribution);
			if (q.get('type') === 'application') images = images.filter(i => !isDistribution(i));
			if (q.get('private') === 'true') images = [];
			return [200, this.page(url, 'images', images)];
		}
		if (method === 'GET' && (m = /^\/v2\/images\/([^/]+)$/.exec(path))) {
			const image = this.findImage(m[1]!);
			if (!image) throw notFound();
			return [200, {image}];
		}
		if (path === '/v2/account/keys') {
			if (method === 'GET') {
				// [spec] "Only 10 GET requests to the /v2/account/keys endpoint to list SSH
				// keys can be made per 60 seconds" (the spec's description.yml, "Rate Limit",
				// at the fixture's commit). What such a 429 carries is not documented apart;
				// it is a per-minute limit, answered as the spec documents its per-minute
				// (burst) limit: remaining 0, the hourly reset, and retry-after in seconds.
				const recent = this.requests.filter(
					// Refused ones (429) took nothing: only lists that were answered count.
					r => r.method === 'GET' && r.path === '/v2/account/keys' && r.status === 200 && r.at > now - 60_000,
				);
				if (recent.length >= this.options.rateLimit.keyListsPerMinute)
					throw limited(Math.max(1, Math.ceil((recent[0]!.at + 60_000 - now) / 1000)));
				return [200, this.page(url, 'ssh_keys', [...this.keys.values()].map(publicKey))];
			}
			if (method === 'POST') return [201, {ssh_key: publicKey(this.createKey(b, now))}];
		}
		if ((m = /^\/v2\/account\/keys\/([^/]+)$/.exec(path))) {
			const key = this.findKey(m[1]!, now);
			if (!key) throw notFound();
			if (method === 'GET') return [200, {ssh_key: publicKey(key)}];
			if (method === 'PUT') {
				if (typeof b['name'] === 'string') key.name = b['name'];
				return [200, {ssh_key: publicKey(key)}];
			}
			if (method === 'DELETE') {
				this.keys.delete(key.id);
				return [204, undefined];
			}
		}
		if (path === '/v2/droplets') {
			if (method === 'GET') {
				// [spec] one filter at a time: tag_name goes with neither name nor type.
				if (q.has('tag_name') && (q.has('name') || q.has('type')))
					throw new HttpError(400, 'bad_request', 'tag_name cannot be combined with name or type');
				return [
					200,
					this.page(
						url,
						'droplets',
						this.listDroplets(q, now).map(d => this.dropletView(d, now)),
					),
				];
			}
			if (method === 'POST') return this.createDroplets(b, now);
			if (method === 'DELETE') {
				const tag = q.get('tag_name')!;
				const tagged = this.liveDroplets().filter(d => d.tags.includes(tag));
				// A busy droplet refuses the whole request: none of them is deleted (unverified
				// whether the API deletes the others; refusing all is the case a client must survive).
				if (tagged.some(d => this.locked(d, now))) throw unprocessable('Droplet already has a pending event.');
				for (const droplet of tagged) this.deleteDroplet(droplet, now);
				return [204, undefined];
			}
		}
		if ((m = /^\/v2\/droplets\/(\d+)$/.exec(path))) {
			const droplet = this.visibleDroplet(Number(m[1]), now);
			if (method === 'GET') return [200, {droplet: this.dropletView(droplet, now)}];
			if (method === 'DELETE') {
				if (droplet.deletedAt === undefined) this.deleteDroplet(droplet, now);
				return [204, undefined];
			}
		}
		if ((m = /^\/v2\/droplets\/(\d+)\/actions$/.exec(path)) && method === 'GET') {
			const id = Number(m[1]);
			this.visibleDroplet(id, now);
			// Newest first, as the API lists them.
			const actions = [...this.actions.values()].filter(a => a.dropletId === id).reverse();
			return [
				200,
				this.page(
					url,
					'actions',
					actions.map(a => this.actionView(a)),
				),
			];
		}
		if ((m = /^\/v2\/droplets\/(\d+)\/actions$/.exec(path)) && method === 'POST') {
			return [
				201,
				{
					action: this.actionView(
						this.dropletAction(this.visibleDroplet(Number(m[1]), now), String(b['type'] ?? ''), now),
					),
				},
			];
		}
		if ((m = /^\/v2\/droplets\/(\d+)\/actions\/(\d+)$/.exec(path)) && method === 'GET') {
			const action = this.actions.get(Number(m[2]));
			if (!action || action.dropletId !== Number(m[1])) throw notFound();
			return [200, {action: this.actionView(action)}];
		}
		if ((m = /^\/v2\/actions\/(\d+)$/.exec(path)) && method === 'GET') {
			const action = this.actions.get(Number(m[1]));
			if (!action) throw notFound();
			return [200, {action: this.actionView(action)}];
		}
		if (path.startsWith('/v2/volumes')) return this.volumeRoute(method, path, url, b, now);
		if (path === '/v2/vpcs') {
			if (method === 'GET') return [200, this.page(url, 'vpcs', [...this.vpcs.values()])];
			if (method === 'POST') return [201, {vpc: this.createVpc(b)}];
		}
		if ((m = /^\/v2\/vpcs\/([^/]+)(\/members)?$/.exec(path))) {
			const vpc = this.vpcs.get(m[1]!);
			if (!vpc) throw notFound();
			const members = this.vpcMembers(vpc.id, now);
			if (m[2] && method === 'GET') {
				return [
					200,
					this.page(
						url,
						'members',
						members.map(d => ({
							urn: `do:droplet:${d.id}`,
							name: d.name,
							created_at: new Date(d.createdAt).toISOString(),
						})),
					),
				];
			}
			if (method === 'GET') return [200, {vpc}];
			if (method === 'PATCH' || method === 'PUT') {
				if (typeof b['name'] === 'string') vpc.name = b['name'];
				if (typeof b['description'] === 'string') vpc.description = b['description'];
				return [200, {vpc}];
			}
			if (method === 'DELETE') {
				if (vpc.default) throw new HttpError(403, 'forbidden', 'Cannot delete the default VPC of a region.');
				if (members.length > 0) throw new HttpError(403, 'forbidden', 'VPC has members and cannot be deleted.');
				this.vpcs.delete(vpc.id);
				return [204, undefined];
			}
		}
		if (path === '/v2/firewalls') {
			if (method === 'GET')
				return [
					200,
					this.page(
						url,
						'firewalls',
						[...this.firewalls.values()].map(f => this.firewallView(f, now)),
					),
				];
			if (method === 'POST') {
				const firewall = this.checkFirewall(b);
				const made: Firewall = {
					...firewall,
					id: randomUUID(),
					status: 'waiting',
					created_at: new Date(now).toISOString(),
					pending_changes: [],
				};
				this.firewalls.set(made.id, made);
				return [202, {firewall: made}];
			}
		}
		if ((m = /^\/v2\/firewalls\/([^/]+)$/.exec(path))) {
			const firewall = this.firewalls.get(m[1]!);
			if (!firewall) throw notFound();
			if (method === 'GET') return [200, {firewall: this.firewallView(firewall, now)}];
			if (method === 'PUT') {
				const replaced: Firewall = {...firewall, ...this.checkFirewall(b)};
				this.firewalls.set(firewall.id, replaced);
				return [200, {firewall: replaced}];
			}
			if (method === 'DELETE') {
				this.firewalls.delete(firewall.id);
				return [204, undefined];
			}
		}
		if (path === '/v2/tags' && method === 'POST') {
			// The spec's schema marks name only as required in words: a tag without one is a bad request.
			if (typeof b['name'] !== 'string')
				throw new HttpError(400, 'bad_request', 'name is required', {root_causes: ['name is required']});
			const name = b['name'];
			// [obs] re-creating an existing tag succeeds and changes nothing.
			const existing = [...this.tags.values()].find(t => t.name.toLowerCase() === name.toLowerCase());
			const tag = existing ?? {name};
			this.tags.set(tag.name, tag);
			return [201, {tag: this.tagView(tag.name, now)}];
		}
		if ((m = /^\/v2\/tags\/([^/]+)$/.exec(path))) {
			const name = m[1]!;
			if (!this.tags.has(name)) throw notFound();
			if (method === 'GET') return [200, {tag: this.tagView(name, now)}];
			if (method === 'DELETE') {
				this.tags.delete(name);
				for (const droplet of this.droplets.values()) droplet.tags = droplet.tags.filter(t => t !== name);
				return [204, undefined];
			}
		}
		throw notFound();
	}

	/** One page of a list, with absolute `links.pages` and `meta.total`, as the API does. */
	private page<T>(url: URL, key: string, all: T[]): Record<string, unknown> {
		// per_page and page were checked against the spec (1 to 200, from 1).
		const perPage = Number(url.searchParams.get('per_page') ?? 20);
		const pages = Math.max(1, Math.ceil(all.length / perPage));
		const page = Math.min(pages, Math.max(1, Number(url.searchParams.get('page') ?? 1) || 1));
		const link = (n: number) => {
			const target = new URL(url.pathname, this.url);
			for (const [k, v] of url.searchParams) if (k !== 'page') target.searchParams.set(k, v);
			target.searchParams.set('page', String(n));
			target.searchParams.set('per_page', String(perPage));
			return target.toString();
		};
		const links: Record<string, string> = {};
		if (page > 1) Object.assign(links, {first: link(1), prev: link(page - 1)});
		if (page < pages) Object.assign(links, {next: link(page + 1), last: link(pages)});
		return {
			[key]: all.slice((page - 1) * perPage, page * perPage),
			links: Object.keys(links).length > 0 ? {pages: links} : {},
			meta: {total: all.length},
		};
	}

	// -- droplets -------------------------------------------------------------------

	private findImage(idOrSlug: string): Image | undefined {
		return this.images.find(i => i.slug === idOrSlug || String(i.id) === idOrSlug);
	}

	private listDroplets(q: URLSearchParams, now: number): DropletRecord[] {
		const tag = q.get('tag_name');
		const name = q.get('name')?.toLowerCase();
		return [...this.droplets.values()]
			.filter(d => now >= d.createdAt + this.options.lags.listMs)
			.filter(d => this.listed(d, now))
			.filter(d => (!tag || d.tags.includes(tag)) && (!name || d.name.toLowerCase() === name));
	}

	private visibleDroplet(id: number, now: number): DropletRecord {
		const droplet = this.droplets.get(id);
		if (!droplet || !this.listed(droplet, now)) throw notFound();
		return droplet;
	}

	private status(d: DropletRecord, now: number): Droplet['status'] {
		if (d.powerAt && now >= d.powerAt.at) {
			d.power = d.powerAt.power;
			d.powerAt = undefined;
		}
		if (d.failed || d.readyAt === undefined || now < Math.max(d.bootAt, d.readyAt)) return 'new';
		return d.power === 'on' ? 'active' : 'off';
	}

	private dropletView(d: DropletRecord, now: number): Droplet {
		const status = this.status(d, now);
		const activeAt = Math.max(d.bootAt, d.readyAt ?? Infinity);
		const v4: Droplet['networks']['v4'] = [];
		if (status !== 'new' && d.privateIp) {
			const vpc = this.vpcs.get(d.vpcId);
			const range = parseCidr(vpc?.ip_range ?? '10.0.0.0/20')!;
			v4.push({ip_address: d.privateIp, netmask: prefixMask(range.prefix), gateway: 'nil', type: 'private'});
		}
		if (status !== 'new' && d.publicIp && now >= activeAt + this.options.lags.activeWithoutIpMs) {
			v4.push({
				ip_address: d.publicIp,
				netmask: '255.255.255.0',
				gateway: d.publicIp.replace(/\.\d+$/, '.1'),
				type: 'public',
			});
		}
		return {
			id: d.id,
			name: d.name,
			memory: d.size.memory,
			vcpus: d.size.vcpus,
			disk: d.size.disk,
			locked: this.locked(d, now),
			status,
			created_at: new Date(d.createdAt).toISOString(),
			features: ['private_networking', ...(d.ipv6 ? ['ipv6'] : [])],
			backup_ids: [],
			next_backup_window: null,
			snapshot_ids: [],
			volume_ids: [],
			image: d.image,
			size: d.size,
			size_slug: d.size.slug,
			region: d.region,
			networks: {v4, v6: []},
			tags: [...d.tags],
			vpc_uuid: d.vpcId,
		} as Droplet;
	}

	private createDroplets(b: Record<string, unknown>, now: number): [number, unknown] {
		const names = Array.isArray(b['names']) ? b['names'].map(String) : typeof b['name'] === 'string' ? [b['name']] : [];
		// The schema has made sure of exactly one of name and names; these the spec says in words.
		if (names.length > 10) throw unprocessable('you may create at most 10 droplets per request');
		// [spec] names has no minItems, but a create of nothing is no create (wording unverified).
		if (names.length === 0) throw unprocessable('names must name at least one droplet');
		if (b['public_networking'] === false && b['ipv6'] === true)
			throw unprocessable('a droplet without public networking cannot have IPv6');
		const size = this.sizes.find(s => s.slug === b['size']);
		if (!size) throw unprocessable('You specified an invalid size for Droplet creation.');
		const region = this.createRegion(b['region'], size);
		if (!size.available || !size.regions.includes(region.slug) || !region.sizes.includes(size.slug))
			throw unprocessable('Size is not available in this region.');
		const image = this.findImage(String(b['image'] ?? ''));
		if (!image) throw unprocessable('You specified an invalid image for Droplet creation.');
		const keyRefs = Array.isArray(b['ssh_keys']) ? b['ssh_keys'].map(String) : [];
		const keys = keyRefs.map(ref => this.findKey(ref, now));
		const invalid = keyRefs.filter((_, i) => !keys[i]);
		if (invalid.length > 0)
			throw unprocessable(`${invalid.join(', ')} are invalid key identifiers for Droplet creation.`);
		const userData = typeof b['user_data'] === 'string' ? b['user_data'] : undefined;
		// The 64 KiB limit is documented; the message is not (unverified wording).
		if (userData && Buffer.byteLength(userData) > 64 * 1024)
			throw unprocessable('user_data exceeds the maximum size of 64 KiB');
		let vpc: Vpc | undefined;
		if (b['vpc_uuid'] !== undefined) {
			vpc = this.vpcs.get(String(b['vpc_uuid']));
			if (!vpc || vpc.region !== region.slug)
				throw unprocessable("Failed to resolve VPC (it must exist and be in the droplet's region).");
		} else {
			vpc =
				[...this.vpcs.values()].find(v => v.region === region.slug && v.default) ??
				this.addVpc(`default-${region.slug}`, region.slug, true, []);
		}
		const existing = this.liveDroplets().length;
		if (existing + names.length > this.options.account.droplet_limit) {
			throw unprocessable(
				`creating ${names.length === 1 ? 'this droplet' : 'these droplets'} will exceed your droplet limit`,
			);
		}
		const tags = Array.isArray(b['tags']) ? b['tags'].map(String) : [];
		const badTag = tags.find(t => t.length > 255 || !TAG_PATTERN.test(t));
		if (badTag) throw unprocessable(`tag name "${badTag}" is not valid`);
		for (const tag of tags)
			if (![...this.tags.keys()].some(t => t.toLowerCase() === tag.toLowerCase())) this.tags.set(tag, {name: tag});

		const made: DropletRecord[] = names.map(name => {
			const failed = this.options.faults.erroringDroplets.includes(name) && !this.erroredOnce.has(name);
			if (failed) this.erroredOnce.add(name);
			return {
				id: this.nextId++,
				name,
				region,
				size,
				image,
				tags,
				vpcId: vpc!.id,
				userData,
				sshKeys: keys as SshKey[],
				ipv6: Boolean(b['ipv6']),
				createdAt: now,
				bootAt: now + this.bootTimeMs() + (this.options.faults.slowActiveMs[name] ?? 0),
				failed,
				power: 'on',
				lockedUntil: 0,
			};
		});
		const actions = made.map(d => {
			this.droplets.set(d.id, d);
			const action = this.newAction(
				'create',
				d,
				now,
				() => (d.failed ? 'errored' : this.status(d, this.now()) === 'new' ? 'in-progress' : 'completed'),
				() => (d.failed || d.readyAt === undefined ? undefined : Math.max(d.bootAt, d.readyAt)),
			);
			if (!d.failed) this.boot(d);
			return {id: action.id, rel: 'create', href: `${this.url}/v2/actions/${action.id}`};
		});
		const views = made.map(d => this.dropletView(d, now));
		return [
			202,
			names.length === 1 && typeof b['name'] === 'string'
				? {droplet: views[0], links: {actions}}
				: {droplets: views, links: {actions}},
		];
	}

	/**
	 * [spec] The region of a create: "If the specific datacenter is not
	 * important, a slug prefix (e.g. nyc) can be used to deploy the Droplet in
	 * any of that region's locations … If the region is omitted from the create
	 * request completely, the Droplet may deploy in any region." A prefix or
	 * nothing takes the first available region that offers the size.
	 */
	private createRegion(given: unknown, size: Size): Region {
		const offers = (r: Region) => r.available && r.sizes.includes(size.slug) && size.regions.includes(r.slug);
		if (given === undefined) {
			const any = this.regions.find(offers);
			if (!any) throw unprocessable('Size is not available in this region.');
			return any;
		}
		const slug = String(given);
		const exact = this.regions.find(r => r.slug === slug);
		if (exact) {
			if (!exact.available) throw unprocessable('Region is not available');
			return exact;
		}
		const family = this.regions.filter(r => /^[a-z]+$/.test(slug) && r.slug.replace(/\d+$/, '') === slug);
		if (family.length === 0) throw unprocessable('You specified an invalid region for Droplet creation.');
		const chosen = family.find(offers);
		if (!chosen) throw unprocessable('Region is not available');
		return chosen;
	}

	/** Paper: addresses at once. Real: a node container, whose start makes the droplet ready. */
	private boot(d: DropletRecord): void {
		const vpc = this.vpcs.get(d.vpcId)!;
		if (!this.real) {
			const n = this.nextPublic++;
			d.publicIp = `198.18.${Math.floor(n / 250)}.${(n % 250) + 2}`;
			d.privateIp = hostAddress(vpc.ip_range, 2 + this.vpcMembers(vpc.id, Infinity, true).indexOf(d));
			d.readyAt = d.createdAt;
			return;
		}
		const real = this.real;
		this.track(
			real
				.boot({
					dropletId: d.id,
					name: d.name,
					cluster: clusterOfTags(d.tags) ?? 'do-emulator',
					vpcId: vpc.id,
					vpcRange: vpc.ip_range,
					memoryMb: d.size.memory,
					vcpus: d.size.vcpus,
					userData: d.userData,
					authorizedKeys: d.sshKeys.map(k => k.public_key),
				})
				.then(
					({publicIp, privateIp}) => {
						d.publicIp = publicIp;
						d.privateIp = privateIp;
						d.readyAt = this.now();
						if (d.deletedAt !== undefined) this.track(real.remove(d.id));
					},
					error => {
						// The container could not be made: the create action errors, as a failed create does.
						d.failed = true;
						throw error;
					},
				),
		);
	}

	/**
	 * Whether the droplet is busy: its create still running (`new`, unless it
	 * errored) or an action in progress. A busy droplet refuses actions and
	 * deletes with 422 "pending event", and shows `locked: true`.
	 */
	private locked(d: DropletRecord, now: number): boolean {
		return !d.failed && (now < d.lockedUntil || this.status(d, now) === 'new');
	}

	private deleteDroplet(d: DropletRecord, now: number): void {
		if (this.locked(d, now)) throw unprocessable('Droplet already has a pending event.');
		d.deletedAt = now;
		// [spec] its volumes are detached, and stay.
		for (const volume of this.volumes.values())
			if (volume.dropletIds.includes(d.id)) {
				volume.dropletIds = [];
				this.volumeEvents.push({type: 'detach', volumeId: volume.id, dropletId: d.id, at: now});
			}
		if (this.real && d.readyAt !== undefined) this.track(this.real.remove(d.id));
	}

	private newAction(
		type: string,
		d: DropletRecord,
		now: number,
		status: ActionRecord['status'],
		completedAt: ActionRecord['completedAt'],
	): ActionRecord {
		const action: ActionRecord = {
			id: this.nextAction++,
			type,
			dropletId: d.id,
			regionSlug: d.region.slug,
			startedAt: now,
			status,
			completedAt,
		};
		this.actions.set(action.id, action);
		return action;
	}

	private actionView(a: ActionRecord): Action {
		const completed = a.completedAt();
		return {
			id: a.id,
			status: a.status(),
			type: a.type,
			started_at: new Date(a.startedAt).toISOString(),
			completed_at: a.status() === 'completed' && completed !== undefined ? new Date(completed).toISOString() : null,
			resource_id: a.dropletId,
			resource_type: 'droplet',
			region_slug: a.regionSlug,
		};
	}

	/** reboot, power_cycle, power_on, power_off, shutdown: one at a time per droplet, as DigitalOcean serializes them. */
	private dropletAction(d: DropletRecord, type: string, now: number): ActionRecord {
		if (!['reboot', 'power_cycle', 'power_on', 'power_off', 'shutdown'].includes(type)) {
			throw unprocessable(`action type ${type || '(none)'} is not supported here`);
		}
		if (this.locked(d, now)) throw unprocessable('Droplet already has a pending event.');
		const power = type === 'power_off' || type === 'shutdown' ? 'off' : 'on';
		let done: number | undefined;
		let failed = false;
		d.lockedUntil = Number.POSITIVE_INFINITY;
		const finish = () => {
			done = this.now();
			d.lockedUntil = done;
			d.power = power;
		};
		const action = this.newAction(
			type,
			d,
			now,
			() => (failed ? 'errored' : done === undefined || this.now() < done ? 'in-progress' : 'completed'),
			() => done,
		);
		if (this.real) {
			const work =
				type === 'power_on'
					? this.real.start(d.id)
					: type === 'power_off' || type === 'shutdown'
						? this.real.stop(d.id)
						: this.real.restart(d.id);
			this.track(
				work.then(finish, error => {
					failed = true;
					d.lockedUntil = this.now();
					throw error;
				}),
			);
		} else {
			// Paper: done after the action's time, by the emulator's clock.
			done = now + this.actionTimeMs();
			d.lockedUntil = done;
			d.powerAt = {at: done, power};
		}
		return action;
	}

	// -- volumes ------------------------------------------------------------------------

	private volumeRoute(
		method: string,
		path: string,
		url: URL,
		b: Record<string, unknown>,
		now: number,
	): [number, unknown] {
		const q = url.searchParams;
		let m: RegExpExecArray | null;
		if (path === '/v2/volumes' && method === 'GET') {
			const name = q.get('name');
			const region = q.get('region');
			const found = [...this.volumes.values()].filter(
				v => (name === null || v.name === name) && (region === null || v.region.slug === region),
			);
			return [
				200,
				this.page(
					url,
					'volumes',
					found.map(v => this.volumeView(v)),
				),
			];
		}
		if (path === '/v2/volumes' && method === 'POST') return [201, {volume: this.volumeView(this.createVolume(b, now))}];
		if (path === '/v2/volumes/actions' && method === 'POST') {
			// By name: the volume named in the body, in the region named there.
			const region = String(b['region'] ?? '');
			const volume = [...this.volumes.values()].find(v => v.name === b['volume_name'] && v.region.slug === region);
			if (!volume) throw notFound();
			return [202, {action: this.volumeActionView(this.volumeAction(volume, b, now), now)}];
		}
		if ((m = /^\/v2\/volumes\/([^/]+)$/.exec(path))) {
			const volume = this.volumes.get(m[1]!);
			if (!volume) throw notFound();
			if (method === 'GET') return [200, {volume: this.volumeView(volume)}];
			if (method === 'DELETE') {
				// Status and wording unverified (the spec documents only 204 and the general errors).
				if (volume.dropletIds.length > 0)
					throw new HttpError(409, 'conflict', 'The volume is attached to a Droplet: detach it before deleting it.');
				if (now < volume.busyUntil) throw unprocessable('Volume already has a pending event.');
				this.volumes.delete(volume.id);
				this.volumeEvents.push({type: 'delete', volumeId: volume.id, at: now});
				return [204, undefined];
			}
		}
		if ((m = /^\/v2\/volumes\/([^/]+)\/actions$/.exec(path)) && method === 'POST') {
			const volume = this.volumes.get(m[1]!);
			if (!volume) throw notFound();
			return [202, {action: this.volumeActionView(this.volumeAction(volume, b, now), now)}];
		}
		if ((m = /^\/v2\/volumes\/([^/]+)\/actions\/(\d+)$/.exec(path)) && method === 'GET') {
			const action = this.volumeActions.get(Number(m[2]));
			if (!action || action.volumeId !== m[1]) throw notFound();
			return [200, {action: this.volumeActionView(action, now)}];
		}
		throw notFound();
	}

	/**
	 * [spec] A volume's name "Must be lowercase and be composed only of numbers,
	 * letters and "-", up to a limit of 64 characters. The name must begin with
	 * a letter", and "You can only create one volume per region with the same
	 * name". Its region must take volumes (the `storage` feature).
	 */
	private createVolume(b: Record<string, unknown>, now: number): VolumeRecord {
		const name = String(b['name']);
		if (!/^[a-z][a-z0-9-]{0,63}$/.test(name))
			throw unprocessable(
				'name must be lowercase letters, numbers and "-", begin with a letter, and be at most 64 characters',
			);
		if (b['snapshot_id'] !== undefined) throw unprocessable('snapshots are not emulated');
		const size = Number(b['size_gigabytes']);
		if (!Number.isInteger(size) || size < 1 || size > 16_384)
			throw unprocessable('size_gigabytes must be a whole number from 1 to 16384');
		const region = this.regions.find(r => r.slug === b['region']);
		if (!region) throw unprocessable('You specified an invalid region for the volume.');
		if (!region.available || !region.features.includes('storage'))
			throw unprocessable('Block storage is not available in this region.');
		if ([...this.volumes.values()].some(v => v.name === name && v.region.slug === region.slug))
			throw new HttpError(409, 'conflict', `a volume named ${name} already exists in ${region.slug}`);
		const filesystemType = typeof b['filesystem_type'] === 'string' ? b['filesystem_type'] : '';
		if (!['', 'ext4', 'xfs'].includes(filesystemType)) throw unprocessable('filesystem_type must be ext4 or xfs');
		const volume: VolumeRecord = {
			id: randomUUID(),
			name,
			description: typeof b['description'] === 'string' ? b['description'] : '',
			sizeGigabytes: size,
			region,
			createdAt: now,
			dropletIds: [],
			tags: Array.isArray(b['tags']) ? b['tags'].map(String) : [],
			filesystemType,
			filesystemLabel: typeof b['filesystem_label'] === 'string' ? b['filesystem_label'] : '',
			busyUntil: 0,
		};
		this.volumes.set(volume.id, volume);
		this.volumeEvents.push({type: 'create', volumeId: volume.id, sizeGigabytes: size, at: now});
		return volume;
	}

	/**
	 * attach, detach and resize. [spec] one droplet per volume, and at most
	 * fifteen volumes on a droplet; the droplet in the volume's region; resize
	 * only grows (up to 16384 GiB). A volume or droplet busy with an action
	 * answers 422 "pending event" (wording as for droplets; unverified for
	 * volumes). The change is made at once; the action runs volumeActionMs.
	 */
	private volumeAction(volume: VolumeRecord, b: Record<string, unknown>, now: number): VolumeActionRecord {
		const type = String(b['type']);
		if (b['region'] !== undefined && b['region'] !== volume.region.slug)
			throw unprocessable(`the volume is in ${volume.region.slug}, not ${String(b['region'])}`);
		if (now < volume.busyUntil) throw unprocessable('Volume already has a pending event.');
		const action: VolumeActionRecord = {
			id: this.nextVolumeAction++,
			type: type === 'attach' ? 'attach_volume' : type === 'detach' ? 'detach_volume' : 'resize_volume',
			volumeId: volume.id,
			region: volume.region,
			startedAt: now,
			doneAt: now + this.options.volumeActionMs,
		};
		if (type === 'attach' || type === 'detach') {
			const droplet = this.droplets.get(Number(b['droplet_id']));
			if (!droplet || !this.listed(droplet, now) || droplet.deletedAt !== undefined)
				throw unprocessable(`Droplet ${String(b['droplet_id'])} was not found.`);
			if (droplet.region.slug !== volume.region.slug)
				throw unprocessable('The volume and the Droplet must be in the same region.');
			if (this.locked(droplet, now)) throw unprocessable('Droplet already has a pending event.');
			action.dropletId = droplet.id;
			if (type === 'attach') {
				if (volume.dropletIds.length > 0)
					throw unprocessable(`The volume is already attached to Droplet ${volume.dropletIds[0]}.`);
				const onDroplet = [...this.volumes.values()].filter(v => v.dropletIds.includes(droplet.id)).length;
				if (onDroplet >= 15) throw unprocessable('A Droplet can have at most 15 volumes attached.');
				volume.dropletIds = [droplet.id];
			} else {
				if (!volume.dropletIds.includes(droplet.id))
					throw unprocessable(`The volume is not attached to Droplet ${droplet.id}.`);
				volume.dropletIds = [];
			}
			droplet.lockedUntil = Math.max(droplet.lockedUntil, action.doneAt);
		} else {
			const size = Number(b['size_gigabytes']);
			if (!Number.isInteger(size) || size <= volume.sizeGigabytes)
				throw unprocessable(`a volume can only grow: ${volume.sizeGigabytes} GiB now, so more than that`);
			if (size > 16_384) throw unprocessable('size_gigabytes must be at most 16384');
			volume.sizeGigabytes = size;
		}
		volume.busyUntil = action.doneAt;
		this.volumeActions.set(action.id, action);
		this.volumeEvents.push({
			type: type as VolumeEvent['type'],
			volumeId: volume.id,
			...(action.dropletId === undefined ? {} : {dropletId: action.dropletId}),
			...(type === 'resize' ? {sizeGigabytes: volume.sizeGigabytes} : {}),
			at: now,
		});
		return action;
	}

	private volumeView(v: VolumeRecord): Record<string, unknown> {
		return {
			id: v.id,
			name: v.name,
			description: v.description,
			size_gigabytes: v.sizeGigabytes,
			created_at: new Date(v.createdAt).toISOString(),
			droplet_ids: [...v.dropletIds],
			tags: [...v.tags],
			region: v.region,
			filesystem_type: v.filesystemType,
			filesystem_label: v.filesystemLabel,
		};
	}

	private volumeActionView(a: VolumeActionRecord, now: number): Record<string, unknown> {
		const done = now >= a.doneAt;
		return {
			id: a.id,
			status: done ? 'completed' : 'in-progress',
			type: a.type,
			started_at: new Date(a.startedAt).toISOString(),
			completed_at: done ? new Date(a.doneAt).toISOString() : null,
			resource_id: null,
			resource_type: 'volume',
			region: a.region,
			region_slug: a.region.slug,
		};
	}

	// -- keys, VPCs, firewalls, tags ----------------------------------------------------

	private findKey(ref: string, now: number): KeyRecord | undefined {
		const key = [...this.keys.values()].find(k => String(k.id) === ref || k.fingerprint === ref);
		return key && now >= key.createdAt + this.options.lags.keyMs ? key : undefined;
	}

	private createKey(b: Record<string, unknown>, now: number): KeyRecord {
		const name = typeof b['name'] === 'string' ? b['name'] : '';
		const material = typeof b['public_key'] === 'string' ? b['public_key'].trim() : '';
		if (!name) throw unprocessable('name is required');
		let fingerprint: string;
		try {
			fingerprint = md5Fingerprint(material);
		} catch {
			throw unprocessable('Key invalid, key should be of the format `type key [comment]`');
		}
		if ([...this.keys.values()].some(k => k.fingerprint === fingerprint))
			throw unprocessable('SSH Key is already in use on your account');
		const key: KeyRecord = {id: this.nextKey++, name, public_key: material, fingerprint, createdAt: now};
		this.keys.set(key.id, key);
		return key;
	}

	private addVpc(name: string, region: string, isDefault: boolean, avoid: string[], ipRange?: string): Vpc {
		const taken = [...avoid, ...[...this.vpcs.values()].map(v => v.ip_range)];
		const range = ipRange ?? chooseFreeSubnet(VPC_SPACE, taken, `${this.instance}:${region}:${name}`, 20);
		if (!range) throw unprocessable('no free IP range left for a VPC');
		const id = randomUUID();
		const vpc: Vpc = {
			id,
			urn: `do:vpc:${id}`,
			name,
			description: '',
			region,
			ip_range: range,
			default: isDefault,
			created_at: new Date().toISOString(),
		};
		this.vpcs.set(id, vpc);
		return vpc;
	}

	private createVpc(b: Record<string, unknown>): Vpc {
		const name = String(b['name'] ?? '');
		const region = String(b['region'] ?? '');
		if ([...this.vpcs.values()].some(v => v.name === name)) throw unprocessable('a VPC with this name already exists');
		if (!this.regions.some(r => r.slug === region)) throw unprocessable('invalid region');
		let range: string | undefined;
		if (b['ip_range'] !== undefined) {
			const cidr = parseCidr(String(b['ip_range']));
			const rfc1918 = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map(c => parseCidr(c)!);
			if (
				!cidr ||
				cidr.prefix < 16 ||
				cidr.prefix > 28 ||
				!rfc1918.some(p => overlaps(p, cidr) && p.prefix <= cidr.prefix)
			)
				throw unprocessable('ip_range must be an RFC1918 range between /16 and /28');
			if ([...RESERVED, ...[...this.vpcs.values()].map(v => v.ip_range)].some(c => overlaps(parseCidr(c)!, cidr)))
				throw unprocessable('ip_range overlaps another network');
			range = String(b['ip_range']);
		}
		// [spec] the first VPC made in a region becomes its default.
		const vpc = this.addVpc(name, region, ![...this.vpcs.values()].some(v => v.region === region), RESERVED, range);
		if (typeof b['description'] === 'string') vpc.description = b['description'];
		return vpc;
	}

	/** Droplets in a VPC; deleted ones stay members for the delete lag (godo#146). */
	private vpcMembers(vpcId: string, now: number, includeGone = false): DropletRecord[] {
		return [...this.droplets.values()].filter(d => d.vpcId === vpcId && (includeGone || this.listed(d, now)));
	}

	/** Not deleted, or deleted so recently that the API still lists it (the delete lag). */
	private listed(d: DropletRecord, now: number): boolean {
		return d.deletedAt === undefined || now < d.deletedAt + this.options.lags.deleteMs;
	}

	/**
	 * [spec] firewall refusals are 400s. The schema (openapi.ts) has checked
	 * the shape; this checks what it cannot say: at least one rule, the
	 * limits, ports as a port, a range or "0", addresses as IPs or CIDRs, and
	 * tags that exist ([obs] refused; wording unverified).
	 */
	private checkFirewall(
		b: Record<string, unknown>,
	): Omit<Firewall, 'id' | 'status' | 'created_at' | 'pending_changes'> {
		const name = String(b['name']);
		const inbound = (Array.isArray(b['inbound_rules']) ? b['inbound_rules'] : []) as FirewallRule[];
		const outbound = (Array.isArray(b['outbound_rules']) ? b['outbound_rules'] : []) as FirewallRule[];
		if (inbound.length + outbound.length === 0) throw badRequest('at least one inbound or outbound rule is required');
		if (inbound.length + outbound.length > 50) throw badRequest('a firewall has at most 50 rules');
		const tags = Array.isArray(b['tags']) ? b['tags'].map(String) : [];
		if (tags.length > 5) throw badRequest('a firewall applies to at most 5 tags');
		const dropletIds = Array.isArray(b['droplet_ids']) ? b['droplet_ids'].map(Number) : [];
		if (dropletIds.length > 10) throw badRequest('a firewall applies to at most 10 droplets by id; use tags');
		const normalize = (rule: FirewallRule): FirewallRule => {
			if (!validPorts(rule.ports))
				throw badRequest(`ports "${rule.ports}" is not a port, a range such as 8000-9000, or "0" for all`);
			const bad = [...(rule.sources?.addresses ?? []), ...(rule.destinations?.addresses ?? [])].find(
				a => !validAddress(a),
			);
			if (bad !== undefined) throw badRequest(`"${bad}" is not an IPv4 or IPv6 address or CIDR`);
			// ICMP has no ports: it always reads back "0".
			return {...rule, ports: rule.protocol === 'icmp' ? '0' : rule.ports};
		};
		const rules = {inbound_rules: inbound.map(normalize), outbound_rules: outbound.map(normalize)};
		const referenced = [
			...tags,
			...[...inbound.map(r => r.sources), ...outbound.map(r => r.destinations)].flatMap(t => t?.tags ?? []),
		];
		const missing = referenced.find(tag => !this.tags.has(tag));
		if (missing) throw badRequest(`tag ${missing} does not exist`);
		return {name, ...rules, tags, droplet_ids: dropletIds};
	}

	private firewallView(f: Firewall, now: number): Firewall {
		// Rules take a moment to apply: waiting at first, then succeeded.
		return {...f, status: now - Date.parse(f.created_at) < 1_000 ? 'waiting' : 'succeeded'};
	}

	private tagView(name: string, now: number): {name: string; resources: Record<string, unknown>} {
		const droplets = this.listDroplets(new URLSearchParams({tag_name: name}), now).filter(
			d => d.deletedAt === undefined,
		);
		return {
			name,
			resources: {
				count: droplets.length,
				droplets: {count: droplets.length},
				images: {count: 0},
				volumes: {count: 0},
				volume_snapshots: {count: 0},
				databases: {count: 0},
			},
		};
	}
}

/**
 * The answer to a request that breaks the spec, with the status the spec
 * documents for the operation: a path parameter that cannot be valid names
 * nothing (404); a bad query parameter is a bad request (400; the list
 * operations document no 4xx, and 400 is the spec's answer for a malformed
 * request); a bad body gets the operation's documented 400 (in the tags'
 * own shape where that is documented), or else 422, the spec's and the API's
 * usual answer to a body that fails validation.
 */
function refusal(operation: SpecOperation | undefined, violation: Violation): HttpError {
	if (!operation || violation.in === 'operation' || violation.in === 'path') return notFound();
	if (violation.in === 'query') return new HttpError(400, 'bad_request', violation.message);
	if (operation.statuses.includes(400)) {
		return new HttpError(
			400,
			'bad_request',
			violation.message,
			operation.rootCauses400 ? {root_causes: [violation.message]} : {},
		);
	}
	if (operation.id === 'droplets_create') {
		// Either form (name or names) lacks a field both need: that field is what is wrong, not the name.
		const missing = [...violation.message.matchAll(/\b(\w+) is required/g)]
			.map(m => m[1]!)
			.filter(f => f !== 'name' && f !== 'names');
		if (missing.length > 0)
			return unprocessable(`${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required`);
		// [obs] the API's wording for a droplet name it refuses.
		if (/^names?\b/.test(violation.field)) return unprocessable(HOSTNAME_MESSAGE);
	}
	return unprocessable(violation.message);
}

function notFound(): HttpError {
	return new HttpError(404, 'not_found', 'The resource you requested could not be found.');
}

function badRequest(message: string): HttpError {
	return new HttpError(400, 'bad_request', message);
}

/** A firewall rule's ports: one port, a range low-high, or "0" for all. */
function validPorts(ports: string): boolean {
	const match = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(ports);
	if (!match) return false;
	const low = Number(match[1]);
	const high = match[2] === undefined ? low : Number(match[2]);
	return ports === '0' || (low >= 1 && low <= high && high <= 65_535);
}

/** An IPv4 or IPv6 address, or a CIDR of either. */
function validAddress(address: string): boolean {
	const [ip = '', prefix, ...rest] = address.split('/');
	const family = isIP(ip);
	if (family === 0 || rest.length > 0) return false;
	return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128));
}

function unprocessable(message: string): HttpError {
	return new HttpError(422, 'unprocessable_entity', message);
}

function publicKey(key: KeyRecord): SshKey {
	return {id: key.id, fingerprint: key.fingerprint, public_key: key.public_key, name: key.name};
}

function prefixMask(prefix: number): string {
	return formatIpv4(2 ** 32 - 2 ** (32 - prefix));
}

/** Starts an emulator; close() it when done (real mode removes its containers then). */
export async function startEmulator(options: EmulatorInit = {}): Promise<Emulator> {
	return new Emulator(options).start();
}

/** A small seeded generator (mulberry32): the same seed gives the same boots and action times. */
export function seededRandom(seed: number): () => number {
	let state = seed >>> 0;
	return () => {
		state = (state + 0x6d2b79f5) >>> 0;
		let t = state;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
	};
}
