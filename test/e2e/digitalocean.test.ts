import {execFileSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import type {ClusterStatus} from '../../source/observe/status.js';
import type {Journal} from '../../source/store/journal.js';
import {startEmulator, type Emulator} from '../emulator/server.js';
import {
	cli,
	describeWithEngine,
	dockerIn,
	events,
	labelled,
	newHome,
	purge,
	spawnCli,
	rethinkdbImage,
	uniqueName,
	type CliResult,
} from './helpers.js';

/**
 * `swarmbee … --provider digitalocean` as a user runs it, against the
 * emulator: the CLI is a separate process that reaches the API only through
 * DIGITALOCEAN_API_URL. The token is deliberately not in DigitalOcean's
 * format, so redaction by pattern cannot hide a leak: it must never be
 * written at all.
 */
const nothing = {containers: [], networks: [], volumes: []};

function tokenFor(): string {
	return `sbtest_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
}

/** Every file under a folder, as text. */
function filesUnder(dir: string): Array<{file: string; text: string}> {
	if (!existsSync(dir)) return [];
	return readdirSync(dir, {recursive: true, encoding: 'utf8'})
		.map(name => path.join(dir, name))
		.filter(file => statSync(file).isFile())
		.map(file => ({file, text: readFileSync(file, 'utf8')}));
}

describe('digitalocean: bad input is refused before anything is created', () => {
	const {home, remove} = newHome();
	const token = tokenFor();
	let emulator: Emulator;
	beforeAll(async () => {
		emulator = await startEmulator({tokens: [token], account: {droplet_limit: 3}});
	});
	afterAll(async () => {
		await emulator.close();
		remove();
	});

	it.each([
		{
			flags: ['--workers', '3'],
			says: 'this cluster needs 4 new droplets, but the account may have 3 and has 0',
			fix: '--workers 2 would fit',
		},
		{
			flags: ['--workers', '1', '--region', 'mars1'],
			says: 'region: "mars1" is not a DigitalOcean region',
			fix: 'use one of: ams3, blr1',
		},
		{
			flags: ['--workers', '1', '--size', 's-1vcpu-512mb-10gb'],
			says: 'size: s-1vcpu-512mb-10gb is not offered in nyc3',
			fix: 'choose a size nyc3 offers',
		},
		{
			flags: ['--workers', '1', '--memory-limit', '1g'],
			says: '1g per database server does not fit on s-1vcpu-1gb (1024 MB of RAM per node)',
			fix: 'use at most 921m',
		},
		{
			flags: ['--workers', '1', '--image', 'ubuntu-20-04-x64'],
			says: '"ubuntu-20-04-x64" is not a DigitalOcean image slug',
			fix: 'debian-12-x64',
		},
		{
			flags: ['--workers', '1'],
			token: 'sbtest_wrong_token_1234567890',
			says: 'GET /v2/account answered 401 unauthorized: Unable to authenticate you',
			fix: 'read and write scope',
		},
		{flags: ['--workers', '1'], token: '', says: 'no DigitalOcean API token', fix: 'export DIGITALOCEAN_ACCESS_TOKEN'},
	])('$says', async ({flags, says, fix, token: given}) => {
		const name = uniqueName('e2e-dobad');
		const env = {DIGITALOCEAN_API_URL: emulator.url, DIGITALOCEAN_ACCESS_TOKEN: given ?? token};
		const result = await cli(['up', name, '--provider', 'digitalocean', ...flags, '--yes'], home, env);
		expect(result.exitCode).toBe(2);
		expect(result.stderr).toContain(says);
		expect(result.stderr).toContain(fix);
		expect(`${result.stdout}${result.stderr}`).not.toContain(token);
		if (given) expect(`${result.stdout}${result.stderr}`).not.toContain(given);
		// Nothing made, nothing changed, nothing saved.
		expect(
			emulator.count({method: 'POST'}) + emulator.count({method: 'PUT'}) + emulator.count({method: 'DELETE'}),
		).toBe(0);
		expect(existsSync(path.join(home, 'clusters', name))).toBe(false);
	});

	it('plan shows the same checks and the price, and creates nothing', async () => {
		const env = {DIGITALOCEAN_API_URL: emulator.url, DIGITALOCEAN_ACCESS_TOKEN: token};
		const plan = await cli(['plan', 'e2e-doplan', '--provider', 'digitalocean', '--workers', '2', '--json'], home, env);
		expect(plan.exitCode).toBe(0);
		const parsed = JSON.parse(plan.stdout) as {
			resources: Array<{action: string; kind: string}>;
			cost: {hourly: number; monthly: number};
		};
		expect(parsed.resources.filter(r => r.kind === 'droplet').map(r => r.action)).toEqual([
			'create',
			'create',
			'create',
		]);
		expect(parsed.cost).toMatchObject({monthly: 18, hourly: 0.02679});
		const text = await cli(['plan', 'e2e-doplan', '--provider', 'digitalocean', '--workers', '2'], home, env);
		expect(text.stdout).toContain('cost: 3 × s-1vcpu-1gb at $0.00893 an hour: $0.0268 an hour, $18.00 a month');
		const over = await cli(['plan', 'e2e-doplan', '--provider', 'digitalocean', '--workers', '5'], home, env);
		expect(over.exitCode).toBe(2);
		expect(over.stderr).toContain('needs 6 new droplets');
		expect(emulator.count({method: 'POST'})).toBe(0);
		expect(existsSync(path.join(home, 'clusters', 'e2e-doplan'))).toBe(false);
	});
});

describeWithEngine('digitalocean: a 1+2 cluster on the emulator with real nodes', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-do');
	const token = tokenFor();
	const outputs: CliResult[] = [];
	let emulator: Emulator;
	let env: Record<string, string>;
	/** The real RethinkDB 2.4.4 server (its image built from ../shared/rethinkdb), side-loaded: nodes cannot pull here. */
	let rethinkdbTag: string;
	const journal = () => JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
	const run = async (args: string[]) => {
		const result = await cli(args, home, env);
		outputs.push(result);
		return result;
	};
	/** The node container backing a droplet (its name carries the droplet id). */
	const container = (node: string) =>
		execFileSync(
			'docker',
			['ps', '-q', '--filter', `label=swarmbee.cluster=${name}`, '--filter', `label=swarmbee.node=${node}`],
			{encoding: 'utf8'},
		).trim();

	beforeAll(async () => {
		emulator = await startEmulator({mode: 'real', tokens: [token], bootDelayMs: 3_000});
		rethinkdbTag = await rethinkdbImage();
		env = {DIGITALOCEAN_API_URL: emulator.url, DIGITALOCEAN_ACCESS_TOKEN: token};
	});
	afterAll(async () => {
		await emulator?.close();
		purge(name);
		remove();
	});

	it('killed right after its create request, up again adopts the droplets by tag and ends Ready (through a 429 storm)', async () => {
		// IPsec does not carry traffic between nested engines here (testbed notes).
		const args = [
			'up',
			name,
			'--provider',
			'digitalocean',
			'--workers',
			'2',
			'--rethinkdb-image',
			rethinkdbTag,
			'--side-load',
			'--yes',
			'--json',
		];
		const child = spawnCli(args, home, env);
		let killedAfter = -1;
		const watcher = (async () => {
			while (killedAfter < 0 && child.exitCode === null) {
				if (emulator.count({method: 'POST', path: '/v2/droplets', status: 202}) >= 1) {
					child.kill('SIGKILL');
					killedAfter = emulator.count({method: 'POST', path: '/v2/droplets'});
				}
				await sleep(5);
			}
		})();
		const killed = await child;
		await watcher;
		outputs.push({exitCode: killed.exitCode ?? -1, stdout: String(killed.stdout), stderr: String(killed.stderr)});
		expect(killed.signal).toBe('SIGKILL');
		expect(killedAfter).toBeGreaterThanOrEqual(1);
		await sleep(500);
		const madeBeforeKill = [...emulator.droplets.keys()];
		expect(madeBeforeKill.length).toBeGreaterThanOrEqual(1);

		// The next run meets a 429 on every third request and droplets that list late.
		emulator.options.faults.rateLimitEvery = 3;
		emulator.options.lags.listMs = 1_500;
		const result = await run(['up', name, '--json']);
		emulator.options.faults.rateLimitEvery = undefined;
		emulator.options.lags.listMs = 0;
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		const log = events(result.stdout);
		expect(log.at(-1)).toMatchObject({type: 'run-finished', changed: true});
		expect(log.find(e => e.type === 'step-finished' && e.step === 'verify')).toMatchObject({
			summary: '3 nodes Ready; 9 node-to-node requests over the overlay answered; RethinkDB 3 of 3 servers connected',
		});
		// Provisioned like any node: the playbook ran on every droplet.
		expect(
			log
				.filter(e => e.type === 'node-recap')
				.map(e => (e as {node: string}).node)
				.sort(),
		).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
		expect(log.some(e => e.type === 'rate-limit')).toBe(true);
		expect(emulator.count({status: 429})).toBeGreaterThanOrEqual(4);

		// No duplicates, ever: every droplet the emulator was asked for is one of the three.
		expect([...emulator.droplets.values()].map(d => d.name).sort()).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
		expect(emulator.liveDroplets()).toHaveLength(3);
		// Adopted by tag: the killed run's droplets are the cluster's nodes now.
		expect(emulator.liveDroplets().map(d => d.id)).toEqual(expect.arrayContaining(madeBeforeKill));
		expect(journal().nodes.map(n => Number(n.providerId))).toEqual(expect.arrayContaining(madeBeforeKill));
	});

	it("booted like droplets: the image made its own host keys, user_data installed swarmbee's, then swarmbee replaced it by one made on the node", async () => {
		const recorded = journal();
		for (const node of recorded.nodes) {
			const id = container(node.name);
			expect(dockerIn(id, 'cat /var/lib/swarmbee/first-boot.done')).toMatch(/^\d{4}-\d\d-\d\dT/);
			expect(dockerIn(id, 'test -s /var/lib/cloud/instance/boot-finished && echo yes')).toBe('yes');
			expect(dockerIn(id, 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub').split(' ')[1]).toBe(
				node.hostKey.fingerprint,
			);
			// The key user_data carried, which the metadata service keeps serving (the emulator keeps it
			// in /var/lib/cloud/user-data), is no longer the one sshd answers with, nor one swarmbee accepts.
			const given = readFileSync(path.join(home, 'clusters', name, 'keys', 'hosts', node.name), 'utf8').trim();
			expect(dockerIn(id, 'cat /var/lib/cloud/user-data')).toContain(given.split('\n')[1]);
			const givenFingerprint = execFileSync(
				'ssh-keygen',
				['-lf', path.join(home, 'clusters', name, 'keys', 'hosts', `${node.name}.pub`)],
				{encoding: 'utf8'},
			).split(' ')[1];
			expect(node.hostKey.fingerprint).not.toBe(givenFingerprint);
			expect(node.hostKey.rotatedAt).toEqual(expect.any(String));
			expect(node).not.toHaveProperty('nextHostKey');
			expect(dockerIn(id, 'ls /etc/ssh/ssh_host_ed25519_key.next 2>/dev/null || echo none')).toBe('none');
			// The image made its own keys at first boot (ssh-keygen -A): the RSA one is still its own.
			expect(dockerIn(id, 'test -s /etc/ssh/ssh_host_rsa_key && echo yes')).toBe('yes');
			expect(dockerIn(id, 'hostname')).toBe(node.name);
			expect(node.providerId).toMatch(/^\d+$/);
		}
		expect(recorded.infra?.ids).toMatchObject({tag: `swarmbee-${name}`});
		expect(Object.keys(recorded.infra!.ids).sort()).toEqual(['firewall', 'sshKey', 'sshKeyFingerprint', 'tag', 'vpc']);
	});

	it("status is ready, with the droplets' public and private addresses", async () => {
		const status = await run(['status', name, '--once', '--json']);
		expect(status.exitCode).toBe(0);
		const parsed = JSON.parse(status.stdout) as ClusterStatus;
		expect(parsed.swarm).toEqual({managers: 1, workers: 2, ready: 3});
		expect(parsed.rethinkdb).toEqual({connected: 3, expected: 3, missing: [], issues: [], tables: []});
		const vpc = emulator.vpcs.get(journal().infra!.ids['vpc']!)!;
		for (const node of parsed.nodes) {
			expect(node.state).toBe('ready');
			expect(node.privateAddress?.startsWith(vpc.ip_range.split('.').slice(0, 2).join('.'))).toBe(true);
		}
	});

	it("fail2ban bans a droplet's SSH guesser; swarmbee, whose key the node accepts, goes on", async () => {
		const queenbee = container('queenbee');
		const address = journal().nodes[0]!.publicAddress!;
		const image = execFileSync('docker', ['inspect', '--format', '{{.Config.Image}}', queenbee], {
			encoding: 'utf8',
		}).trim();
		const intruder = execFileSync(
			'docker',
			[
				'run',
				'--rm',
				'--network',
				`swarmbee-${name}-public`,
				'--entrypoint',
				'sh',
				image,
				'-c',
				`ssh-keygen -q -t ed25519 -N '' -f /tmp/intruder
for i in $(seq 6); do timeout 8 ssh -i /tmp/intruder -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=4 root@${address} true >/dev/null 2>&1; done
hostname -I | cut -d' ' -f1`,
			],
			{encoding: 'utf8'},
		).trim();
		let banned: string[] = [];
		for (let attempt = 0; attempt < 20 && !banned.includes(intruder); attempt++) {
			banned = (/Banned IP list:\s*(.*)/.exec(dockerIn(queenbee, 'fail2ban-client status sshd'))?.[1] ?? '').split(
				/\s+/,
			);
			if (!banned.includes(intruder)) await sleep(1_000);
		}
		try {
			expect(banned).toContain(intruder);
			expect((await run(['status', name, '--once', '--json'])).exitCode).toBe(0);
		} finally {
			dockerIn(queenbee, `fail2ban-client set sshd unbanip ${intruder} >/dev/null 2>&1 || true`);
		}
	});

	it('up again changes nothing and creates nothing', async () => {
		const posts = emulator.count({method: 'POST'});
		const result = await run(['up', name, '--json']);
		expect(result.exitCode).toBe(0);
		expect(events(result.stdout).at(-1)).toMatchObject({
			type: 'run-finished',
			changed: false,
			summary: 'nothing changed',
		});
		// Only the idempotent tag create is asked again.
		expect(emulator.count({method: 'POST'}) - posts).toBe(1);
		expect(emulator.count({method: 'POST', path: '/v2/tags'})).toBeGreaterThanOrEqual(2);
	});

	it('down leaves zero resources in the emulator and no container, network or volume', async () => {
		const result = await run(['down', name, '--yes']);
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toContain(`removed 3 droplets, 1 firewall, 1 SSH key, 5 tags of cluster ${name}`);
		expect(result.stdout).toContain(
			`nothing tagged swarmbee-${name}, and no firewall or SSH key named swarmbee-${name} remains`,
		);
		expect(emulator.resources()).toEqual({droplets: [], firewalls: [], sshKeys: [], tags: [], vpcs: []});
		await emulator.settled();
		expect(labelled(name)).toEqual(nothing);
		const jsonOut = await run(['ls', '--json']);
		expect(JSON.parse(jsonOut.stdout).clusters).toContainEqual(expect.objectContaining({name, state: 'down'}));
	});

	it('the token appears in no output, journal, spec, log or key file, nor in any request path or query', () => {
		const texts = [...outputs.flatMap(o => [o.stdout, o.stderr]), ...filesUnder(home).map(f => f.text)];
		expect(texts.length).toBeGreaterThan(10);
		for (const text of texts) expect(text).not.toContain(token);
		// It reached the API as a bearer token on every request, and nothing else carried it.
		expect(emulator.count({status: 401})).toBe(0);
		expect(emulator.requests.some(r => r.query.includes(token) || r.path.includes(token))).toBe(false);
	});
});
