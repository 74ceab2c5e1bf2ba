import {errorInfo} from '../../source/errors.js';
import {formatError} from '../../source/render/format.js';
import {setTimeout as delay} from 'node:timers/promises';
import {afterEach, describe, expect, it} from 'vitest';
import {InputError, SpecError} from '../../source/errors.js';
import type {RunEvent} from '../../source/events.js';
import {DigitalOceanClient, type DropletCreateRequest} from '../../source/providers/digitalocean/api.js';
import {dropletTags} from '../../source/providers/digitalocean/names.js';
import {DigitalOceanProvider} from '../../source/providers/digitalocean/provider.js';
import type {Timing} from '../../source/providers/digitalocean/settings.js';
import type {MachinePlan, ProviderContext} from '../../source/providers/types.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {planNodes, resolveSpec, type SpecInput} from '../../source/spec.js';
import {startEmulator, type Emulator, type EmulatorInit} from '../emulator/server.js';

/**
 * The provider against a paper emulator, with every wait shortened: polls
 * every 50 ms, 200 ms for lists to settle. What is asserted is what the API
 * saw: requests, droplets, duplicates.
 */
const FAST: Partial<Timing> = {
	pollEarlyMs: 50,
	pollLateMs: 50,
	pollSwitchAfterMs: 0,
	settleMs: 200,
	actionCheckAfterMs: 400,
	actionCheckEveryMs: 100,
	drainTimeoutMs: 5_000,
	activeTimeoutMs: 20_000,
	busyTimeoutMs: 5_000,
};
/** The client's own Retry-After and backoff waits, shortened ten times. */
const CLIENT = {
	backoff: {baseMs: 100, capMs: 1_000},
	sleep: (ms: number, signal?: AbortSignal) => delay(ms / 10, undefined, {signal}),
};

let emulator: Emulator | undefined;
afterEach(async () => {
	await emulator?.close();
	emulator = undefined;
});

async function setup(init: EmulatorInit = {}, input: SpecInput = {}) {
	emulator = await startEmulator({bootDelayMs: 300, ...init});
	const provider = new DigitalOceanProvider({
		token: emulator.token,
		apiUrl: emulator.url,
		timing: FAST,
		client: CLIENT,
	});
	const spec = resolveSpec({name: 'unit-do', provider: 'digitalocean', workers: 3, ...input});
	const events: RunEvent[] = [];
	const clusterKey = generateKeyPair('swarmbee-unit-do');
	const ctx: ProviderContext = {spec, owner: 'owner-1', emit: e => events.push(e), sshPublicKey: clusterKey.publicKey};
	const plans: MachinePlan[] = planNodes(spec).map(n => ({
		...n,
		hostKey: generateKeyPair(n.name),
		authorizedKey: clusterKey.publicKey,
	}));
	const progress: Array<[string, string]> = [];
	const bringUp = async () => {
		await provider.preflight(ctx);
		const {infra} = await provider.ensureInfra(ctx);
		const outcomes = await provider.createMachines(ctx, plans, infra, (node, detail) => progress.push([node, detail]));
		return {infra, outcomes};
	};
	return {emulator, provider, spec, ctx, plans, events, progress, bringUp};
}

function dropletNames(e: Emulator): string[] {
	return e
		.liveDroplets()
		.map(d => d.name)
		.sort();
}

describe('DigitalOcean provider against the emulator (paper)', () => {
	it('brings up 1+12: tags, default VPC, key, firewall, droplets in batches of ten, all active with addresses', async () => {
		const s = await setup({}, {workers: 12});
		const lines = await s.provider.preflight(s.ctx);
		expect(lines[0]).toBe('DigitalOcean account sammy@example.com: active, 0 of 25 droplets in use, 13 to create');
		expect(lines[3]).toBe('13 × s-1vcpu-1gb: $0.116 an hour, $78.00 a month at list price');
		const {infra, changed} = await s.provider.ensureInfra(s.ctx);
		expect(changed).toBe(true);
		expect(infra.privateCidr).toMatch(/^10\.1(0[4-9]|1[01])\.\d+\.0\/20$/);
		expect(Object.keys(infra.ids).sort()).toEqual(['firewall', 'sshKey', 'sshKeyFingerprint', 'tag', 'vpc']);
		const outcomes = await s.provider.createMachines(s.ctx, s.plans, infra, () => {});
		expect(outcomes.map(o => o.error?.message)).toEqual(Array(13).fill(undefined));
		for (const {machine} of outcomes) {
			expect(machine).toMatchObject({status: 'running', owner: 'owner-1'});
			expect(machine!.ssh?.host).toBe(machine!.publicAddress);
		}
		expect(dropletNames(s.emulator)).toEqual(s.plans.map(p => p.name).sort());
		const creates = s.emulator.requests.filter(r => r.method === 'POST' && r.path === '/v2/droplets');
		expect(creates).toHaveLength(3);
		// Tags first (the firewall names one), and the firewall before any droplet.
		const order = s.emulator.requests.map(r => `${r.method} ${r.path}`);
		expect(order.indexOf('POST /v2/tags')).toBeLessThan(order.indexOf('POST /v2/firewalls'));
		expect(order.indexOf('POST /v2/firewalls')).toBeLessThan(order.indexOf('POST /v2/droplets'));
		const firewall = [...s.emulator.firewalls.values()][0]!;
		expect(firewall.tags).toEqual(['swarmbee-unit-do']);
		const droplet = s.emulator.liveDroplets().find(d => d.name === 'queenbee')!;
		expect(droplet.tags).toEqual(['swarmbee', 'swarmbee-unit-do', 'swarmbee-role:manager', 'swarmbee-owner:owner-1']);
		expect(droplet.userData).toContain('queenbee)');
		expect(droplet.userData).not.toContain('workerbee-1)');
		expect(droplet.sshKeys.map(k => k.name)).toEqual(['swarmbee-unit-do']);
		expect(s.events.some(e => e.type === 'rate-limit')).toBe(true);
	});

	it('ends a 429 storm with every droplet made once', async () => {
		const s = await setup({faults: {rateLimitEvery: 3, retryAfterSeconds: 1}}, {workers: 12});
		const {outcomes} = await s.bringUp();
		expect(outcomes.every(o => o.machine?.status === 'running')).toBe(true);
		expect(dropletNames(s.emulator)).toEqual(s.plans.map(p => p.name).sort());
		expect(s.emulator.count({status: 429})).toBeGreaterThanOrEqual(8);
	});

	it('asks again after a 429 without listing first: a refused create made nothing', async () => {
		const s = await setup({faults: {rateLimitEvery: 2, rateLimitOnly: '^POST /v2/droplets$', retryAfterSeconds: 1}});
		const {outcomes} = await s.bringUp();
		expect(outcomes.every(o => o.machine?.status === 'running')).toBe(true);
		expect(dropletNames(s.emulator)).toEqual(s.plans.map(p => p.name).sort());
		const droplets = s.emulator.requests.filter(
			r => r.path === '/v2/droplets' && !r.query.includes('per_page=1&') && !/[?&]per_page=1$/.test(r.query),
		);
		const refused = droplets.findIndex(r => r.status === 429);
		const lastCreate = droplets.findLastIndex(r => r.method === 'POST');
		expect(refused).toBeGreaterThanOrEqual(0);
		expect(droplets.slice(refused, lastCreate).filter(r => r.method === 'GET')).toEqual([]);
	});

	it('stops at a spent hourly budget instead of asking again for droplets, and says when to come back', async () => {
		// The budget runs out right before the creates, as the API would show it: each answer's
		// ratelimit-remaining counting down to 0 (a 429 right after plenty left is a per-minute limit).
		const probe = await setup();
		await probe.bringUp();
		const beforeCreates = probe.emulator.requests.findIndex(r => r.method === 'POST' && r.path === '/v2/droplets');
		await probe.emulator.close();
		emulator = undefined;
		const s = await setup({rateLimit: {perHour: beforeCreates}});
		const started = Date.now();
		const {outcomes} = await s.bringUp();
		// Two requests (one per role), each refused once, neither asked again.
		expect(s.emulator.count({method: 'POST', path: '/v2/droplets'})).toBe(2);
		expect(Date.now() - started).toBeLessThan(5_000);
		for (const {error} of outcomes) {
			expect(error).toMatchObject({status: 429});
			expect((error as Error & {hint: string}).hint).toMatch(
				/DigitalOcean takes requests again in (59m\d\d|60m0\d)s, at \d\d:\d\d:\d\d UTC/,
			);
		}
		expect(s.emulator.liveDroplets()).toEqual([]);
	});

	it('looks before asking again when a create failed after it was carried out (5xx)', async () => {
		const s = await setup(
			{
				faults: {
					serverErrorEvery: 1,
					serverErrorWhen: 'after',
					serverErrorOnly: '^POST /v2/(droplets|firewalls|account/keys)$',
				},
				lags: {listMs: 100},
			},
			{workers: 12},
		);
		const {outcomes} = await s.bringUp();
		expect(outcomes.every(o => o.machine?.status === 'running')).toBe(true);
		expect(dropletNames(s.emulator)).toEqual(s.plans.map(p => p.name).sort());
		// One request per batch: each 500 was followed by a look, never a second create.
		expect(s.emulator.count({method: 'POST', path: '/v2/droplets'})).toBe(3);
		expect(s.emulator.firewalls.size).toBe(1);
		expect(s.emulator.keys.size).toBe(1);
	});

	it('creates only what is missing after a 5xx that was not carried out', async () => {
		const s = await setup({
			faults: {serverErrorEvery: 2, serverErrorWhen: 'before', serverErrorOnly: '^POST /v2/droplets$'},
		});
		const {outcomes} = await s.bringUp();
		expect(outcomes.every(o => o.machine)).toBe(true);
		expect(dropletNames(s.emulator)).toEqual(['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3']);
		expect(s.emulator.count({method: 'POST', path: '/v2/droplets', status: 500})).toBe(1);
		expect(s.emulator.count({method: 'POST', path: '/v2/droplets', status: 202})).toBe(2);
	});

	it('adopts droplets an earlier run requested, creating none', async () => {
		const s = await setup();
		const {infra} = await s.provider.ensureInfra(s.ctx);
		// An earlier run asked for all four, then died right after.
		const killed = new AbortController();
		let requested = 0;
		await s.provider
			.createMachines({...s.ctx, signal: killed.signal}, s.plans, infra, (_, detail) => {
				if (detail.endsWith('requested') && ++requested === 4) killed.abort();
			})
			.catch(() => {});
		const before = s.emulator.count({method: 'POST', path: '/v2/droplets'});
		expect(s.emulator.liveDroplets()).toHaveLength(4);
		const machines = await s.provider.listMachines(s.ctx);
		expect(machines.every(m => m.status === 'creating' || m.status === 'running')).toBe(true);
		const outcomes = await s.provider.createMachines(s.ctx, s.plans, infra, (node, detail) =>
			s.progress.push([node, detail]),
		);
		expect(outcomes.every(o => o.machine?.status === 'running')).toBe(true);
		expect(s.emulator.count({method: 'POST', path: '/v2/droplets'})).toBe(before);
		expect(s.emulator.liveDroplets()).toHaveLength(4);
		expect(s.progress.filter(([, d]) => d.startsWith('found droplet'))).toHaveLength(4);
	});

	it("of two droplets with one node's name, waits for the one the journal recorded, else the lowest id (the machines step's rule)", async () => {
		const s = await setup({}, {workers: 1});
		const {infra} = await s.provider.ensureInfra(s.ctx);
		// Two creates of queenbee, as an uncertain create asked again after a lagging list leaves them.
		const client = new DigitalOceanClient({token: s.emulator.token, baseUrl: s.emulator.url});
		const body: DropletCreateRequest = {
			names: ['queenbee'],
			region: s.spec.region,
			size: s.spec.size,
			image: s.spec.image,
			ssh_keys: [],
			backups: false,
			ipv6: false,
			monitoring: false,
			tags: dropletTags(s.spec.name, 'manager', 'owner-1'),
			user_data: '#!/bin/sh\ntrue\n',
		};
		const first = (await client.createDroplets(body)).droplets[0]!.id;
		const second = (await client.createDroplets(body)).droplets[0]!.id;
		expect(second).toBeGreaterThan(first);
		const queen = s.plans.filter(p => p.name === 'queenbee');
		const recorded = await s.provider.createMachines(
			s.ctx,
			queen.map(p => ({...p, providerId: String(second)})),
			infra,
			() => {},
		);
		expect(recorded.map(o => o.machine?.providerId)).toEqual([String(second)]);
		const unrecorded = await s.provider.createMachines(s.ctx, queen, infra, () => {});
		expect(unrecorded.map(o => o.machine?.providerId)).toEqual([String(first)]);
		expect(s.emulator.count({method: 'POST', path: '/v2/droplets'})).toBe(2);
	});

	it('asks for the catalog once per provider: plan (the price asked about) then preflight', async () => {
		const s = await setup();
		await s.provider.plan(s.ctx);
		await s.provider.preflight(s.ctx);
		for (const path of ['/v2/account', '/v2/regions', '/v2/sizes'])
			expect(s.emulator.count({method: 'GET', path})).toBe(1);
		expect(s.emulator.count({method: 'GET', path: /^\/v2\/images\//})).toBe(1);
		// What changes with every droplet is asked each time.
		expect(
			s.emulator.requests.filter(r => r.method === 'GET' && r.path === '/v2/droplets' && r.query.includes('tag_name='))
				.length,
		).toBe(2);
	});

	it('createMachines right after listMachines starts from its list; a change in between makes it ask again', async () => {
		const s = await setup({bootDelayMs: 0});
		const {infra} = await s.provider.ensureInfra(s.ctx);
		// The tag's lists and the creates, in the order the API saw them.
		const seen = () =>
			s.emulator.requests.flatMap(r =>
				r.method === 'POST' && r.path === '/v2/droplets'
					? ['create']
					: r.method === 'GET' && r.path === '/v2/droplets' && r.query.includes('tag_name=')
						? ['list']
						: [],
			);
		await s.provider.listMachines(s.ctx);
		const outcomes = await s.provider.createMachines(s.ctx, s.plans, infra, () => {});
		expect(outcomes.every(o => o.machine?.status === 'running')).toBe(true);
		expect(seen().slice(0, 2)).toEqual(['list', 'create']);
		const worker = (await s.provider.listMachines(s.ctx)).find(m => m.name === 'workerbee-3')!;
		await s.provider.deleteMachine(s.ctx, worker);
		const before = seen().length;
		await s.provider.createMachines(
			s.ctx,
			s.plans.filter(p => p.name === 'workerbee-3'),
			infra,
			() => {},
		);
		expect(seen().slice(before, before + 2)).toEqual(['list', 'create']);
	});

	it('waits out the eventual-consistency lags: list, key, late IP', async () => {
		const s = await setup({lags: {listMs: 400, keyMs: 400, activeWithoutIpMs: 600}});
		const {outcomes} = await s.bringUp();
		expect(outcomes.every(o => o.machine?.publicAddress)).toBe(true);
		expect(s.emulator.count({method: 'POST', path: '/v2/droplets', status: 422})).toBeGreaterThan(0);
		expect(s.emulator.liveDroplets()).toHaveLength(4);
		expect(s.progress).toContainEqual(['queenbee', 'active, waiting for its public IPv4']);
	});

	it('reports a droplet whose create errored, deletes it, and finishes the others', async () => {
		const s = await setup({faults: {erroringDroplets: ['workerbee-2']}});
		const {infra, outcomes} = await s.bringUp();
		const failed = outcomes.find(o => o.name === 'workerbee-2')!;
		expect(failed.error?.message).toMatch(/^DigitalOcean could not create workerbee-2: its create action \d+ errored$/);
		expect(outcomes.filter(o => o.machine)).toHaveLength(3);
		expect(dropletNames(s.emulator)).toEqual(['queenbee', 'workerbee-1', 'workerbee-3']);
		// The next run creates just that one.
		const again = await s.provider.createMachines(s.ctx, s.plans, infra, () => {});
		expect(again.every(o => o.machine)).toBe(true);
		expect(dropletNames(s.emulator)).toEqual(['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3']);
	});

	it('refuses an image whose first boot swarmbee cannot carry out, naming it and the supported ones, before any write (issue 15)', async () => {
		const s = await setup({}, {image: 'fedora-42-x64'});
		const error = await s.provider.plan(s.ctx).then(
			() => undefined,
			(e: unknown) => e as Error,
		);
		const said = formatError(errorInfo(error)).join('\n');
		expect(said).toContain('fedora-42-x64 (Fedora 42 x64) cannot be set up by swarmbee');
		expect(said).toContain('only Debian and Ubuntu have');
		expect(said).toMatch(/use one of: debian-12-x64, debian-13-x64, ubuntu-22-04-x64/);
		expect(said).not.toContain('rockylinux');
		expect(
			s.emulator.count({method: 'POST'}) + s.emulator.count({method: 'PUT'}) + s.emulator.count({method: 'DELETE'}),
		).toBe(0);
	});

	it('an errored create is found as soon as its siblings are up, not after actionCheckAfterMs (issue 15)', async () => {
		emulator = await startEmulator({bootDelayMs: 300, faults: {erroringDroplets: ['workerbee-2']}});
		// Ten minutes before the first action check, as if by the old rule alone.
		const provider = new DigitalOceanProvider({
			token: emulator.token,
			apiUrl: emulator.url,
			timing: {...FAST, actionCheckAfterMs: 600_000, actionCheckEveryMs: 600_000},
			client: CLIENT,
		});
		const spec = resolveSpec({name: 'unit-do', provider: 'digitalocean', workers: 2});
		const clusterKey = generateKeyPair('swarmbee-unit-do');
		const ctx: ProviderContext = {spec, owner: 'owner-1', sshPublicKey: clusterKey.publicKey};
		const plans: MachinePlan[] = planNodes(spec).map(n => ({
			...n,
			hostKey: generateKeyPair(n.name),
			authorizedKey: clusterKey.publicKey,
		}));
		const {infra} = await provider.ensureInfra(ctx);
		const started = Date.now();
		const outcomes = await provider.createMachines(ctx, plans, infra, () => {});
		expect(Date.now() - started).toBeLessThan(5_000);
		expect(outcomes.find(o => o.name === 'workerbee-2')!.error?.message).toMatch(/create action \d+ errored/);
	});

	it('is idempotent: infra found again changes nothing; a changed firewall is put back', async () => {
		const s = await setup();
		const first = await s.provider.ensureInfra(s.ctx);
		const posts = s.emulator.count({method: 'POST'});
		const second = await s.provider.ensureInfra(s.ctx);
		expect(second).toEqual({infra: first.infra, changed: false});
		// Only the tag is asked for again (creating an existing tag changes nothing).
		expect(s.emulator.count({method: 'POST'}) - posts).toBe(1);
		const firewall = [...s.emulator.firewalls.values()][0]!;
		firewall.inbound_rules = firewall.inbound_rules.slice(1);
		expect((await s.provider.ensureInfra(s.ctx)).changed).toBe(true);
		expect(s.emulator.count({method: 'PUT'})).toBe(1);
		expect([...s.emulator.firewalls.values()][0]!.inbound_rules).toHaveLength(4);
	});

	it("makes a region's default VPC when it has none, and keeps it on down", async () => {
		const s = await setup({regionsWithoutVpc: ['nyc3']});
		const {infra} = await s.bringUp();
		const vpc = s.emulator.vpcs.get(infra.ids['vpc']!)!;
		expect(vpc).toMatchObject({name: 'default-nyc3', region: 'nyc3', default: true});
		await s.provider.destroy(s.ctx, {includeForeign: false});
		expect(s.emulator.vpcs.has(vpc.id)).toBe(true);
	});

	it('refuses, before anything is created: bad token, limit, region, size, memory, another owner', async () => {
		const cases: Array<{
			init?: EmulatorInit;
			input?: SpecInput;
			token?: string;
			error: RegExp;
			kind?: abstract new (...args: never[]) => InputError;
		}> = [
			{token: `dop_v1_${'0'.repeat(64)}`, error: /GET \/v2\/account answered 401/},
			{
				init: {account: {droplet_limit: 5}, otherDroplets: 3},
				error: /needs 4 new droplets, but the account may have 5 and has 3/,
				kind: InputError,
			},
			{input: {region: 'mars1'}, error: /region: "mars1" is not a DigitalOcean region/, kind: SpecError},
			{input: {size: 's-1vcpu-512mb-10gb'}, error: /size: s-1vcpu-512mb-10gb is not offered in nyc3/, kind: SpecError},
			{
				input: {memoryLimit: '1g'},
				error: /memory-limit: 1g per database server does not fit on s-1vcpu-1gb \(1024 MB/,
				kind: SpecError,
			},
			{
				input: {image: 'ubuntu-20-04-x64'},
				error: /image: "ubuntu-20-04-x64" is not a DigitalOcean image slug/,
				kind: SpecError,
			},
			{
				init: {unavailableRegions: ['nyc3']},
				error: /region: nyc3 \(New York 3\) takes no new droplets/,
				kind: SpecError,
			},
			{
				init: {account: {status: 'locked', status_message: 'billing'}},
				error: /account sammy@example.com is locked/,
				kind: InputError,
			},
		];
		for (const c of cases) {
			const s = await setup(c.init, c.input);
			const provider = c.token
				? new DigitalOceanProvider({token: c.token, apiUrl: s.emulator.url, timing: FAST})
				: s.provider;
			const error = await provider.preflight(s.ctx).then(
				() => undefined,
				e => e as InputError,
			);
			if (c.kind) expect(error, String(c.error)).toBeInstanceOf(c.kind);
			// Exit code 2 for all of them: the user's input (token included) needs fixing.
			expect(error?.kind).toBe('input');
			expect(error!.message).toMatch(c.error);
			expect(s.emulator.count({method: 'POST'})).toBe(0);
			await s.emulator.close();
			emulator = undefined;
		}
		// Droplets of this cluster's name made by another swarmbee state.
		const s = await setup();
		await s.bringUp();
		const error = await s.provider.preflight({...s.ctx, owner: 'someone-else'}).then(
			() => undefined,
			e => e as Error,
		);
		expect(error?.message).toBe('the name "unit-do" is already used on this DigitalOcean account by another cluster');
	});

	it('plans without creating: resources with create/exists/use and the price', async () => {
		const s = await setup();
		const plan = await s.provider.plan(s.ctx);
		expect(plan.resources.map(r => `${r.action} ${r.kind} ${r.name}`)).toEqual([
			'create droplet queenbee',
			'create droplet workerbee-1',
			'create droplet workerbee-2',
			'create droplet workerbee-3',
			'create tag swarmbee-unit-do',
			'use vpc default-nyc3',
			'create ssh key swarmbee-unit-do',
			'create firewall swarmbee-unit-do',
		]);
		expect(plan.cost).toMatchObject({nodes: 4, size: 's-1vcpu-1gb', monthly: 24});
		expect(
			s.emulator.count({method: 'POST'}) + s.emulator.count({method: 'PUT'}) + s.emulator.count({method: 'DELETE'}),
		).toBe(0);
		await s.bringUp();
		expect((await s.provider.plan(s.ctx)).resources.filter(r => r.action === 'create')).toEqual([]);
	});

	it('reboots through a droplet action, waiting out a pending one', async () => {
		const s = await setup({actionMs: 300});
		const {outcomes} = await s.bringUp();
		const machine = outcomes[1]!.machine!;
		await Promise.all([s.provider.rebootMachine(s.ctx, machine), s.provider.rebootMachine(s.ctx, machine)]);
		expect(s.emulator.count({method: 'POST', path: `/v2/droplets/${machine.providerId}/actions`, status: 201})).toBe(2);
		expect(
			s.emulator.count({method: 'POST', path: `/v2/droplets/${machine.providerId}/actions`, status: 422}),
		).toBeGreaterThan(0);
	});

	it('down removes droplets, firewall, key and tags, waits out the delete lag, and proves none remain', async () => {
		const s = await setup({lags: {deleteMs: 500}}, {workers: 2});
		await s.bringUp();
		const report = await s.provider.destroy(s.ctx, {includeForeign: false});
		expect(report).toEqual({
			scope: 'tagged swarmbee-unit-do, and no firewall or SSH key named swarmbee-unit-do',
			removed: ['3 droplets', '1 firewall', '1 SSH key', '5 tags'],
			remaining: [],
			foreign: [],
		});
		expect(s.emulator.resources()).toEqual({droplets: [], firewalls: [], sshKeys: [], tags: [], vpcs: []});
		expect(s.emulator.count({method: 'DELETE', path: '/v2/droplets'})).toBe(1);
		// Again: nothing to do, nothing remains.
		expect(await s.provider.destroy(s.ctx, {includeForeign: false})).toMatchObject({
			removed: ['0 droplets', '0 firewalls', '0 SSH keys', '0 tags'],
			remaining: [],
			foreign: [],
		});
	});

	it("down leaves another state's droplets alone (and what they need), unless forced", async () => {
		const s = await setup({}, {workers: 1});
		await s.bringUp();
		const other = await s.provider.destroy({...s.ctx, owner: 'someone-else'}, {includeForeign: false});
		expect(other.foreign).toHaveLength(2);
		expect(s.emulator.liveDroplets()).toHaveLength(2);
		expect(s.emulator.firewalls.size).toBe(1);
		const forced = await s.provider.destroy({...s.ctx, owner: 'someone-else'}, {includeForeign: true});
		expect(forced.remaining).toEqual([]);
		expect(s.emulator.resources()).toEqual({droplets: [], firewalls: [], sshKeys: [], tags: [], vpcs: []});
	});
});
