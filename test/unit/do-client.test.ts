import {afterEach, describe, expect, it} from 'vitest';
import {
	DigitalOceanApiError,
	DigitalOceanClient,
	RequestWindow,
	type ClientOptions,
	type DropletCreateRequest,
} from '../../source/providers/digitalocean/api.js';
import {redact} from '../../source/redact.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {startEmulator, type Emulator, type EmulatorInit} from '../emulator/server.js';

/** The client against a paper emulator, with sleeps recorded instead of slept. */
async function setup(init: EmulatorInit = {}, options: Partial<ClientOptions> = {}) {
	const emulator = await startEmulator({bootDelayMs: 0, ...init});
	const waits: number[] = [];
	const client = new DigitalOceanClient({
		token: emulator.token,
		baseUrl: emulator.url,
		random: () => 1,
		sleep: async ms => {
			waits.push(ms);
		},
		...options,
	});
	return {emulator, client, waits};
}

const dropletBody = (names: string[]): DropletCreateRequest => ({
	names,
	region: 'nyc3',
	size: 's-1vcpu-1gb',
	image: 'debian-12-x64',
	ssh_keys: [],
	backups: false,
	ipv6: false,
	monitoring: false,
	tags: ['swarmbee-test'],
	user_data: '#!/bin/sh\ntrue\n',
	with_droplet_agent: false,
});

/** The error a call fails with (the test fails if it succeeds). */
async function failure(call: Promise<unknown>): Promise<DigitalOceanApiError> {
	const outcome = await call.then(
		() => undefined,
		(error: unknown) => error,
	);
	if (!(outcome instanceof DigitalOceanApiError))
		throw new Error(`expected a DigitalOceanApiError, got ${String(outcome)}`);
	return outcome;
}

let emulator: Emulator | undefined;
afterEach(async () => {
	await emulator?.close();
	emulator = undefined;
});

describe('DigitalOcean client', () => {
	it('follows links.pages.next until the last page', async () => {
		const s = await setup();
		emulator = s.emulator;
		const {items, total} = await s.client.list<{slug: string}>('/v2/sizes', 'sizes', {query: {per_page: 5}});
		expect(total).toBe(22);
		expect(items).toHaveLength(22);
		expect(new Set(items.map(i => i.slug)).size).toBe(22);
		expect(emulator.count({method: 'GET', path: '/v2/sizes'})).toBe(5);
		// The default asks for 200 a page: one request.
		expect(await s.client.sizes()).toHaveLength(22);
		expect(emulator.count({method: 'GET', path: '/v2/sizes'})).toBe(6);
	});

	it('never sends the token to a host a next link names', async () => {
		const urls: string[] = [];
		const fake: typeof fetch = async input => {
			urls.push(String(input));
			const page = urls.length;
			const body = {
				sizes: [{slug: `s${page}`}],
				links: page === 1 ? {pages: {next: 'https://evil.example/v2/sizes?page=2&per_page=1'}} : {},
				meta: {total: 2},
			};
			return new Response(JSON.stringify(body), {status: 200});
		};
		const client = new DigitalOceanClient({token: 'dop_v1_0123456789abcdef0123', fetch: fake});
		const {items} = await client.list<{slug: string}>('/v2/sizes', 'sizes');
		expect(items.map(s => s.slug)).toEqual(['s1', 's2']);
		// Only the page number is taken from `next`; the host, path and filter are the request's own (as godo does).
		expect(urls).toEqual([
			'https://api.digitalocean.com/v2/sizes?per_page=200',
			'https://api.digitalocean.com/v2/sizes?per_page=200&page=2',
		]);
	});

	it('refuses plain http to anything but this machine', () => {
		expect(
			() => new DigitalOceanClient({token: 'dop_v1_0123456789abcdef0123', baseUrl: 'http://api.example.com'}),
		).toThrow(/refusing to send the API token/);
		expect(
			() => new DigitalOceanClient({token: 'dop_v1_0123456789abcdef0123', baseUrl: 'http://127.0.0.1:9'}),
		).not.toThrow();
	});

	it('explains a bad token (401) without showing it, as an input error', async () => {
		const s = await setup({unauthorizedId: 'Unauthorized'});
		emulator = s.emulator;
		const wrong = `dop_v1_${'f'.repeat(64)}`;
		const client = new DigitalOceanClient({token: wrong, baseUrl: emulator.url});
		const error = await failure(client.account());
		expect(error).toBeInstanceOf(DigitalOceanApiError);
		expect(error).toMatchObject({status: 401, id: 'Unauthorized', kind: 'input'});
		expect(error.message).toMatch(
			/^DigitalOcean API: GET \/v2\/account answered 401 Unauthorized: Unable to authenticate you \(request [0-9a-f-]{36}\)$/,
		);
		expect(error.hint).toContain('mistyped, expired or revoked');
		expect(error.nextSteps.join(' ')).toContain('read and write scope');
		expect(`${error.message} ${error.hint} ${error.nextSteps.join(' ')}`).not.toContain(wrong);
		// Registered at first use: redaction removes it wherever it shows up.
		expect(redact(`token=${wrong}`)).toBe('token=[redacted]');
		expect(emulator.count()).toBe(1);
	});

	it('names the missing scope on 403 and the cause on 422', async () => {
		const s = await setup({faults: {forbidden: '^POST /v2/droplets$'}, account: {droplet_limit: 1}});
		emulator = s.emulator;
		const forbidden = await failure(s.client.createDroplets(dropletBody(['a'])));
		expect(forbidden).toMatchObject({status: 403, kind: 'input'});
		expect(forbidden.hint).toContain('droplet:create');
		emulator.options.faults.forbidden = undefined;
		const limit = await failure(s.client.createDroplets(dropletBody(['a', 'b'])));
		expect(limit).toMatchObject({
			status: 422,
			id: 'unprocessable_entity',
			apiMessage: 'creating these droplets will exceed your droplet limit',
			kind: 'input',
		});
		expect(limit.nextSteps[0]).toBe('ask for fewer workers (--workers)');
		const key = generateKeyPair('k').publicKey;
		await s.client.createSshKey('one', key);
		const again = await failure(s.client.createSshKey('two', key));
		expect(again).toMatchObject({status: 422, apiMessage: 'SSH Key is already in use on your account'});
	});

	it('honours Retry-After on a burst 429', async () => {
		const s = await setup({faults: {rateLimitEvery: 2, retryAfterSeconds: 3}});
		emulator = s.emulator;
		await s.client.account();
		await s.client.account();
		expect(s.waits).toEqual([3_000]);
		expect(emulator.requests.map(r => r.status)).toEqual([200, 429, 200]);
	});

	it('without Retry-After waits until ratelimit-reset, when that is within its cap', async () => {
		// The API's reset is the oldest counted request's expiry: an hour after it.
		// A clock 59m50s ahead puts that 10 s away.
		// Little left before it (a budget of 3): a 429 after plenty left would be a per-minute limit instead.
		const s = await setup(
			{faults: {rateLimitEvery: 2, retryAfterSeconds: 0}, rateLimit: {perHour: 3}},
			{now: () => Date.now() + 3_590_000},
		);
		emulator = s.emulator;
		await s.client.account();
		await s.client.account();
		expect(emulator.requests.map(r => r.status)).toEqual([200, 429, 200]);
		expect(s.waits).toHaveLength(1);
		expect(s.waits[0]).toBeGreaterThan(8_000);
		expect(s.waits[0]).toBeLessThanOrEqual(11_000);
	});

	it('gives up at once on a spent hourly budget, saying when the API takes requests again', async () => {
		const s = await setup({faults: {rateLimitEvery: 1, retryAfterSeconds: 0}});
		emulator = s.emulator;
		const error = await failure(s.client.account());
		expect(s.waits).toEqual([]);
		expect(emulator.count()).toBe(1);
		const resetAt = new Date(Math.ceil((emulator.requests[0]!.at + 3_600_000) / 1000) * 1000);
		expect(error.retryAfterMs).toBeGreaterThan(3_590_000);
		expect(error.hint).toMatch(
			/^the API rate limit \(250 requests a minute, 5,000 an hour per token\) is used up: DigitalOcean takes requests again in (59m\d\d|60m0\d)s, at \d\d:\d\d:\d\d UTC, longer than swarmbee waits on its own \(1m30s\)\.$/,
		);
		expect(error.hint).toContain(resetAt.toISOString().slice(11, 19));
		expect(error.nextSteps).toEqual([
			`run the same command again after ${resetAt.toISOString().slice(11, 19)} UTC: it resumes where it stopped`,
		]);
	});

	it('retries 5xx and cut connections with capped exponential backoff, then gives up', async () => {
		const s = await setup({faults: {serverErrorEvery: 1}}, {retries: 7, backoff: {baseMs: 1_000, capMs: 10_000}});
		emulator = s.emulator;
		const error = await failure(s.client.regions());
		expect(error).toMatchObject({status: 500, uncertain: true, kind: 'external'});
		// random() = 1: the ceiling each time, doubling from 1 s, capped at 10 s.
		expect(s.waits).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000, 10_000]);
		expect(emulator.count({path: '/v2/regions'})).toBe(8);
	});

	it('jitters backoff between half and all of the ceiling', async () => {
		const values = [0, 0.5, 1];
		const client = new DigitalOceanClient({token: 'dop_v1_0123456789abcdef0123', random: () => values.shift() ?? 0});
		expect([client.backoffMs(3), client.backoffMs(3), client.backoffMs(3)]).toEqual([4_000, 6_000, 8_000]);
		expect(client.backoffMs(20)).toBe(15_000);
	});

	it('does not retry a 501, nor a POST whose outcome is unknown', async () => {
		const s = await setup({
			faults: {serverErrorEvery: 1, serverErrorOnly: '^POST /v2/firewalls$', serverErrorWhen: 'after'},
		});
		emulator = s.emulator;
		await s.client.createTag('swarmbee-t');
		const error = (await s.client
			.createFirewall({
				name: 'fw',
				inbound_rules: [{protocol: 'tcp', ports: '22', sources: {addresses: ['0.0.0.0/0']}}],
				outbound_rules: [],
				tags: ['swarmbee-t'],
				droplet_ids: [],
			})
			.then(
				() => undefined,
				(e: unknown) => e as DigitalOceanApiError,
			)) as DigitalOceanApiError;
		expect(error).toMatchObject({status: 500, uncertain: true});
		expect(emulator.count({method: 'POST', path: '/v2/firewalls'})).toBe(1);
		// It was carried out anyway: that is why the caller must look before asking again.
		expect(emulator.firewalls.size).toBe(1);
		const notImplemented = new DigitalOceanClient({
			token: 'dop_v1_0123456789abcdef0123',
			fetch: async () => new Response('{"id":"not_implemented","message":"no"}', {status: 501}),
			sleep: async () => {},
		});
		await expect(notImplemented.account()).rejects.toMatchObject({status: 501});
	});

	it('never retries a droplet create, not even after a 429', async () => {
		const s = await setup({faults: {rateLimitEvery: 1}});
		emulator = s.emulator;
		const error = await failure(s.client.createDroplets(dropletBody(['a'])));
		expect(error).toMatchObject({status: 429, retryAfterMs: 1_000});
		expect(emulator.count({method: 'POST', path: '/v2/droplets'})).toBe(1);
		expect(s.waits).toEqual([]);
	});

	it('gives up on a 429 that asks for a longer wait than it will honour', async () => {
		const s = await setup({faults: {rateLimitEvery: 1, retryAfterSeconds: 600}}, {maxWaitMs: 60_000});
		emulator = s.emulator;
		await expect(s.client.account()).rejects.toMatchObject({status: 429});
		expect(s.waits).toEqual([]);
	});

	it('reports the remaining rate limit after every response', async () => {
		const seen: Array<{limit: number; remaining: number}> = [];
		const s = await setup({}, {onRateLimit: info => seen.push({limit: info.limit, remaining: info.remaining})});
		emulator = s.emulator;
		await s.client.account();
		await s.client.regions();
		expect(seen).toEqual([
			{limit: 5000, remaining: 4999},
			{limit: 5000, remaining: 4998},
		]);
	});

	it("sends path segments as godo does: a tag's or fingerprint's `:` raw, never %3A", async () => {
		const s = await setup();
		emulator = s.emulator;
		await s.client.createTag('swarmbee-role:manager');
		expect((await s.client.tag('swarmbee-role:manager'))?.name).toBe('swarmbee-role:manager');
		await s.client.deleteTag('swarmbee-role:manager');
		const key = await s.client.createSshKey('k', generateKeyPair('k').publicKey);
		expect((await s.client.sshKey(key.fingerprint))?.id).toBe(key.id);
		expect(emulator.requests.filter(r => r.method !== 'POST').map(r => `${r.method} ${r.path}`)).toEqual([
			'GET /v2/tags/swarmbee-role:manager',
			'DELETE /v2/tags/swarmbee-role:manager',
			`GET /v2/account/keys/${key.fingerprint}`,
		]);
		expect(emulator.resources().tags).toEqual([]);
	});

	it('treats 404 on delete as done, and 404 on get as absent', async () => {
		const s = await setup();
		emulator = s.emulator;
		await expect(s.client.deleteDroplet(12345)).resolves.toBeUndefined();
		await expect(s.client.action(12345)).resolves.toBeUndefined();
		await expect(s.client.image('ubuntu-20-04-x64')).resolves.toBeUndefined();
		expect((await s.client.image('debian-12-x64'))?.distribution).toBe('Debian');
	});
});

describe('RequestWindow', () => {
	it('holds the request over the per-minute budget until the oldest leaves the window', async () => {
		let now = 0;
		const waits: number[] = [];
		const window = new RequestWindow(
			3,
			() => now,
			async ms => {
				waits.push(ms);
				now += ms;
			},
		);
		for (let i = 0; i < 3; i++) {
			await window.take();
			now += 1_000;
		}
		await window.take();
		expect(waits).toEqual([57_000]);
		expect(now).toBe(60_000);
	});
});
