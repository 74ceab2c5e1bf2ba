import {pause as waitOrCancel, pollUntil} from '../../concurrency.js';
import {defined, ExternalError, InputError, SpecError, toSwarmbeeError, type SwarmbeeError} from '../../errors.js';
import {event} from '../../events.js';
import {md5Fingerprint} from '../../ssh/keys.js';
import {planNodes} from '../../spec.js';
import type {
	CreateOutcome,
	DestroyReport,
	FirstBootCheck,
	InfraInfo,
	Machine,
	MachinePlan,
	PlannedResource,
	Provider,
	ProviderCapabilities,
	ProviderContext,
	ProviderPlan,
} from '../types.js';
import {
	DigitalOceanApiError,
	DigitalOceanClient,
	TOKEN_URL,
	type Action,
	type Droplet,
	type DropletCreateRequest,
	type Firewall,
	type Region,
	type Size,
	type SshKey,
	type Vpc,
} from './api.js';
import {formatUsd} from '../../render/format.js';
import {
	accountProblem,
	costOf,
	describeSize,
	loadCatalog,
	placementProblems,
	supportedImageSlugs,
	type Catalog,
} from './catalog.js';
import {dropletBatches, dropletMachine} from './droplets.js';
import {describeFirewall, firewallRequest, sameRules} from './firewall.js';
import {counted} from '../../render/format.js';
import {sameNameChoice} from '../same-name.js';
import {doNames, dropletTags, ownerFromTags, SHARED_TAG} from './names.js';
import {DEFAULT_TIMING, type DigitalOceanProviderOptions, type Timing} from './settings.js';
import {firstBootStatusCommand, parseFirstBootStatus, renderUserData, USER_DATA_LIMIT} from './user-data.js';

/** A droplet this run waits for: one it requested, or one an earlier run did. */
interface Awaited {
	id: number;
	/** The create action, when this run made the request. */
	actionId?: number;
}

/** How long listMachines' list serves createMachines (the machines step calls one right after the other). */
const LISTED_FOR_MS = 10_000;

const DROPLET = {name: (d: Droplet) => d.name, id: (d: Droplet) => String(d.id)};

/**
 * Nodes are droplets, made through the API: tags first, the region's VPC, the
 * cluster key, a Cloud Firewall, then the droplets in batches of ten. Host
 * keys arrive with user_data during first boot, so a different key at first
 * means "not ready", never "trusted" (hostKeyBeforeBoot: false).
 */
export class DigitalOceanProvider implements Provider {
	readonly name = 'digitalocean' as const;
	// Cloud Firewalls pass only TCP, UDP and ICMP: ESP, which Docker's encrypted
	// overlay needs between nodes, is dropped, so the overlay stays in clear
	// inside the VPC (and the firewall) unless the user insists.
	readonly capabilities: ProviderCapabilities = {
		encryptedOverlay: false,
		pullImages: true,
		hostKeyBeforeBoot: false,
		bootHostKeyExposed: true,
		sharesHostCpus: false,
		billed: {machine: 'droplet', by: 'DigitalOcean'},
	};
	readonly firstBoot: FirstBootCheck;
	private readonly timing: Timing;
	private api?: DigitalOceanClient;
	/**
	 * The account, regions, sizes and image, asked once per instance: `up` in
	 * a terminal plans (the price) and then runs preflight on the same
	 * provider. What changes with every droplet (the count, the tag's list)
	 * is asked each time.
	 */
	private catalog?: {image: string; value: Promise<Catalog>};
	/**
	 * The tag's list listMachines just made, which createMachines starts from
	 * instead of asking again; any change this provider makes to droplets, or
	 * a few seconds, drops it.
	 */
	private listed?: {droplets: Droplet[]; at: number};

	constructor(private readonly options: DigitalOceanProviderOptions = {}) {
		this.timing = {...DEFAULT_TIMING, ...options.timing};
		this.firstBoot = {
			name: 'the first-boot script (user_data)',
			log: '/var/log/cloud-init-output.log',
			command: firstBootStatusCommand,
			parse: parseFirstBootStatus,
			timeoutMs: this.timing.firstBootTimeoutMs,
		};
	}

	/**
	 * The API client, made at first use: a missing token is reported by the
	 * command that needs one. Rate-limit headers become this run's events.
	 */
	private client(ctx: ProviderContext): DigitalOceanClient {
		if (!this.api) {
			const token = this.options.token?.trim();
			if (!token) {
				throw new InputError('no DigitalOcean API token', {
					hint: 'swarmbee reads it from the environment variable DIGITALOCEAN_ACCESS_TOKEN; it never takes one on the command line, where shell history and the process list would keep it.',
					nextSteps: [
						`create a personal access token with read and write scope at ${TOKEN_URL}`,
						'export DIGITALOCEAN_ACCESS_TOKEN=<the token>, then run the same command again',
					],
				});
			}
			this.api = new DigitalOceanClient({
				token,
				baseUrl: this.options.apiUrl,
				...this.options.client,
				...(this.timing.sleep ? {sleep: this.timing.sleep} : {}),
				...(this.timing.now ? {now: this.timing.now} : {}),
			});
		}
		const emit = ctx.emit;
		this.api.onRateLimit = emit
			? info =>
					emit(
						event({
							type: 'rate-limit',
							limit: info.limit,
							remaining: info.remaining,
							resetAt: info.resetAt.toISOString(),
						}),
					)
			: undefined;
		return this.api;
	}

	private now(): number {
		return (this.timing.now ?? Date.now)();
	}

	private async pause(ms: number, signal?: AbortSignal): Promise<void> {
		if (this.timing.sleep) return this.timing.sleep(ms, signal);
		await waitOrCancel(ms, signal);
	}

	// -- preflight and plan ---------------------------------------------------

	/**
	 * Everything `preflight` and `plan` check, by looking only: the account,
	 * the region, size and image, the memory limit, who owns the cluster's
	 * droplets, and the droplet limit. Throws the first kind of problem found,
	 * every problem of that kind at once.
	 */
	private async inspect(
		ctx: ProviderContext,
	): Promise<{catalog: Catalog; region: Region; size: Size; total: number; tagged: Droplet[]; toCreate: number}> {
		const api = this.client(ctx);
		const {spec, signal} = ctx;
		const catalog = await this.loadCatalog(api, spec.image, signal);
		const [total, tagged] = await Promise.all([
			api.dropletCount(signal),
			api.droplets({tagName: doNames.clusterTag(spec.name)}, signal),
		]);
		const locked = accountProblem(catalog.account, total, 0);
		if (locked) throw locked;
		let problems = placementProblems(spec, catalog);
		if (problems.some(p => p.field === 'image'))
			problems = placementProblems(spec, catalog, supportedImageSlugs(await api.distributionImages(signal)));
		if (problems.length > 0) throw new SpecError(problems);
		this.checkOwnership(ctx, tagged);
		const present = new Set(tagged.map(d => d.name));
		const toCreate = planNodes(spec).filter(n => !present.has(n.name)).length;
		const full = accountProblem(catalog.account, total, toCreate);
		if (full) throw full;
		return {
			catalog,
			// placementProblems above passed both, so the catalog has them.
			region: defined(
				catalog.regions.find(r => r.slug === spec.region),
				`region ${spec.region} passed the checks but is not in the catalog`,
			),
			size: defined(
				catalog.sizes.find(s => s.slug === spec.size),
				`size ${spec.size} passed the checks but is not in the catalog`,
			),
			total,
			tagged,
			toCreate,
		};
	}

	private loadCatalog(api: DigitalOceanClient, image: string, signal?: AbortSignal): Promise<Catalog> {
		if (this.catalog?.image !== image) {
			const value = loadCatalog(api, image, signal);
			this.catalog = {image, value};
			// A failed look is not kept: the next one asks again.
			value.catch(() => {
				if (this.catalog?.value === value) this.catalog = undefined;
			});
		}
		return this.catalog.value;
	}

	/** Droplets tagged for this cluster by another swarmbee state are not ours to adopt. */
	private checkOwnership(ctx: ProviderContext, tagged: Droplet[]): void {
		const foreign = tagged.filter(d => ownerFromTags(d.tags) !== ctx.owner);
		if (foreign.length === 0) return;
		const cluster = ctx.spec.name;
		throw new InputError(`the name "${cluster}" is already used on this DigitalOcean account by another cluster`, {
			hint: `droplets tagged ${doNames.clusterTag(cluster)} (${foreign
				.slice(0, 5)
				.map(d => `${d.name} ${d.id}`)
				.join(', ')}${foreign.length > 5 ? ', …' : ''}) were made by a swarmbee state other than this one.`,
			nextSteps: [
				'choose another name for this cluster',
				`or, if that cluster is yours from another SWARMBEE_HOME, use that one; to delete it anyway: swarmbee down ${cluster} --force`,
			],
		});
	}

	async preflight(ctx: ProviderContext): Promise<string[]> {
		const {catalog, region, size, total, toCreate} = await this.inspect(ctx);
		const nodes = planNodes(ctx.spec).length;
		const cost = costOf(size, nodes);
		const image = defined(catalog.image, `image ${ctx.spec.image} passed the checks but is not in the catalog`);
		return [
			`DigitalOcean account ${catalog.account.email}: ${catalog.account.status}, ${total} of ${catalog.account.droplet_limit} droplets in use, ${toCreate} to create`,
			`${region.slug} (${region.name}) offers ${describeSize(size)}`,
			`image ${ctx.spec.image}: ${image.distribution} ${image.name}`,
			`${nodes} × ${size.slug}: ${formatUsd(cost.hourly)} an hour, ${formatUsd(cost.monthly)} a month at list price`,
		];
	}

	async plan(ctx: ProviderContext): Promise<ProviderPlan> {
		const api = this.client(ctx);
		const {spec, signal} = ctx;
		const {region, size, tagged} = await this.inspect(ctx);
		const [vpcs, firewalls, key] = await Promise.all([
			api.vpcs(signal),
			api.firewalls(signal),
			ctx.sshPublicKey ? api.sshKey(md5Fingerprint(ctx.sshPublicKey), signal) : Promise.resolve(undefined),
		]);
		const resources: PlannedResource[] = [];
		const present = new Map(tagged.map(d => [d.name, d]));
		for (const node of planNodes(spec)) {
			const droplet = present.get(node.name);
			resources.push({
				kind: 'droplet',
				name: node.name,
				action: droplet ? 'exists' : 'create',
				detail: droplet
					? `id ${droplet.id}, ${droplet.status}`
					: `${size.slug} in ${region.slug}, ${spec.image}; tags ${dropletTags(spec.name, node.role, ctx.owner || '<new owner id>').join(', ')}`,
			});
		}
		const tag = doNames.clusterTag(spec.name);
		resources.push({
			kind: 'tag',
			name: tag,
			action: tagged.length > 0 ? 'exists' : 'create',
			detail: 'the cluster: firewall target, list and delete',
		});
		const vpc = vpcs.find(v => v.region === spec.region && v.default);
		resources.push(
			vpc
				? {
						kind: 'vpc',
						name: vpc.name,
						action: 'use',
						detail: `${vpc.ip_range}, ${spec.region}'s default VPC (shared, never deleted by swarmbee)`,
					}
				: {
						kind: 'vpc',
						name: `default-${spec.region}`,
						action: 'create',
						detail: `${spec.region} has no VPC yet; the first one becomes its default (swarmbee keeps it on down, as DigitalOcean would)`,
					},
		);
		resources.push(
			key
				? {kind: 'ssh key', name: key.name, action: 'use', detail: `${key.fingerprint} (already on the account)`}
				: {
						kind: 'ssh key',
						name: doNames.sshKey(spec.name),
						action: 'create',
						detail: ctx.sshPublicKey ? md5Fingerprint(ctx.sshPublicKey) : 'the cluster key, generated by up',
					},
		);
		const rules = firewallRequest(spec.name, spec.sshFrom);
		const firewall = firewalls.find(f => f.name === rules.name);
		resources.push({
			kind: 'firewall',
			name: rules.name,
			action: firewall ? 'exists' : 'create',
			detail: describeFirewall(rules),
		});
		return {
			resources,
			cost: costOf(size, planNodes(spec).length),
			notes: [
				"prices are DigitalOcean's list prices from /v2/sizes; droplets are billed while they exist, running or not",
			],
		};
	}

	// -- infrastructure -------------------------------------------------------

	async ensureInfra(ctx: ProviderContext): Promise<{infra: InfraInfo; changed: boolean}> {
		const api = this.client(ctx);
		const {spec, signal} = ctx;
		const tag = doNames.clusterTag(spec.name);
		// The firewall names the cluster tag, and DigitalOcean refuses a firewall
		// whose tags do not exist yet: the tag comes first.
		await api.createTag(tag, signal);
		const vpc = await this.regionVpc(ctx);
		const key = await this.ensureSshKey(ctx);
		const firewall = await this.ensureFirewall(ctx);
		return {
			infra: {
				privateCidr: vpc.vpc.ip_range,
				ids: {
					tag,
					vpc: vpc.vpc.id,
					sshKey: String(key.key.id),
					sshKeyFingerprint: key.key.fingerprint,
					firewall: firewall.firewall.id,
				},
			},
			changed: vpc.created || key.created || firewall.changed,
		};
	}

	/**
	 * Creates something the API has no idempotency key for. After a failure
	 * whose outcome is unknown (5xx, no answer), it waits for lists to catch
	 * up and looks before asking again.
	 */
	private async createOnce<T>(
		ctx: ProviderContext,
		create: () => Promise<T>,
		find: () => Promise<T | undefined>,
	): Promise<T> {
		for (let attempt = 0; ; attempt++) {
			try {
				return await create();
			} catch (error) {
				if (!(error instanceof DigitalOceanApiError) || !error.retryable || attempt >= 3) throw error;
				await this.pause(
					error.status === 429 ? (error.retryAfterMs ?? this.client(ctx).backoffMs(attempt)) : this.timing.settleMs,
					ctx.signal,
				);
				// A 429 refused the request: nothing to look for.
				if (!error.uncertain) continue;
				const found = await find();
				if (found) return found;
			}
		}
	}

	/**
	 * The region's default VPC. swarmbee does not make a VPC per cluster: the
	 * first VPC made in a region becomes its default, which DigitalOcean never
	 * deletes, so `down` could not clean up after itself there; isolation comes
	 * from the Cloud Firewall, which filters VPC traffic too. A region with no
	 * VPC at all gets its default now (as DigitalOcean would with the first
	 * droplet) so its range is known before any droplet exists.
	 */
	private async regionVpc(ctx: ProviderContext): Promise<{vpc: Vpc; created: boolean}> {
		const api = this.client(ctx);
		const {spec, signal} = ctx;
		const find = async () => (await api.vpcs(signal)).find(v => v.region === spec.region && v.default);
		const existing = await find();
		if (existing) return {vpc: existing, created: false};
		const vpc = await this.createOnce(
			ctx,
			() =>
				api.createVpc(
					{
						name: `default-${spec.region}`,
						region: spec.region,
						description: `${spec.region}'s default VPC, made by swarmbee for ${spec.name} because the region had none`,
					},
					signal,
				),
			find,
		);
		return {vpc, created: true};
	}

	/**
	 * The cluster key on the account, found by its MD5 fingerprint (an earlier
	 * run may have uploaded it) or uploaded as `swarmbee-<cluster>`.
	 */
	private async ensureSshKey(ctx: ProviderContext): Promise<{key: SshKey; created: boolean}> {
		const api = this.client(ctx);
		const {spec, signal} = ctx;
		const publicKey = ctx.sshPublicKey;
		if (!publicKey) throw new Error('digitalocean provider: the keys step must run before ensureInfra');
		const fingerprint = md5Fingerprint(publicKey);
		const existing = await api.sshKey(fingerprint, signal);
		if (existing) return {key: existing, created: false};
		// A key uploaded a moment ago can be missing from lookups for a while
		// (eventual consistency): a few tries, by fingerprint and in the list.
		const find = async () => {
			for (let attempt = 0; attempt < 4; attempt++) {
				// The list (10 a minute per token) only on the last try; by fingerprint before.
				const key =
					(await api.sshKey(fingerprint, signal)) ??
					(attempt === 3
						? (await api.sshKeys(signal)).find(
								k => k.fingerprint === fingerprint || k.public_key.trim() === publicKey.trim(),
							)
						: undefined);
				if (key) return key;
				await this.pause(2_000, signal);
			}
			return undefined;
		};
		try {
			return {
				key: await this.createOnce(ctx, () => api.createSshKey(doNames.sshKey(spec.name), publicKey, signal), find),
				created: true,
			};
		} catch (error) {
			// 422 "SSH Key is already in use on your account": it is there, find it.
			if (error instanceof DigitalOceanApiError && error.status === 422 && /already in use/i.test(error.apiMessage)) {
				const key = await find();
				if (key) return {key, created: false};
			}
			throw error;
		}
	}

	/** The cluster's Cloud Firewall, created or brought back to the rules wanted. */
	private async ensureFirewall(ctx: ProviderContext): Promise<{firewall: Firewall; changed: boolean}> {
		const api = this.client(ctx);
		const {spec, signal} = ctx;
		const wanted = firewallRequest(spec.name, spec.sshFrom);
		const find = async () => (await api.firewalls(signal)).filter(f => f.name === wanted.name);
		const [existing, ...extras] = await find();
		// Names are not unique: a create cut off mid-way may have left two.
		for (const extra of extras) await api.deleteFirewall(extra.id, signal);
		if (existing) {
			if (sameRules(existing, wanted) && wanted.tags.every(tag => existing.tags.includes(tag)))
				return {firewall: existing, changed: extras.length > 0};
			return {firewall: await api.updateFirewall(existing.id, wanted, signal), changed: true};
		}
		const firewall = await this.createOnce(
			ctx,
			() => api.createFirewall(wanted, signal),
			async () => (await find())[0],
		);
		return {firewall, changed: true};
	}

	// -- machines -------------------------------------------------------------

	async listMachines(ctx: ProviderContext): Promise<Machine[]> {
		const droplets = await this.client(ctx).droplets({tagName: doNames.clusterTag(ctx.spec.name)}, ctx.signal);
		this.listed = {droplets, at: this.now()};
		return droplets.map(dropletMachine);
	}

	private dropletRequest(ctx: ProviderContext, plans: readonly MachinePlan[], infra: InfraInfo): DropletCreateRequest {
		const {spec, owner} = ctx;
		const userData = renderUserData(
			spec.name,
			plans.map(p => ({name: p.name, hostKey: p.hostKey})),
		);
		if (Buffer.byteLength(userData) > USER_DATA_LIMIT)
			throw new Error(`user_data for ${plans.length} droplets is over 64 KiB`);
		const sshKey = infra.ids['sshKey'];
		return {
			names: plans.map(p => p.name),
			region: spec.region,
			size: spec.size,
			image: spec.image,
			ssh_keys: sshKey ? [Number(sshKey)] : [],
			backups: false,
			ipv6: false,
			monitoring: false,
			tags: dropletTags(spec.name, defined(plans[0], 'a droplet request for no machines').role, owner),
			user_data: userData,
			...(infra.ids['vpc'] ? {vpc_uuid: infra.ids['vpc']} : {}),
			// with_droplet_agent left out: the web console, the way in when SSH is
			// not, needs the agent; a failed agent install does not fail the droplet.
		};
	}

	/**
	 * Never creates a droplet twice. It first lists the cluster's tag: a
	 * planned name found there (an earlier run, perhaps killed right after its
	 * request) is waited for, not created. The rest goes out in batches of at
	 * most ten, all at once; then one list request per poll watches every
	 * droplet until it is active with a public IPv4.
	 */
	async createMachines(
		ctx: ProviderContext,
		plans: MachinePlan[],
		infra: InfraInfo,
		onProgress: (node: string, detail: string) => void,
	): Promise<CreateOutcome[]> {
		const api = this.client(ctx);
		const tag = doNames.clusterTag(ctx.spec.name);
		const listed = this.listed && this.now() - this.listed.at <= LISTED_FOR_MS ? this.listed.droplets : undefined;
		this.listed = undefined;
		const tagged = listed ?? (await api.droplets({tagName: tag}, ctx.signal));
		const awaited = new Map<string, Awaited>();
		// The same rule as the machines step: the journal's droplet, else the lowest id.
		const recorded = (name: string) => plans.find(p => p.name === name)?.providerId;
		const planned = tagged.filter(d => plans.some(p => p.name === d.name));
		for (const [name, droplet] of sameNameChoice(planned, DROPLET, recorded).byName) {
			awaited.set(name, {id: droplet.id});
			onProgress(name, `found droplet ${droplet.id} from an earlier run`);
		}
		const failures = new Map<string, SwarmbeeError>();
		const missing = plans.filter(p => !awaited.has(p.name));
		await Promise.all(
			dropletBatches(missing).map(async batch => {
				try {
					for (const made of await this.createBatch(ctx, batch, infra)) {
						awaited.set(made.name, made);
						onProgress(made.name, `droplet ${made.id} requested`);
					}
				} catch (error) {
					for (const plan of batch) if (!awaited.has(plan.name)) failures.set(plan.name, toSwarmbeeError(error));
				}
			}),
		);
		const ready = await this.waitForActive(ctx, awaited, failures, onProgress, tagged);
		return plans.map(p => {
			const machine = ready.get(p.name);
			return machine
				? {name: p.name, machine}
				: {name: p.name, error: failures.get(p.name) ?? new ExternalError(`${p.name} was not created`)};
		});
	}

	/** One create request, and after a failure only what is still missing, looked up by tag first. */
	private async createBatch(
		ctx: ProviderContext,
		plans: MachinePlan[],
		infra: InfraInfo,
	): Promise<Array<{name: string} & Awaited>> {
		const api = this.client(ctx);
		const {signal} = ctx;
		const made: Array<{name: string} & Awaited> = [];
		let remaining = plans;
		for (let attempt = 0; ; attempt++) {
			try {
				const {droplets, actionIds} = await api.createDroplets(this.dropletRequest(ctx, remaining, infra), signal);
				droplets.forEach((d, i) => {
					made.push({name: d.name, id: d.id, actionId: actionIds[i]});
				});
				return made;
			} catch (error) {
				if (!(error instanceof DigitalOceanApiError) || attempt >= 5) throw error;
				// A key uploaded moments ago may not be usable yet: 422 refuses the
				// whole request, so asking again (later) cannot duplicate anything.
				const keyLag = error.status === 422 && /invalid key identifiers/i.test(error.apiMessage);
				if (!error.retryable && !keyLag) throw error;
				const wait =
					error.status === 429
						? api.retryWait(error, attempt)
						: keyLag
							? api.backoffMs(attempt)
							: Math.max(this.timing.settleMs, api.backoffMs(attempt));
				// A spent hourly budget: its error says when to come back.
				if (wait === undefined) throw error;
				await this.pause(wait, signal);
				// A refusal (the key's lag, a 429) made nothing: ask again for the same.
				if (keyLag || !error.uncertain) continue;
				// Never a blind retry: the request may have been carried out.
				const names = new Set(remaining.map(p => p.name));
				const found = (await api.droplets({tagName: doNames.clusterTag(ctx.spec.name)}, signal)).filter(d =>
					names.has(d.name),
				);
				for (const [name, droplet] of sameNameChoice(found, DROPLET).byName) {
					if (!made.some(m => m.name === name)) made.push({name, id: droplet.id});
				}
				remaining = remaining.filter(p => !made.some(m => m.name === p.name));
				if (remaining.length === 0) return made;
			}
		}
	}

	/**
	 * Waits until every awaited droplet is `active` with a public IPv4, with
	 * one list request per poll for all of them. A droplet still `new` after a
	 * while has its create action checked: an errored one is deleted (so the
	 * next run creates it afresh) and reported.
	 */
	private async waitForActive(
		ctx: ProviderContext,
		awaited: Map<string, Awaited>,
		failures: Map<string, SwarmbeeError>,
		onProgress: (node: string, detail: string) => void,
		firstLook?: Droplet[],
	): Promise<Map<string, Machine>> {
		const api = this.client(ctx);
		const {signal} = ctx;
		const started = this.now();
		const ready = new Map<string, Machine>();
		const announced = new Set<string>();
		let lastActionCheck = started;
		let checkedEarly = false;
		let look = firstLook;
		for (;;) {
			for (const [name, wanted] of awaited) {
				if (ready.has(name) || failures.has(name)) continue;
				const droplet = look?.find(d => d.id === wanted.id);
				if (!droplet) continue;
				const machine = dropletMachine(droplet);
				if (machine.status === 'running') {
					ready.set(name, machine);
					onProgress(name, 'booting');
				} else if (droplet.status === 'active' && !announced.has(name)) {
					announced.add(name);
					onProgress(name, 'active, waiting for its public IPv4');
				} else if (machine.status === 'stopped' || machine.status === 'error') {
					failures.set(
						name,
						new ExternalError(`droplet ${name} (${droplet.id}) is ${droplet.status}`, {
							node: name,
							nextSteps: ['run swarmbee up again; a droplet that is off is powered on'],
						}),
					);
				}
			}
			const pending = [...awaited].filter(([name]) => !ready.has(name) && !failures.has(name));
			if (pending.length === 0) return ready;
			const elapsed = this.now() - started;
			if (elapsed > this.timing.activeTimeoutMs) {
				for (const [name, wanted] of pending) {
					failures.set(
						name,
						new ExternalError(
							`${name} (droplet ${wanted.id}) did not become active with a public IPv4 within ${Math.round(this.timing.activeTimeoutMs / 60_000)} minutes`,
							{
								node: name,
								nextSteps: [
									'run swarmbee up again: it waits for the same droplet rather than creating another',
									'see https://status.digitalocean.com for incidents',
								],
							},
						),
					);
				}
				return ready;
			}
			// A droplet still `new` while one made with it is already up is suspect: its create action is
			// asked at once (then every actionCheckEveryMs), not only after actionCheckAfterMs.
			const siblingUp = ready.size > 0;
			if (
				(elapsed >= this.timing.actionCheckAfterMs || siblingUp) &&
				(!checkedEarly || this.now() - lastActionCheck >= this.timing.actionCheckEveryMs)
			) {
				checkedEarly = true;
				lastActionCheck = this.now();
				await this.failErroredCreates(ctx, pending, failures);
			}
			await this.pause(
				elapsed < this.timing.pollSwitchAfterMs ? this.timing.pollEarlyMs : this.timing.pollLateMs,
				signal,
			);
			look = await api.droplets({tagName: doNames.clusterTag(ctx.spec.name)}, signal);
		}
	}

	private async failErroredCreates(
		ctx: ProviderContext,
		pending: Array<[string, Awaited]>,
		failures: Map<string, SwarmbeeError>,
	): Promise<void> {
		const api = this.client(ctx);
		for (const [name, wanted] of pending) {
			if (wanted.actionId === undefined) continue;
			const action = await api.action(wanted.actionId, ctx.signal);
			if (action?.status !== 'errored') continue;
			await api.deleteDroplet(wanted.id, ctx.signal);
			failures.set(
				name,
				new ExternalError(`DigitalOcean could not create ${name}: its create action ${wanted.actionId} errored`, {
					node: name,
					hint: 'the half-made droplet was deleted.',
					nextSteps: [
						'run swarmbee up again: it creates only what is missing',
						'if it keeps failing, see https://status.digitalocean.com or try another --region',
					],
				}),
			);
		}
	}

	/**
	 * Runs a droplet action, waiting out "pending event" refusals and then the
	 * action itself. A request that failed without an answer or with a 5xx may
	 * have started the action all the same: the droplet's own action list is
	 * asked (after settleMs, as lists lag) before it is asked again, so one
	 * reboot is never two.
	 */
	private async runAction(ctx: ProviderContext, machine: Machine, type: string): Promise<void> {
		this.listed = undefined;
		const api = this.client(ctx);
		for (let attempt = 0; ; attempt++) {
			const asked = this.now();
			try {
				const action = await this.whileBusy(ctx, () => api.dropletAction(machine.providerId, type, ctx.signal));
				await this.waitForAction(ctx, action, machine.name);
				return;
			} catch (error) {
				if (!(error instanceof DigitalOceanApiError) || !error.uncertain || attempt >= 3) throw error;
				await this.pause(this.timing.settleMs, ctx.signal);
				// Started no earlier than a minute before it was asked (clocks differ), of the same type.
				const started = (await api.dropletActions(machine.providerId, ctx.signal)).find(
					a => a.type === type && Date.parse(a.started_at) >= asked - 60_000,
				);
				if (started) {
					await this.waitForAction(ctx, started, machine.name);
					return;
				}
			}
		}
	}

	/**
	 * DigitalOcean serializes actions per droplet: a 422 "pending event" means
	 * try again once it is free (`wait`, by default a poll interval), for up to
	 * busyTimeoutMs.
	 */
	private async whileBusy<T>(ctx: ProviderContext, work: () => Promise<T>, wait?: () => Promise<void>): Promise<T> {
		const deadline = this.now() + this.timing.busyTimeoutMs;
		for (;;) {
			try {
				return await work();
			} catch (error) {
				const busy =
					error instanceof DigitalOceanApiError && error.status === 422 && /pending event/i.test(error.apiMessage);
				if (!busy || this.now() > deadline) throw error;
				if (wait) await wait();
				else await this.pause(this.timing.pollLateMs, ctx.signal);
			}
		}
	}

	/** The clock and wait of this provider's timing, for pollUntil. */
	private get clock(): {now: () => number; sleep: (ms: number, signal?: AbortSignal) => Promise<void>} {
		return {now: () => this.now(), sleep: (ms, signal) => this.pause(ms, signal)};
	}

	private async waitForAction(ctx: ProviderContext, first: Action, node: string): Promise<void> {
		// The action as its request answered is the first look; then one GET per poll.
		const polled = await pollUntil(
			async attempt => (attempt === 0 ? first : await this.client(ctx).action(first.id, ctx.signal)),
			action => action?.status !== 'in-progress',
			{intervalMs: this.timing.pollEarlyMs, timeoutMs: this.timing.activeTimeoutMs, signal: ctx.signal, ...this.clock},
		);
		const action = polled.met ? polled.value : polled.last;
		if (action?.status === 'completed') return;
		throw new ExternalError(
			`${first.type} of ${node} ${action?.status === 'errored' ? 'failed' : 'did not finish'} (action ${first.id})`,
			{node, nextSteps: ['run the same command again']},
		);
	}

	async startMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		await this.runAction(ctx, machine, 'power_on');
	}

	async rebootMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		await this.runAction(ctx, machine, 'reboot');
	}

	/** `shutdown`: the droplet's OS powers off cleanly (a stopped droplet is still billed). */
	async stopMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		await this.runAction(ctx, machine, 'shutdown');
	}

	async deleteMachine(ctx: ProviderContext, machine: Machine): Promise<void> {
		this.listed = undefined;
		await this.whileBusy(ctx, () => this.client(ctx).deleteDroplet(machine.providerId, ctx.signal));
	}

	// -- down -----------------------------------------------------------------

	/**
	 * Deletes the cluster's droplets (by tag when all are ours), waits until
	 * lists stop showing them, then the firewall, the key swarmbee uploaded and
	 * the tags nothing uses any more; then lists again to prove it. The region's
	 * default VPC is shared and stays.
	 */
	async destroy(ctx: ProviderContext, options: {includeForeign: boolean}): Promise<DestroyReport> {
		this.listed = undefined;
		const api = this.client(ctx);
		const {spec, signal} = ctx;
		const tag = doNames.clusterTag(spec.name);
		const mine = (d: Droplet) => options.includeForeign || ownerFromTags(d.tags) === ctx.owner;
		const droplets = await api.droplets({tagName: tag}, signal);
		const doomed = droplets.filter(mine);
		const foreignDroplets = droplets.filter(d => !mine(d));
		// A droplet busy with an action (or still being created) refuses deletes with 422 "pending event":
		// as Terraform does before every delete, wait until the list shows it unlocked, then ask again.
		const untilUnlocked = async () => {
			await pollUntil(
				async () => (await api.droplets({tagName: tag}, signal)).filter(d => d.locked && mine(d)),
				busy => busy.length === 0,
				{intervalMs: this.timing.pollLateMs, timeoutMs: this.timing.busyTimeoutMs, signal, ...this.clock},
			);
		};
		if (doomed.length > 0 && foreignDroplets.length === 0) {
			await this.whileBusy(ctx, () => api.deleteDropletsByTag(tag, signal), untilUnlocked);
		} else {
			for (const droplet of doomed)
				await this.whileBusy(ctx, () => api.deleteDroplet(droplet.id, signal), untilUnlocked);
		}
		await this.waitUntilGone(ctx, new Set(doomed.map(d => d.id)));

		// The firewall, key and tags serve foreign droplets too, while any remain.
		let firewalls = 0;
		let keys = 0;
		let tags = 0;
		if (foreignDroplets.length === 0) {
			for (const firewall of (await api.firewalls(signal)).filter(f => f.name === doNames.firewall(spec.name))) {
				await api.deleteFirewall(firewall.id, signal);
				firewalls++;
			}
			for (const key of await this.ourKeys(ctx, options.includeForeign)) {
				await api.deleteSshKey(key.id, signal);
				keys++;
			}
			const owners = new Set(
				[ctx.owner, ...doomed.map(d => ownerFromTags(d.tags))].filter((o): o is string => Boolean(o)),
			);
			for (const name of [tag, ...[...owners].map(doNames.ownerTag)]) {
				if (await api.tag(name, signal)) {
					await api.deleteTag(name, signal);
					tags++;
				}
			}
			// Shared tags go only when nothing carries them any more.
			for (const name of [SHARED_TAG, doNames.roleTag('manager'), doNames.roleTag('worker')]) {
				const shared = await api.tag(name, signal);
				if (shared && shared.resources.count === 0) {
					await api.deleteTag(name, signal);
					tags++;
				}
			}
		}

		// The proof: list again, from the API, not from what was deleted.
		const remaining = (await api.droplets({tagName: tag}, signal)).filter(mine).map(d => `droplet ${d.name} (${d.id})`);
		if (foreignDroplets.length === 0) {
			remaining.push(
				...(await api.firewalls(signal))
					.filter(f => f.name === doNames.firewall(spec.name))
					.map(f => `firewall ${f.name} (${f.id})`),
			);
			remaining.push(
				...(await this.ourKeys(ctx, options.includeForeign)).map(k => `SSH key ${k.name} (${k.fingerprint})`),
			);
		}
		return {
			scope: `tagged ${tag}, and no firewall or SSH key named ${doNames.firewall(spec.name)}`,
			removed: [
				counted(doomed.length, 'droplet'),
				counted(firewalls, 'firewall'),
				counted(keys, 'SSH key'),
				counted(tags, 'tag'),
			],
			remaining,
			foreign: foreignDroplets.map(d => `droplet ${d.name} (${d.id})`),
		};
	}

	/**
	 * The keys swarmbee uploaded for this cluster: named swarmbee-<cluster> and
	 * holding this state's cluster key (any of that name with --force). A key
	 * the user uploaded under another name was only reused, and stays.
	 */
	private async ourKeys(ctx: ProviderContext, includeForeign: boolean): Promise<SshKey[]> {
		const fingerprint = ctx.sshPublicKey ? md5Fingerprint(ctx.sshPublicKey) : undefined;
		// By fingerprint when it is known: the key list is limited to 10 a minute per token.
		if (fingerprint && !includeForeign) {
			const key = await this.client(ctx).sshKey(fingerprint, ctx.signal);
			return key && key.name === doNames.sshKey(ctx.spec.name) ? [key] : [];
		}
		return (await this.client(ctx).sshKeys(ctx.signal)).filter(
			k =>
				k.name === doNames.sshKey(ctx.spec.name) && (includeForeign || !fingerprint || k.fingerprint === fingerprint),
		);
	}

	/** Deleted droplets can be listed for a while after the 204: waits until the tag shows none of them. */
	private async waitUntilGone(ctx: ProviderContext, ids: Set<number>): Promise<void> {
		if (ids.size === 0) return;
		// Still listed at the deadline: the proof list that follows names them.
		await pollUntil(
			async () =>
				(await this.client(ctx).droplets({tagName: doNames.clusterTag(ctx.spec.name)}, ctx.signal)).filter(d =>
					ids.has(d.id),
				),
			left => left.length === 0,
			{intervalMs: this.timing.pollEarlyMs, timeoutMs: this.timing.drainTimeoutMs, signal: ctx.signal, ...this.clock},
		);
	}
}
