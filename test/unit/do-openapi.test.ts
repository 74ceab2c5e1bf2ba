import {existsSync, readFileSync} from 'node:fs';
import {setTimeout as delay} from 'node:timers/promises';
import {afterEach, describe, expect, it} from 'vitest';
import {type DigitalOceanApiError, DigitalOceanClient, scopeFor} from '../../source/providers/digitalocean/api.js';
import {firewallRequest} from '../../source/providers/digitalocean/firewall.js';
import {DigitalOceanProvider} from '../../source/providers/digitalocean/provider.js';
import type {MachinePlan, ProviderContext} from '../../source/providers/types.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {planNodes, resolveSpec} from '../../source/spec.js';
import {specCommit, specOperation} from '../emulator/openapi.js';
import {startEmulator, type Emulator} from '../emulator/server.js';

/**
 * swarmbee's requests against DigitalOcean's published OpenAPI spec
 * (test/fixtures/digitalocean-openapi, trimmed from digitalocean/openapi).
 * The emulator checks every request and answer against it and its close()
 * fails on any that broke it, so every emulator test of the client proves
 * conformance; these tests show that the check runs and bites.
 */
let emulator: Emulator | undefined;
afterEach(async () => {
	await emulator?.close();
	emulator = undefined;
});

const fixture = new URL('../fixtures/digitalocean-openapi/', import.meta.url);

describe('the client against the published spec', () => {
	it('sends only requests the spec allows, through a whole bring-up, reboot, plan and down', async () => {
		emulator = await startEmulator({bootDelayMs: 100, actionMs: 100});
		const fast = {
			pollEarlyMs: 30,
			pollLateMs: 30,
			pollSwitchAfterMs: 0,
			settleMs: 50,
			drainTimeoutMs: 5_000,
			activeTimeoutMs: 10_000,
			busyTimeoutMs: 5_000,
		};
		const provider = new DigitalOceanProvider({
			token: emulator.token,
			apiUrl: emulator.url,
			timing: fast,
			client: {sleep: (ms, signal) => delay(ms / 10, undefined, {signal})},
		});
		const spec = resolveSpec({name: 'openapi', provider: 'digitalocean', workers: 2});
		const clusterKey = generateKeyPair('swarmbee-openapi');
		const ctx: ProviderContext = {spec, owner: 'owner-1', sshPublicKey: clusterKey.publicKey};
		const plans: MachinePlan[] = planNodes(spec).map(n => ({
			...n,
			hostKey: generateKeyPair(n.name),
			authorizedKey: clusterKey.publicKey,
		}));
		await provider.preflight(ctx);
		const {infra} = await provider.ensureInfra(ctx);
		const outcomes = await provider.createMachines(ctx, plans, infra, () => {});
		await provider.rebootMachine(ctx, outcomes[0]!.machine!);
		await provider.plan(ctx);
		await provider.destroy(ctx, {includeForeign: false});
		// …and what that path did not need: the catalog, one droplet's delete, a VPC.
		const client = new DigitalOceanClient({token: emulator.token, baseUrl: emulator.url});
		await client.image('debian-12-x64');
		await client.distributionImages();
		await client.deleteDroplet(12345);
		await client.sshKeys();
		await client.createVpc({name: 'openapi-vpc', region: 'fra1', ip_range: '10.60.0.0/24'});

		expect(emulator.specViolations()).toEqual([]);
		expect(emulator.requests.every(r => !r.responseViolations)).toBe(true);
		// What was exercised: every operation the client has.
		const operations = new Set(emulator.requests.map(r => specOperation(r.method, r.path)?.id));
		expect([...operations].sort()).toEqual([
			'account_get',
			'actions_get',
			'dropletActions_post',
			'droplets_create',
			'droplets_destroy',
			'droplets_destroy_byTag',
			'droplets_list',
			'firewalls_create',
			'firewalls_delete',
			'firewalls_list',
			'images_get',
			'images_list',
			'regions_list',
			'sizes_list',
			'sshKeys_create',
			'sshKeys_delete',
			'sshKeys_get',
			'sshKeys_list',
			'tags_create',
			'tags_delete',
			'tags_get',
			'vpcs_create',
			'vpcs_list',
		]);
	});

	it('refuses a request the spec does not allow, and fails the test that sent it', async () => {
		emulator = await startEmulator({bootDelayMs: 0});
		const client = new DigitalOceanClient({token: emulator.token, baseUrl: emulator.url, sleep: async () => {}});
		await client.createTag('swarmbee-openapi');
		// As swarmbee sent it before: ICMP rules without ports.
		const request = firewallRequest('openapi', ['0.0.0.0/0']);
		const withoutPorts = {
			...request,
			inbound_rules: request.inbound_rules.map(r =>
				r.protocol === 'icmp' ? {protocol: r.protocol, sources: r.sources} : r,
			),
		};
		const error = await client
			.createFirewall(withoutPorts as typeof request)
			.catch((e: unknown) => e as DigitalOceanApiError);
		expect(error).toMatchObject({status: 400, id: 'bad_request', apiMessage: 'inbound_rules[3].ports is required'});
		expect(emulator.specViolations()).toEqual(['POST /v2/firewalls: body: inbound_rules[3].ports is required']);
		const closing = emulator.close();
		emulator = undefined;
		await expect(closing).rejects.toThrow(
			/^DigitalOcean's OpenAPI spec \([0-9a-f]{12}\) was broken:\nrequest POST \/v2\/firewalls: body: inbound_rules\[3\]\.ports is required$/,
		);
	});

	it('names the token scope the spec gives for each operation, on a 403', () => {
		const doc = JSON.parse(readFileSync(new URL('openapi.json', fixture), 'utf8')) as {
			paths: Record<string, Record<string, unknown>>;
		};
		const wrong: string[] = [];
		for (const [template, methods] of Object.entries(doc.paths)) {
			for (const method of Object.keys(methods)) {
				const path = template.replace(/\{[^}]+\}/g, '1');
				const operation = specOperation(method, path)!;
				const said = scopeFor(method.toUpperCase(), path);
				if (!operation.scopes.includes(said))
					wrong.push(`${method.toUpperCase()} ${template}: ${said}, spec ${operation.scopes.join(' ')}`);
			}
		}
		expect(wrong).toEqual([]);
	});

	it('is checked against a fixture that says where it came from, with the licence it came under', () => {
		const doc = JSON.parse(readFileSync(new URL('openapi.json', fixture), 'utf8')) as {
			'x-source': Record<string, string>;
		};
		expect(doc['x-source']).toMatchObject({
			repository: 'https://github.com/digitalocean/openapi',
			commit: specCommit(),
		});
		expect(specCommit()).toMatch(/^[0-9a-f]{40}$/);
		expect(existsSync(new URL('LICENSE', fixture))).toBe(true);
		expect(readFileSync(new URL('LICENSE', fixture), 'utf8')).toContain('Apache License');
	});
});
