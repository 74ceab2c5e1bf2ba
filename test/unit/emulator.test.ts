import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {optionsFromFlags, parseDuration} from '../emulator/main.js';
import {clusterOfTags, Emulator, startEmulator, type EmulatorInit} from '../emulator/server.js';
import {eventually} from './eventually.js';

/**
 * The emulator's wire format and rules, checked with plain fetch: if these
 * drift from the reference, tests of swarmbee against it prove less.
 */
let emulator: Emulator | undefined;
afterEach(async () => {
	await emulator?.close();
	emulator = undefined;
});

async function api(init: EmulatorInit = {}) {
	// These tests send bad requests on purpose.
	emulator = await startEmulator({bootDelayMs: 0, expectValidRequests: false, ...init});
	const e = emulator;
	const call = async (method: string, path: string, body?: unknown, token = e.token) => {
		const response = await fetch(`${e.url}${path}`, {
			method,
			headers: {Authorization: `Bearer ${token}`, ...(body ? {'Content-Type': 'application/json'} : {})},
			body: body ? JSON.stringify(body) : undefined,
		});
		const text = await response.text();
		return {status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined};
	};
	return {e, call};
}

const droplet = (over: Record<string, unknown> = {}) => ({
	names: ['a'],
	region: 'nyc3',
	size: 's-1vcpu-1gb',
	image: 'debian-12-x64',
	tags: ['swarmbee-t'],
	...over,
});

describe('emulator', () => {
	it('paginates with absolute links.pages and meta.total, links empty on a single page', async () => {
		const {e, call} = await api();
		const first = await call('GET', '/v2/sizes');
		expect(first.body.sizes).toHaveLength(20);
		expect(first.body.meta).toEqual({total: 22});
		expect(first.body.links.pages).toEqual({
			next: `${e.url}/v2/sizes?page=2&per_page=20`,
			last: `${e.url}/v2/sizes?page=2&per_page=20`,
		});
		const second = await call('GET', '/v2/sizes?page=2');
		expect(second.body.sizes).toHaveLength(2);
		expect(Object.keys(second.body.links.pages)).toEqual(['first', 'prev']);
		expect((await call('GET', '/v2/sizes?per_page=200')).body.links).toEqual({});
	});

	it('answers 401 to a bad token, with rate-limit headers on every response', async () => {
		const {call} = await api();
		const bad = await call('GET', '/v2/account', undefined, 'dop_v1_nope');
		expect(bad.status).toBe(401);
		expect(bad.body).toMatchObject({id: 'unauthorized', message: 'Unable to authenticate you'});
		expect(bad.body.request_id).toMatch(/^[0-9a-f-]{36}$/);
		const ok = await call('GET', '/v2/account');
		expect(ok.headers.get('ratelimit-limit')).toBe('5000');
		expect(ok.headers.get('ratelimit-remaining')).toBe('4999');
		expect(Number(ok.headers.get('ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000 + 3500);
	});

	it('enforces the burst limit with Retry-After, and counts the busiest minute', async () => {
		const {e, call} = await api({rateLimit: {perMinute: 3}});
		for (let i = 0; i < 3; i++) expect((await call('GET', '/v2/account')).status).toBe(200);
		const limited = await call('GET', '/v2/account');
		expect(limited.status).toBe(429);
		expect(limited.body.id).toBe('too_many_requests');
		expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
		// As the API's burst sample shows: nothing remains while limited.
		expect(limited.headers.get('ratelimit-remaining')).toBe('0');
		expect(e.maxPerMinute()).toBe(4);
	});

	it('answers a spent hourly budget with 429, remaining 0 and the reset an hour after the oldest request, no Retry-After', async () => {
		const {e, call} = await api({rateLimit: {perHour: 3}});
		for (let i = 0; i < 3; i++) expect((await call('GET', '/v2/account')).status).toBe(200);
		const limited = await call('GET', '/v2/account');
		expect([limited.status, limited.headers.get('ratelimit-remaining'), limited.headers.get('retry-after')]).toEqual([
			429,
			'0',
			null,
		]);
		expect(Number(limited.headers.get('ratelimit-reset'))).toBe(Math.ceil((e.requests[0]!.at + 3_600_000) / 1000));
	});

	it("makes its 429 faults look like the API's: remaining 0; without Retry-After, the reset is the oldest request's expiry", async () => {
		const {e, call} = await api({faults: {rateLimitEvery: 2, retryAfterSeconds: 0}});
		expect((await call('GET', '/v2/account')).status).toBe(200);
		const limited = await call('GET', '/v2/account');
		expect([limited.status, limited.headers.get('ratelimit-remaining'), limited.headers.get('retry-after')]).toEqual([
			429,
			'0',
			null,
		]);
		expect(Number(limited.headers.get('ratelimit-reset'))).toBe(Math.ceil((e.requests[0]!.at + 3_600_000) / 1000));
		e.options.faults.retryAfterSeconds = 7;
		await call('GET', '/v2/account');
		const burst = await call('GET', '/v2/account');
		expect([burst.status, burst.headers.get('ratelimit-remaining'), burst.headers.get('retry-after')]).toEqual([
			429,
			'0',
			'7',
		]);
	});

	it('creates droplets new, then active with private and public IPv4, with a create action per droplet', async () => {
		const {e, call} = await api({bootDelayMs: 200});
		const made = await call('POST', '/v2/droplets', droplet({names: ['a', 'b']}));
		expect(made.status).toBe(202);
		expect(made.body.droplets.map((d: {status: string; networks: unknown}) => [d.status, d.networks])).toEqual([
			['new', {v4: [], v6: []}],
			['new', {v4: [], v6: []}],
		]);
		expect(made.body.links.actions).toHaveLength(2);
		const action = made.body.links.actions[0];
		expect((await call('GET', `/v2/actions/${action.id}`)).body.action.status).toBe('in-progress');
		const listed = await eventually(async () => {
			const answer = await call('GET', '/v2/droplets?tag_name=swarmbee-t');
			expect(answer.body.droplets.map((d: {status: string}) => d.status)).toEqual(['active', 'active']);
			return answer;
		});
		expect(listed.body.droplets[0].networks.v4.map((n: {type: string}) => n.type)).toEqual(['private', 'public']);
		expect((await call('GET', `/v2/actions/${action.id}`)).body.action.status).toBe('completed');
		// Tags named in a create exist afterwards.
		expect((await call('GET', '/v2/tags/swarmbee-t')).body.tag.resources.count).toBe(2);
		expect(e.liveDroplets()).toHaveLength(2);
	});

	it('refuses creates with the documented 422s', async () => {
		const {call} = await api({account: {droplet_limit: 2}});
		const message = async (body: unknown) => {
			const r = await call('POST', '/v2/droplets', body);
			expect(r.status).toBe(422);
			return r.body.message as string;
		};
		expect(await message(droplet({names: Array.from({length: 11}, (_, i) => `n${i}`)}))).toContain('at most 10');
		expect(await message(droplet({names: ['bad_name']}))).toBe(
			'Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)',
		);
		expect(await message(droplet({region: 'mars1'}))).toBe('You specified an invalid region for Droplet creation.');
		expect(await message(droplet({region: 'nyc2'}))).toBe('Region is not available');
		expect(await message(droplet({size: 'm-64vcpu'}))).toBe('You specified an invalid size for Droplet creation.');
		expect(await message(droplet({size: 's-1vcpu-512mb-10gb'}))).toBe('Size is not available in this region.');
		expect(await message(droplet({image: 'ubuntu-20-04-x64'}))).toBe(
			'You specified an invalid image for Droplet creation.',
		);
		expect(await message(droplet({ssh_keys: [123, 'aa:bb']}))).toBe(
			'123, aa:bb are invalid key identifiers for Droplet creation.',
		);
		expect(await message(droplet({names: ['a', 'b', 'c']}))).toBe(
			'creating these droplets will exceed your droplet limit',
		);
		expect(await message(droplet({user_data: 'x'.repeat(64 * 1024 + 1)}))).toContain('64 KiB');
		expect(await message(droplet({public_networking: false, ipv6: true}))).toBe(
			'a droplet without public networking cannot have IPv6',
		);
	});

	it('handles SSH keys: 201, 422 already in use, 422 malformed, key lag, 10 list calls a minute', async () => {
		const {call} = await api({lags: {keyMs: 300}});
		const material = generateKeyPair('k').publicKey;
		const made = await call('POST', '/v2/account/keys', {name: 'k', public_key: material});
		expect(made.status).toBe(201);
		expect(made.body.ssh_key.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
		expect((await call('POST', '/v2/account/keys', {name: 'k2', public_key: material})).body.message).toBe(
			'SSH Key is already in use on your account',
		);
		expect((await call('POST', '/v2/account/keys', {name: 'k3', public_key: 'not a key'})).body.message).toBe(
			'Key invalid, key should be of the format `type key [comment]`',
		);
		expect((await call('GET', `/v2/account/keys/${made.body.ssh_key.fingerprint}`)).status).toBe(404);
		expect((await call('POST', '/v2/droplets', droplet({ssh_keys: [made.body.ssh_key.id]}))).status).toBe(422);
		await eventually(async () =>
			expect((await call('GET', `/v2/account/keys/${made.body.ssh_key.fingerprint}`)).body.ssh_key?.id).toBe(
				made.body.ssh_key.id,
			),
		);
		const statuses = [];
		for (let i = 0; i < 10; i++) statuses.push((await call('GET', '/v2/account/keys')).status);
		const limited = await call('GET', '/v2/account/keys');
		expect([...statuses, limited.status].filter(s => s === 429)).toEqual([429]);
		expect(limited.headers.get('ratelimit-remaining')).toBe('0');
	});

	it('protects VPCs: the first in a region becomes default, defaults and non-empty ones answer 403', async () => {
		const {call} = await api({regionsWithoutVpc: ['fra1'], lags: {deleteMs: 300}});
		const first = await call('POST', '/v2/vpcs', {name: 'one', region: 'fra1'});
		expect(first.status).toBe(201);
		expect(first.body.vpc).toMatchObject({default: true, region: 'fra1'});
		expect((await call('DELETE', `/v2/vpcs/${first.body.vpc.id}`)).status).toBe(403);
		const second = await call('POST', '/v2/vpcs', {name: 'two', region: 'fra1', ip_range: '10.50.0.0/24'});
		expect(second.body.vpc).toMatchObject({default: false, ip_range: '10.50.0.0/24'});
		expect((await call('POST', '/v2/vpcs', {name: 'two', region: 'fra1'})).status).toBe(422);
		expect((await call('POST', '/v2/vpcs', {name: 'three', region: 'fra1', ip_range: '8.8.8.0/24'})).status).toBe(422);
		const d = await call('POST', '/v2/droplets', droplet({region: 'fra1', vpc_uuid: second.body.vpc.id}));
		expect((await call('GET', `/v2/vpcs/${second.body.vpc.id}/members`)).body.members).toHaveLength(1);
		expect((await call('DELETE', `/v2/vpcs/${second.body.vpc.id}`)).status).toBe(403);
		expect((await call('DELETE', `/v2/droplets/${d.body.droplets[0].id}`)).status).toBe(204);
		// Members drain a moment after the droplet's 204.
		expect((await call('DELETE', `/v2/vpcs/${second.body.vpc.id}`)).status).toBe(403);
		expect((await call('GET', `/v2/droplets/${d.body.droplets[0].id}`)).status).toBe(200);
		await eventually(async () => expect((await call('GET', `/v2/droplets/${d.body.droplets[0].id}`)).status).toBe(404));
		expect((await call('DELETE', `/v2/vpcs/${second.body.vpc.id}`)).status).toBe(204);
	});

	it('creates firewalls 202 waiting, then succeeded; refuses unknown tags (400, as the spec documents); tags answer 400 in their own shape', async () => {
		const {call} = await api();
		const rules = {inbound_rules: [{protocol: 'icmp', ports: '0', sources: {tags: ['t1']}}], outbound_rules: []};
		const unknown = await call('POST', '/v2/firewalls', {name: 'fw', ...rules, tags: ['t1']});
		expect([unknown.status, unknown.body.id, unknown.body.message]).toEqual([
			400,
			'bad_request',
			'tag t1 does not exist',
		]);
		expect((await call('POST', '/v2/tags', {name: 't1'})).status).toBe(201);
		expect((await call('POST', '/v2/tags', {name: 't1'})).status).toBe(201);
		const badTag = await call('POST', '/v2/tags', {name: 'no spaces'});
		expect(badTag.status).toBe(400);
		expect(Object.keys(badTag.body)).toEqual(['error', 'messages', 'root_causes']);
		const made = await call('POST', '/v2/firewalls', {name: 'fw', ...rules, tags: ['t1']});
		expect(made.status).toBe(202);
		expect(made.body.firewall).toMatchObject({status: 'waiting', pending_changes: []});
		expect(made.body.firewall.inbound_rules[0].ports).toBe('0');
		await eventually(async () =>
			expect((await call('GET', `/v2/firewalls/${made.body.firewall.id}`)).body.firewall.status).toBe('succeeded'),
		);
	});

	it('matches path segments raw, as the API does: an escaped `:` names no tag and no key', async () => {
		const {call} = await api();
		expect((await call('POST', '/v2/tags', {name: 'swarmbee-role:manager'})).status).toBe(201);
		expect((await call('GET', '/v2/tags/swarmbee-role%3Amanager')).status).toBe(404);
		expect((await call('DELETE', '/v2/tags/swarmbee-role%3Amanager')).status).toBe(404);
		expect((await call('GET', '/v2/tags/swarmbee-role:manager')).body.tag.name).toBe('swarmbee-role:manager');
		const key = (await call('POST', '/v2/account/keys', {name: 'k', public_key: generateKeyPair('k').publicKey})).body
			.ssh_key;
		expect((await call('GET', `/v2/account/keys/${key.fingerprint.replaceAll(':', '%3A')}`)).status).toBe(404);
		expect((await call('GET', `/v2/account/keys/${key.fingerprint}`)).body.ssh_key.id).toBe(key.id);
		expect((await call('DELETE', '/v2/tags/swarmbee-role:manager')).status).toBe(204);
	});

	it('serializes droplet actions: a second one while the first runs is a pending event', async () => {
		const {call} = await api({actionMs: 200});
		const d = await call('POST', '/v2/droplets', droplet());
		const id = d.body.droplets[0].id;
		expect((await call('POST', `/v2/droplets/${id}/actions`, {type: 'reboot'})).status).toBe(201);
		const busy = await call('POST', `/v2/droplets/${id}/actions`, {type: 'reboot'});
		expect([busy.status, busy.body.message]).toEqual([422, 'Droplet already has a pending event.']);
		expect((await call('DELETE', `/v2/droplets/${id}`)).status).toBe(422);
	});

	it('can fail a request after carrying it out (5xx "after")', async () => {
		const {e, call} = await api({
			faults: {serverErrorEvery: 1, serverErrorWhen: 'after', serverErrorOnly: '^POST /v2/droplets$'},
		});
		const r = await call('POST', '/v2/droplets', droplet());
		expect(r.status).toBe(500);
		expect(r.body.id).toBe('server_error');
		expect(e.liveDroplets()).toHaveLength(1);
	});

	it('refuses what it once let through: a tag without a name, a create of no droplets, and says which field is missing', async () => {
		const {e, call} = await api();
		const tag = await call('POST', '/v2/tags', {});
		expect([tag.status, tag.body.root_causes]).toEqual([400, ['name is required']]);
		expect(e.tags.has('undefined')).toBe(false);
		const none = await call('POST', '/v2/droplets', droplet({names: []}));
		expect([none.status, none.body.message]).toEqual([422, 'names must name at least one droplet']);
		const {size: _size, ...noSize} = droplet();
		expect((await call('POST', '/v2/droplets', noSize)).body.message).toBe('size is required');
		const {image: _image, ...noImage} = droplet();
		expect((await call('POST', '/v2/droplets', noImage)).body.message).toBe('image is required');
		expect(e.liveDroplets()).toEqual([]);
	});

	it('takes a region prefix or no region at all, as the spec allows', async () => {
		const {call} = await api();
		const {region: _region, ...anywhere} = droplet({names: ['a']});
		const any = await call('POST', '/v2/droplets', anywhere);
		expect(any.status).toBe(202);
		expect(any.body.droplets[0].region.slug).toMatch(/^[a-z]+\d$/);
		const prefix = await call('POST', '/v2/droplets', droplet({names: ['b'], region: 'nyc'}));
		expect(prefix.status).toBe(202);
		expect(prefix.body.droplets[0].region.slug).toMatch(/^nyc\d$/);
		expect((await call('POST', '/v2/droplets', droplet({names: ['c'], region: 'xyz'}))).status).toBe(422);
	});

	it('draws boot times from a seeded lognormal spread with the median and p90 asked for', async () => {
		const {e} = await api({bootDelayMs: 45_000, bootP90Ms: 90_000, seed: 7});
		const boots = Array.from({length: 4_000}, () => e.bootTimeMs()).sort((a, b) => a - b);
		const at = (q: number) => boots[Math.floor(q * boots.length)]!;
		expect(at(0.5)).toBeGreaterThan(42_000);
		expect(at(0.5)).toBeLessThan(48_000);
		expect(at(0.9)).toBeGreaterThan(84_000);
		expect(at(0.9)).toBeLessThan(96_000);
		// The same seed, the same boots.
		const draws = (seed: number) => {
			const fresh = new Emulator({bootDelayMs: 45_000, bootP90Ms: 90_000, seed});
			return [fresh.bootTimeMs(), fresh.bootTimeMs(), fresh.bootTimeMs()];
		};
		expect(draws(7)).toEqual(draws(7));
		expect(draws(7)).not.toEqual(draws(8));
	});

	it('locks a droplet for 10 to 60 s after an action by default, and while it is being created', async () => {
		let offset = 0;
		const {call} = await api({clock: () => Date.now() + offset, bootDelayMs: 30_000});
		const made = await call('POST', '/v2/droplets', droplet());
		const id = made.body.droplets[0].id;
		expect(made.body.droplets[0].locked).toBe(true);
		expect((await call('DELETE', `/v2/droplets/${id}`)).status).toBe(422);
		offset += 31_000;
		expect((await call('GET', `/v2/droplets/${id}`)).body.droplet.locked).toBe(false);
		expect((await call('POST', `/v2/droplets/${id}/actions`, {type: 'reboot'})).status).toBe(201);
		offset += 9_000;
		expect((await call('DELETE', `/v2/droplets/${id}`)).body.message).toBe('Droplet already has a pending event.');
		offset += 52_000;
		expect((await call('DELETE', `/v2/droplets/${id}`)).status).toBe(204);
	});

	it('is configured from flags or SWARMBEE_EMULATOR_* variables', () => {
		expect(parseDuration('45s')).toBe(45_000);
		expect(parseDuration('500ms')).toBe(500);
		const options = optionsFromFlags(
			['--mode', 'real', '--rate-limit-every', '5', '--slow-active', 'queenbee=20s', '--late-ip', '3s'],
			{SWARMBEE_EMULATOR_BOOT_DELAY: '45s', SWARMBEE_EMULATOR_DROPLET_LIMIT: '10'},
		);
		expect(options).toMatchObject({
			mode: 'real',
			bootDelayMs: 45_000,
			account: {droplet_limit: 10},
			lags: {activeWithoutIpMs: 3_000},
			faults: {rateLimitEvery: 5, slowActiveMs: {queenbee: 20_000}},
		});
	});

	it("knows a droplet's cluster from swarmbee's tags", () => {
		expect(clusterOfTags(['swarmbee', 'swarmbee-role:worker', 'swarmbee-e2e-do-x1y2', 'swarmbee-owner:abc'])).toBe(
			'e2e-do-x1y2',
		);
		expect(clusterOfTags(['web'])).toBeUndefined();
	});
});

describe('emulator, as strict as the published spec', () => {
	let call: Awaited<ReturnType<typeof api>>['call'];
	beforeEach(async () => {
		call = (await api()).call;
		await call('POST', '/v2/tags', {name: 'swarmbee-t'});
	});

	/** [status, id, message] of a refusal, whose body must have the spec's error shape. */
	async function refusal(method: string, path: string, body?: unknown): Promise<unknown[]> {
		const r = await call(method, path, body);
		expect(Object.keys(r.body ?? {}), `${method} ${path}`).toEqual(['id', 'message', 'request_id']);
		return [r.status, r.body.id, r.body.message];
	}
	const long = 'x'.repeat(256);
	const firewall = (rule: Record<string, unknown>) => ({name: 'fw', inbound_rules: [rule], tags: ['swarmbee-t']});

	it('refuses a tag over 255 characters, in a droplet create (422) as in POST /v2/tags (400, its own shape)', async () => {
		expect(await refusal('POST', '/v2/droplets', droplet({tags: [long]}))).toEqual([
			422,
			'unprocessable_entity',
			`tag name "${long}" is not valid`,
		]);
		const tag = await call('POST', '/v2/tags', {name: long});
		expect([tag.status, tag.body.root_causes]).toEqual([400, ['name must NOT have more than 255 characters']]);
	});

	it('refuses per_page outside 1 to 200 and page below 1 (400), rather than clamping', async () => {
		expect(await refusal('GET', '/v2/sizes?per_page=201')).toEqual([400, 'bad_request', 'per_page must be <= 200']);
		expect(await refusal('GET', '/v2/droplets?per_page=0')).toEqual([400, 'bad_request', 'per_page must be >= 1']);
		expect(await refusal('GET', '/v2/regions?page=0')).toEqual([400, 'bad_request', 'page must be >= 1']);
	});

	it('refuses tag_name together with name in a droplet list (400)', async () => {
		expect(await refusal('GET', '/v2/droplets?tag_name=swarmbee-t&name=a')).toEqual([
			400,
			'bad_request',
			'tag_name cannot be combined with name or type',
		]);
	});

	it('refuses ssh_keys that are neither ids nor fingerprints (422), naming the field', async () => {
		expect(await refusal('POST', '/v2/droplets', droplet({ssh_keys: [{}]}))).toEqual([
			422,
			'unprocessable_entity',
			'ssh_keys[0] must be string or integer',
		]);
	});

	it('refuses a firewall source that is no IP or CIDR, with the 400 the spec documents', async () => {
		expect(
			await refusal(
				'POST',
				'/v2/firewalls',
				firewall({protocol: 'tcp', ports: '22', sources: {addresses: ['not-an-ip']}}),
			),
		).toEqual([400, 'bad_request', '"not-an-ip" is not an IPv4 or IPv6 address or CIDR']);
		expect(
			await refusal(
				'POST',
				'/v2/firewalls',
				firewall({protocol: 'tcp', ports: '22', sources: {addresses: ['10.0.0.0/33']}}),
			),
		).toEqual([400, 'bad_request', '"10.0.0.0/33" is not an IPv4 or IPv6 address or CIDR']);
		expect(
			(
				await call(
					'POST',
					'/v2/firewalls',
					firewall({protocol: 'tcp', ports: '8000-9000', sources: {addresses: ['203.0.113.7', '2001:db8::/32']}}),
				)
			).status,
		).toBe(202);
	});

	it('answers every firewall refusal 400, as the spec documents, not 422', async () => {
		expect(
			await refusal(
				'POST',
				'/v2/firewalls',
				firewall({protocol: 'tcp', ports: 'all', sources: {tags: ['swarmbee-t']}}),
			),
		).toEqual([400, 'bad_request', 'ports "all" is not a port, a range such as 8000-9000, or "0" for all']);
		expect(
			await refusal('POST', '/v2/firewalls', {
				...firewall({protocol: 'tcp', ports: '22', sources: {addresses: ['::/0']}}),
				name: 'no spaces',
			}),
		).toEqual([400, 'bad_request', 'name must match pattern "^[a-zA-Z0-9][a-zA-Z0-9\\.-]+$"']);
		expect(await refusal('POST', '/v2/firewalls', {name: 'fw', inbound_rules: [], outbound_rules: []})).toEqual([
			400,
			'bad_request',
			'at least one inbound or outbound rule is required',
		]);
	});

	it("refuses a rule without ports, ICMP's too (the spec requires them on every rule)", async () => {
		expect(
			await refusal('POST', '/v2/firewalls', firewall({protocol: 'icmp', sources: {tags: ['swarmbee-t']}})),
		).toEqual([400, 'bad_request', 'inbound_rules[0].ports is required']);
	});

	it('answers /v2/account with every field the spec requires (floating_ip_limit, email_verified)', async () => {
		expect((await call('GET', '/v2/account')).body.account).toMatchObject({
			droplet_limit: 25,
			floating_ip_limit: 3,
			email_verified: true,
			status: 'active',
		});
	});

	it('finds nothing at a path whose parameter cannot be valid (404)', async () => {
		expect(await refusal('GET', '/v2/droplets/not-a-number')).toEqual([
			404,
			'not_found',
			'The resource you requested could not be found.',
		]);
		expect(await refusal('DELETE', '/v2/vpcs/not-a-uuid')).toEqual([
			404,
			'not_found',
			'The resource you requested could not be found.',
		]);
	});
});
