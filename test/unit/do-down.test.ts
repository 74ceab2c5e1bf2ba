import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, describe, expect, it} from 'vitest';
import {DigitalOceanProvider} from '../../source/providers/digitalocean/provider.js';
import type {ProviderContext} from '../../source/providers/types.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {planNodes, resolveSpec} from '../../source/spec.js';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {newJournal} from '../../source/store/journal.js';
import {startEmulator, type Emulator, type EmulatorInit} from '../emulator/server.js';
import {runMain} from './run-main.js';

/**
 * `swarmbee down` of a DigitalOcean cluster through the command line, against
 * the paper emulator: what it leaves on disk when the API refuses, and which
 * provider `--force` asks when only the journal is left.
 */

const NAME = 'unit-down';
let emulator: Emulator | undefined;
const homes: string[] = [];
afterEach(async () => {
	await emulator?.close();
	emulator = undefined;
	for (const home of homes.splice(0)) rmSync(home, {recursive: true, force: true});
});

/** Two droplets of the cluster on the emulator, made by owner-1, and a home whose journal is owner-1's. */
async function droplets(init: EmulatorInit = {}) {
	emulator = await startEmulator({bootDelayMs: 0, ...init});
	const spec = resolveSpec({name: NAME, provider: 'digitalocean', workers: 1, database: 'none'});
	const provider = new DigitalOceanProvider({
		token: emulator.token,
		apiUrl: emulator.url,
		timing: {pollEarlyMs: 20, pollLateMs: 20},
	});
	const key = generateKeyPair(`swarmbee-${NAME}`);
	const ctx: ProviderContext = {spec, owner: 'owner-1', sshPublicKey: key.publicKey};
	const {infra} = await provider.ensureInfra(ctx);
	const made = await provider.createMachines(
		ctx,
		planNodes(spec).map(n => ({...n, hostKey: generateKeyPair(n.name), authorizedKey: key.publicKey})),
		infra,
		() => {},
	);
	expect(made.map(o => o.error)).toEqual([undefined, undefined]);
	const home = mkdtempSync(path.join(tmpdir(), 'sb-do-down-'));
	homes.push(home);
	const store = new ClusterStore(home);
	const journal = newJournal(NAME, 'digitalocean', 'owner-1');
	journal.state = 'ready';
	const paths = store.paths(NAME);
	mkdirSync(paths.dir, {recursive: true});
	writeFileSync(paths.journal, `${JSON.stringify(journal, null, 2)}\n`);
	return {
		emulator,
		spec,
		store,
		paths,
		env: {SWARMBEE_HOME: home, DIGITALOCEAN_ACCESS_TOKEN: emulator.token, DIGITALOCEAN_API_URL: emulator.url},
	};
}

describe('down of a DigitalOcean cluster', () => {
	it('a failed down --forget keeps the owner id, key and spec, so the billed-leftovers advice still works', async () => {
		const s = await droplets({faults: {forbidden: '^DELETE /v2/droplets'}});
		s.store.saveSpec(s.spec);
		const down = await runMain(['down', NAME, '--yes', '--forget', '--plain'], s.env);
		// 403: the token's scope, an input error (exit 2).
		expect(down.code).toBe(2);
		expect(s.emulator.liveDroplets()).toHaveLength(2);
		expect(`${down.out}${down.err}`).toContain(`2 droplets of ${NAME} exist`);
		expect(`${down.out}${down.err}`).toContain(`swarmbee down ${NAME}`);
		expect(existsSync(s.paths.spec)).toBe(true);
		expect(s.store.loadJournal(NAME)?.owner).toBe('owner-1');
		// The advice given is one that works: with the API answering again, it removes them.
		s.emulator.options.faults.forbidden = undefined;
		const again = await runMain(['down', NAME, '--yes', '--forget', '--plain'], s.env);
		expect(again.code).toBe(0);
		expect(s.emulator.liveDroplets()).toHaveLength(0);
		expect(existsSync(s.paths.dir)).toBe(false);
	});

	it("down --force with a journal but no saved spec asks the journal's provider (DigitalOcean), not the local engine", async () => {
		const s = await droplets();
		expect(existsSync(s.paths.spec)).toBe(false);
		const down = await runMain(['down', NAME, '--yes', '--force', '--plain'], s.env);
		expect(down.err).toBe('');
		expect(down.code).toBe(0);
		expect(s.emulator.count({method: 'DELETE'})).toBeGreaterThan(0);
		expect(s.emulator.liveDroplets()).toHaveLength(0);
	});
});
