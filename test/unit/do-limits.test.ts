import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, describe, expect, it} from 'vitest';
import {DigitalOceanClient} from '../../source/providers/digitalocean/api.js';
import {DigitalOceanProvider} from '../../source/providers/digitalocean/provider.js';
import type {ProviderContext} from '../../source/providers/types.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {planNodes, resolveSpec} from '../../source/spec.js';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {newJournal} from '../../source/store/journal.js';
import {startEmulator, type Emulator, type EmulatorInit} from '../emulator/server.js';
import {runMain} from './run-main.js';

/**
 * What a real account does to `down` and to a token's budget (issue 28):
 * droplets busy with an action, or still being created, refuse deletes for
 * tens of seconds; per-minute limits clear within a minute.
 */
let emulator: Emulator | undefined;
const homes: string[] = [];
afterEach(async () => {
	await emulator?.close();
	emulator = undefined;
	for (const home of homes.splice(0)) rmSync(home, {recursive: true, force: true});
});

const NAME = 'unit-busy';

/** A 1+1 on the emulator made by owner-1, and a home whose journal is owner-1's, for `swarmbee down` through main(). */
async function cluster(init: EmulatorInit, options: {wait?: boolean} = {}) {
	emulator = await startEmulator(init);
	const spec = resolveSpec({name: NAME, provider: 'digitalocean', workers: 1, database: 'none'});
	const provider = new DigitalOceanProvider({
		token: emulator.token,
		apiUrl: emulator.url,
		timing: {pollEarlyMs: 50, pollLateMs: 50, pollSwitchAfterMs: 0},
	});
	const key = generateKeyPair(`swarmbee-${NAME}`);
	const ctx: ProviderContext = {spec, owner: 'owner-1', sshPublicKey: key.publicKey};
	const {infra} = await provider.ensureInfra(ctx);
	const plans = planNodes(spec).map(n => ({...n, hostKey: generateKeyPair(n.name), authorizedKey: key.publicKey}));
	if (options.wait !== false) {
		const made = await provider.createMachines(ctx, plans, infra, () => {});
		expect(made.map(o => o.error)).toEqual([undefined, undefined]);
	} else {
		const client = new DigitalOceanClient({token: emulator.token, baseUrl: emulator.url});
		await client.createDroplets({
			names: plans.map(p => p.name),
			region: spec.region,
			size: spec.size,
			image: spec.image,
			ssh_keys: [Number(infra.ids['sshKey'])],
			backups: false,
			ipv6: false,
			monitoring: false,
			tags: ['swarmbee', `swarmbee-${NAME}`, 'swarmbee-owner:owner-1'],
			user_data: '#!/bin/sh\ntrue\n',
		});
	}
	const home = mkdtempSync(path.join(tmpdir(), 'sb-do-busy-'));
	homes.push(home);
	const store = new ClusterStore(home);
	const journal = newJournal(NAME, 'digitalocean', 'owner-1');
	journal.state = 'ready';
	const paths = store.paths(NAME);
	mkdirSync(paths.dir, {recursive: true});
	writeFileSync(paths.journal, `${JSON.stringify(journal, null, 2)}\n`);
	store.saveSpec(spec);
	return {
		emulator,
		env: {SWARMBEE_HOME: home, DIGITALOCEAN_ACCESS_TOKEN: emulator.token, DIGITALOCEAN_API_URL: emulator.url},
	};
}

describe('down on a busy account', () => {
	it('a reboot answered 500 after it happened, then down at once: exit 0 and nothing billed left', async () => {
		// Actions lock a droplet for seconds here (10-60 s on DigitalOcean): long enough that a delete at once is refused.
		const s = await cluster({bootDelayMs: 0, actionMs: {min: 15_000, max: 16_000}});
		const client = new DigitalOceanClient({token: s.emulator.token, baseUrl: s.emulator.url});
		const queenbee = s.emulator.liveDroplets().find(d => d.name === 'queenbee')!;
		s.emulator.options.faults = {
			...s.emulator.options.faults,
			serverErrorEvery: 1,
			serverErrorWhen: 'after',
			serverErrorOnly: '^POST /v2/droplets/\\d+/actions$',
		};
		await expect(client.dropletAction(queenbee.id, 'reboot')).rejects.toMatchObject({status: 500});
		expect(s.emulator.actions.size).toBeGreaterThan(0);
		const down = await runMain(['down', NAME, '--yes', '--plain'], s.env);
		expect(`${down.out}${down.err}`).not.toContain('pending event');
		expect(down.code).toBe(0);
		// The delete by tag was refused while the reboot ran, then asked again: nothing remains.
		expect(s.emulator.count({method: 'DELETE', path: '/v2/droplets', status: 422})).toBeGreaterThan(0);
		expect(s.emulator.liveDroplets()).toEqual([]);
		expect(s.emulator.resources()).toMatchObject({droplets: [], firewalls: [], sshKeys: []});
	});

	it('down right after a create, the droplets still new (locked): exit 0 and nothing left', async () => {
		const s = await cluster({bootDelayMs: 2_500}, {wait: false});
		expect(s.emulator.liveDroplets()).toHaveLength(2);
		const down = await runMain(['down', NAME, '--yes', '--plain'], s.env);
		expect(down.code).toBe(0);
		expect(s.emulator.count({method: 'DELETE', path: '/v2/droplets', status: 422})).toBeGreaterThan(0);
		expect(s.emulator.liveDroplets()).toEqual([]);
	});
});

describe('a token budget that lasts', () => {
	it("waits out the key list's per-minute limit as DigitalOcean documents it, and six up/down cycles in a minute complete", async () => {
		// Virtual time shared by the emulator and swarmbee: a wait the API asks for is taken, not slept.
		let offset = 0;
		const clock = () => Date.now() + offset;
		const sleep = async (ms: number) => {
			offset += ms;
		};
		emulator = await startEmulator({bootDelayMs: 0, actionMs: 0, clock});
		const spec = resolveSpec({name: 'cycles', provider: 'digitalocean', workers: 1, database: 'none'});
		const provider = new DigitalOceanProvider({
			token: emulator.token,
			apiUrl: emulator.url,
			timing: {pollEarlyMs: 50, pollLateMs: 50, pollSwitchAfterMs: 0, sleep, now: clock},
			client: {sleep, now: clock},
		});
		const key = generateKeyPair('swarmbee-cycles');
		const ctx: ProviderContext = {spec, owner: 'owner-1', sshPublicKey: key.publicKey};
		const plans = planNodes(spec).map(n => ({...n, hostKey: generateKeyPair(n.name), authorizedKey: key.publicKey}));
		const started = clock();
		for (let cycle = 0; cycle < 6; cycle++) {
			await provider.preflight(ctx);
			const {infra} = await provider.ensureInfra(ctx);
			const made = await provider.createMachines(ctx, plans, infra, () => {});
			expect(made.every(o => o.machine?.status === 'running')).toBe(true);
			const report = await provider.destroy(ctx, {includeForeign: false});
			expect(report.remaining).toEqual([]);
		}
		expect(clock() - started).toBeLessThan(60_000);
		expect(emulator.count({status: 429})).toBe(0);

		// Twelve key lists in a row (another program on the token, say): the 11th is refused …
		const client = new DigitalOceanClient({token: emulator.token, baseUrl: emulator.url, sleep, now: clock});
		for (let i = 0; i < 12; i++) await client.sshKeys();
		const refused = emulator.requests.filter(r => r.status === 429);
		expect(refused.map(r => r.path)).toEqual(['/v2/account/keys']);
		// … and, as DigitalOcean documents a per-minute limit (openapi specification/description.yml, "Rate
		// Limit": "the 429 error response will include a retry-after header to indicate how long to wait (in
		// seconds)", ratelimit-remaining 0; "Only 10 GET requests to the /v2/account/keys endpoint to list SSH
		// keys can be made per 60 seconds"), the answer said how long; the client waited that, not an hour.
		let response = new Response();
		for (let i = 0; i < 11 && response.status !== 429; i++)
			response = await fetch(`${emulator.url}/v2/account/keys`, {headers: {Authorization: `Bearer ${emulator.token}`}});
		expect(response.status).toBe(429);
		expect(response.headers.get('ratelimit-remaining')).toBe('0');
		const retryAfter = Number(response.headers.get('retry-after'));
		expect(retryAfter).toBeGreaterThanOrEqual(1);
		expect(retryAfter).toBeLessThanOrEqual(60);
		expect(await response.json()).toMatchObject({id: 'too_many_requests'});
	});

	it('a 429 without Retry-After right after plenty was left is a per-minute limit: waited out, not an hour', async () => {
		const waits: number[] = [];
		const e = await startEmulator({bootDelayMs: 0});
		emulator = e;
		const client = new DigitalOceanClient({
			token: e.token,
			baseUrl: e.url,
			sleep: async ms => {
				waits.push(ms);
				// The minute passes: the limit clears.
				e.options.faults.rateLimitEvery = undefined;
			},
		});
		await client.account();
		// A 429 with neither Retry-After nor a spent budget before it (4,999 left a moment ago).
		e.options.faults = {...e.options.faults, rateLimitEvery: 1, retryAfterSeconds: 0};
		await expect(client.account()).resolves.toMatchObject({status: 'active'});
		expect(e.requests.map(r => r.status)).toEqual([200, 429, 200]);
		expect(waits[0]).toBe(60_000);
	});
});
