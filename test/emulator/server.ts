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
import {chooseFreeSubnet, formatIpv4, hostAddress, overlaps, parseCidr} from '../../source/cluster/cidr.js';
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
	/** From create to `active`. */
	bootDelayMs: number;
	/** How long a droplet action (reboot, power_on, …) keeps a paper droplet locked. */
	actionMs: number;
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
		actionMs: 1_000,
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
		faults: {retryAfterSeconds: 1, serverErrorWhen: 'before', erroringDroplets: [], slowActiveMs: {}, ...faults},
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
	private rateLimitCounter = 0;
	private serverErrorCounter = 0;
	url = '';

	constructor(options: EmulatorInit = {}) {
		this.options = defaultOptions(options);
		this.regions = emulatorRegions(this.options.unavailableRegions);
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
			const now = Date.now();
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
		const at = Date.now();
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
		this.requests.push({...record, status, ms: Date.now() - at});
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
		const window = this.requests.filter(r => r.status !== 401 && r.at > now - 3_600_000);
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
		if (serverError && faults.serverErrorWhen === 'before')
			throw new HttpError(500, 'server_error', 'Unexpected server-side error');
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
		const result = this.route(method, url, body, now);
		if (serverError) throw new HttpError(500, 'server_error', 'Unexpected server-side error');
		return result;
	}

	private route(method: string, url: URL, body: unknown, now: number): [number, unknown] {
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
				const recent = this.requests.filter(
					r => r.method === 'GET' && r.path === '/v2/account/keys' && r.at > now - 60_000,
				).length;
				if (recent >= this.options.rateLimit.keyListsPerMinute)
					throw new HttpError(429, 'too_many_requests', 'API rate limit exceeded.');
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
				for (const droplet of this.liveDroplets().filter(d => d.tags.includes(tag))) this.deleteDroplet(droplet, now);
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
			const name = String(b['name']);
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
			locked: now < d.lockedUntil,
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
		if (b['public_networking'] === false && b['ipv6'] === true)
			throw unprocessable('a droplet without public networking cannot have IPv6');
		const region = this.regions.find(r => r.slug === b['region']);
		if (!region) throw unprocessable('You specified an invalid region for Droplet creation.');
		if (!region.available) throw unprocessable('Region is not available');
		const size = this.sizes.find(s => s.slug === b['size']);
		if (!size) throw unprocessable('You specified an invalid size for Droplet creation.');
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
				bootAt: now + this.options.bootDelayMs + (this.options.faults.slowActiveMs[name] ?? 0),
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
				() => (d.failed ? 'errored' : this.status(d, Date.now()) === 'new' ? 'in-progress' : 'completed'),
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
						d.readyAt = Date.now();
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

	private deleteDroplet(d: DropletRecord, now: number): void {
		if (now < d.lockedUntil) throw unprocessable('Droplet already has a pending event.');
		d.deletedAt = now;
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
		if (now < d.lockedUntil || this.status(d, now) === 'new')
			throw unprocessable('Droplet already has a pending event.');
		let done: number | undefined;
		let failed = false;
		d.lockedUntil = Number.POSITIVE_INFINITY;
		const finish = () => {
			done = Date.now();
			d.lockedUntil = done;
			if (type === 'power_off' || type === 'shutdown') d.power = 'off';
			if (type === 'power_on' || type === 'reboot' || type === 'power_cycle') d.power = 'on';
		};
		const action = this.newAction(
			type,
			d,
			now,
			() => (failed ? 'errored' : done === undefined ? 'in-progress' : 'completed'),
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
					d.lockedUntil = Date.now();
					throw error;
				}),
			);
		} else {
			setTimeout(finish, this.options.actionMs).unref();
		}
		return action;
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
	// [obs] the API's wording for a droplet name it refuses.
	if (operation.id === 'droplets_create' && /^names?\b/.test(violation.field)) return unprocessable(HOSTNAME_MESSAGE);
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
