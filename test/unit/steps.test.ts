import {existsSync, readFileSync, statSync} from 'node:fs';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {APPLIED_FILE, provisionedCheckCommand, ufwSnapshotCommand} from '../../source/nodes/provisioned.js';
import {swapHostKeyCommand} from '../../source/nodes/host-key.js';
import {
	probeFetchCommand,
	probeGuardCommand,
	probeServiceRemoveCommand,
	probeTasksCommand,
} from '../../source/nodes/probe.js';
import {nodeListCommand, swarmInfoCommand, swarmJoinCommand} from '../../source/nodes/swarm.js';
import {ExternalError, InputError} from '../../source/errors.js';
import type {RunEvent} from '../../source/events.js';
import type {Machine} from '../../source/providers/types.js';
import {planNodes} from '../../source/spec.js';
import {fingerprint, generateKeyPair} from '../../source/ssh/keys.js';
import {destroyStep} from '../../steps/destroy.js';
import {keysStep} from '../../steps/keys.js';
import {machinesStep} from '../../steps/machines.js';
import {networkStep} from '../../steps/network.js';
import {preflightStep} from '../../steps/preflight.js';
import {provisionStep} from '../../steps/provision.js';
import {removeNodesStep} from '../../steps/remove-nodes.js';
import {swarmStep} from '../../steps/swarm.js';
import {verifyStep} from '../../steps/verify.js';
import {recordedCluster, recordedIO, type Rule} from './recorder.js';

// The database side of the check before a node goes (what is still on its server) is the real
// RethinkDB's (test/e2e/data-safety.test.ts); here only whether remove-nodes heeds it.
vi.mock('../../source/database/leaving.js', async original => ({
	...(await original<typeof import('../../source/database/leaving.js')>()),
	checkBeforeDelete: vi.fn(async () => {}),
}));

/** Every real step against recorded SSH, Docker and provider: the commands it sends and the events it emits. */

let cleanup: Array<() => void> = [];
afterEach(() => {
	for (const remove of cleanup) remove();
	cleanup = [];
});

function cluster(...args: Parameters<typeof recordedCluster>) {
	const made = recordedCluster(...args);
	cleanup.push(made.remove);
	return made;
}

/** The journal of a 1+1 whose machines run (what the keys and machines steps leave). */
function withNodes(c: ReturnType<typeof cluster>, extra: {swarm?: boolean; provisioned?: boolean} = {}) {
	c.ctx.journal.update(j => {
		j.infra = {privateCidr: '10.9.1.0/24', publicCidr: '10.9.0.0/24', ids: {}};
		j.nodes = planNodes(c.ctx.spec).map(p => ({
			...p,
			state: 'running' as const,
			providerId: `id-${p.name}`,
			publicAddress: `10.9.0.${10 + p.index}`,
			privateAddress: `10.9.1.${10 + p.index}`,
			ssh: {host: `10.9.0.${10 + p.index}`, port: 22, user: 'root'},
			hostKey: {publicKey: 'k', fingerprint: 'SHA256:k'},
			...(extra.swarm ? {swarmNodeId: `swarm-${p.name}`} : {}),
			...(extra.provisioned ? {provision: {at: '', ok: true, logFile: '', recaps: []}} : {}),
		}));
		if (extra.swarm) j.swarm = {clusterId: 'cluster-1', managerAddress: '10.9.1.10'};
	});
}

const members = (status = 'Ready') =>
	['queenbee', 'workerbee-1']
		.map(name =>
			JSON.stringify({
				ID: `swarm-${name}`,
				Hostname: name,
				Status: status,
				Availability: 'Active',
				ManagerStatus: name === 'queenbee' ? 'Leader' : '',
			}),
		)
		.join('\n');

describe('preflight', () => {
	it('asks the provider, then finds the database image on this engine when nodes load it from here', async () => {
		const c = cluster(
			{database: 'rethinkdb'},
			{docker: [{match: 'image inspect rethinkdb:2.4.4-bookworm-slim', reply: JSON.stringify([{Id: 'sha256:db'}])}]},
		);
		const {io, events} = recordedIO();
		const result = await preflightStep.run(c.ctx, io);
		expect(c.provider.calls).toEqual(['preflight']);
		expect(c.docker.commands).toEqual([['image', 'inspect', 'rethinkdb:2.4.4-bookworm-slim']]);
		expect(events.map(e => (e.type === 'step-progress' ? e.message : e.type))).toEqual([
			'engine reachable',
			'database image rethinkdb:2.4.4-bookworm-slim present on this engine',
		]);
		expect(result).toEqual({changed: false, summary: 'engine reachable'});
	});

	it("offline, the official image that cannot be pulled is built from the real server's source folder, and the cluster runs that", async () => {
		const inspected: string[] = [];
		const c = cluster(
			{database: 'rethinkdb'},
			{
				docker: [
					{
						match: /^image inspect /,
						reply: command => {
							const image = command.split(' ').at(-1)!;
							inspected.push(image);
							// Only the base image and what was just built are here.
							if (image === 'debian:bookworm') return JSON.stringify([{Id: 'sha256:base'}]);
							if (image.startsWith('swarmbee-rethinkdb:') && inspected.filter(i => i === image).length > 1)
								return JSON.stringify([{Id: 'sha256:built'}]);
							return {code: 1, stderr: `Error: No such image: ${image}`};
						},
					},
					{
						match: /^pull rethinkdb:2\.4\.4-bookworm-slim$/,
						reply: {code: 1, stderr: 'dial tcp: lookup registry-1.docker.io: no such host'},
					},
					{match: /^buildx version$/, reply: {code: 1, stderr: 'unknown command'}},
					{match: /^build /, reply: 'Successfully built 77e48eaf0474'},
				],
			},
		);
		const {io, events} = recordedIO();
		await preflightStep.run(c.ctx, io);
		expect(c.ctx.spec.rethinkdbImage).toMatch(/^swarmbee-rethinkdb:[0-9a-f]{12}$/);
		const said = events.flatMap(e => (e.type === 'step-progress' ? [e.message] : []));
		expect(said.at(-1)).toMatch(
			/^rethinkdb:2\.4\.4-bookworm-slim cannot be pulled here: RethinkDB 2\.4\.4 built from its source folder \S+ as swarmbee-rethinkdb:[0-9a-f]{12}, which this cluster runs$/,
		);
	});

	it('an image the user named is never replaced: it is refused with the ways out', async () => {
		const c = cluster(
			{database: 'rethinkdb', rethinkdbImage: 'registry.example.com/rethinkdb:2.4.4'},
			{
				docker: [
					{match: /^image inspect /, reply: {code: 1, stderr: 'Error: No such image'}},
					{match: /^pull /, reply: {code: 1, stderr: 'no such host'}},
				],
			},
		);
		const error = await preflightStep.run(c.ctx, recordedIO().io).catch(e => e as InputError);
		expect(error).toBeInstanceOf(InputError);
		expect((error as InputError).message).toBe(
			'registry.example.com/rethinkdb:2.4.4 is not on this Docker engine and could not be pulled',
		);
		expect((error as InputError).nextSteps.join('\n')).toContain('npm run -s rethinkdb-image');
		expect(c.ctx.spec.rethinkdbImage).toBe('registry.example.com/rethinkdb:2.4.4');
	});
});

describe('keys', () => {
	it('writes the cluster key it was handed and a host key per node, 0600; a second run makes none', async () => {
		const c = cluster();
		const {io} = recordedIO();
		expect(existsSync(c.ctx.paths.clusterKey)).toBe(false);
		expect(await keysStep.run(c.ctx, io)).toEqual({changed: true, summary: '3 keys generated'});
		expect(statSync(c.ctx.paths.clusterKey).mode & 0o777).toBe(0o600);
		expect(c.ctx.journal.value.nodes.map(n => [n.name, n.state])).toEqual([
			['queenbee', 'planned'],
			['workerbee-1', 'planned'],
		]);
		expect(c.ctx.journal.value.nodes.every(n => n.hostKey.fingerprint === fingerprint(n.hostKey.publicKey))).toBe(true);
		expect(await keysStep.run(c.ctx, recordedIO().io)).toEqual({changed: false, summary: 'keys in place'});
		expect(c.ssh.commands).toEqual([]);
	});
});

describe('machines', () => {
	it("creates what is missing, records addresses and waits for each node's SSH", async () => {
		const c = cluster();
		await keysStep.run(c.ctx, recordedIO().io);
		const {io, states} = recordedIO();
		const result = await machinesStep.run(c.ctx, io);
		expect(c.provider.calls).toEqual(['ensureInfra', 'listMachines', 'createMachines queenbee workerbee-1']);
		expect(c.ssh.waited.sort()).toEqual(['queenbee', 'workerbee-1']);
		expect(c.ctx.journal.value.nodes.map(n => [n.name, n.state, n.privateAddress])).toEqual([
			['queenbee', 'running', '10.9.1.10'],
			['workerbee-1', 'running', '10.9.1.11'],
		]);
		expect(states('queenbee')).toEqual([
			'queenbee creating',
			'queenbee booting',
			expect.stringMatching(/^queenbee booting: waiting for SSH at \S+:\d+$/),
			expect.stringMatching(/^queenbee running: SSH ok, host key SHA256:/),
		]);
		expect(result).toEqual({changed: true, summary: '2 nodes running (2 created)'});
	});

	it('writes the journal once for every node it creates and once for what came of them, the creating records on disk before the provider is asked', async () => {
		const c = cluster({workers: 3});
		await keysStep.run(c.ctx, recordedIO().io);
		let onDisk: string[] = [];
		const create = c.provider.createMachines.bind(c.provider);
		c.provider.createMachines = async (...args) => {
			onDisk = (
				JSON.parse(readFileSync(c.ctx.journal.file, 'utf8')) as {nodes: Array<{name: string; state: string}>}
			).nodes.map(n => `${n.name} ${n.state}`);
			return create(...args);
		};
		const writes = vi.spyOn(c.ctx.journal, 'update');
		await machinesStep.run(c.ctx, recordedIO().io);
		expect(onDisk).toEqual([
			'queenbee creating',
			'workerbee-1 creating',
			'workerbee-2 creating',
			'workerbee-3 creating',
		]);
		// The infra, the four creating records, the four outcomes.
		expect(writes).toHaveBeenCalledTimes(3);
		expect(c.ctx.journal.value.nodes.map(n => n.state)).toEqual(['running', 'running', 'running', 'running']);
	});

	it('replaces a machine whose creation was cut off, saying it retries', async () => {
		const c = cluster();
		await keysStep.run(c.ctx, recordedIO().io);
		c.provider.machines = [{name: 'workerbee-1', providerId: 'half', status: 'unfinished'}];
		const {io, states} = recordedIO();
		const result = await machinesStep.run(c.ctx, io);
		expect(c.provider.calls).toContain('deleteMachine workerbee-1');
		expect(states('workerbee-1')[0]).toBe('workerbee-1 retrying: replacing a machine whose creation was interrupted');
		expect(result.summary).toBe('2 nodes running (1 created, 1 replaced)');
	});
});

describe("machines: two machines of one node's name", () => {
	const twins = (): Machine[] => [
		{
			name: 'queenbee',
			providerId: '12',
			status: 'running',
			publicAddress: '10.9.0.12',
			privateAddress: '10.9.1.12',
			ssh: {host: '10.9.0.12', port: 22, user: 'root'},
		},
		{
			name: 'queenbee',
			providerId: '7',
			status: 'running',
			publicAddress: '10.9.0.7',
			privateAddress: '10.9.1.7',
			ssh: {host: '10.9.0.7', port: 22, user: 'root'},
		},
	];
	const billed = (c: ReturnType<typeof cluster>) => {
		c.provider.capabilities = {...c.provider.capabilities, billed: {machine: 'droplet', by: 'DigitalOcean'}};
	};
	const warnings = (events: RunEvent[]) => events.flatMap(e => (e.type === 'warning' ? [e.message] : []));

	it('adopts the lowest id when the journal recorded none, and names the other as billed', async () => {
		const c = cluster();
		billed(c);
		await keysStep.run(c.ctx, recordedIO().io);
		c.provider.machines = twins();
		const {io, events} = recordedIO();
		await machinesStep.run(c.ctx, io);
		expect(c.ctx.journal.value.nodes.find(n => n.name === 'queenbee')).toMatchObject({
			providerId: '7',
			privateAddress: '10.9.1.7',
		});
		expect(c.provider.calls.filter(call => call.startsWith('deleteMachine'))).toEqual([]);
		expect(warnings(events)).toEqual([
			'2 droplets are named queenbee: 7 is the node; droplet 12 is not used by swarmbee but is billed by DigitalOcean while it exists: delete it by id, or swarmbee down demo removes everything of the cluster',
		]);
	});

	it('keeps the one the journal recorded, also when it was started again', async () => {
		const c = cluster();
		await keysStep.run(c.ctx, recordedIO().io);
		c.ctx.journal.updateNode('queenbee', r => {
			r.providerId = '12';
		});
		c.provider.machines = twins().map(m => (m.providerId === '12' ? {...m, status: 'stopped'} : m));
		const {io, events} = recordedIO();
		await machinesStep.run(c.ctx, io);
		expect(c.provider.calls).toContain('startMachine queenbee');
		expect(c.ctx.journal.value.nodes.find(n => n.name === 'queenbee')).toMatchObject({
			providerId: '12',
			privateAddress: '10.9.1.12',
		});
		expect(warnings(events)).toEqual([
			expect.stringMatching(/^2 machines are named queenbee: 12 is the node; machine 7 is not used by swarmbee: /),
		]);
	});
});

describe('machines: host keys that came with user_data are replaced', () => {
	/**
	 * A droplet-like cluster: the provider keeps the boot key readable on the
	 * machine. Each node serves `served` (what a real connection's verifier
	 * matches); the swap command makes it serve the key its node made. After
	 * every command the journal on disk must accept what the node serves: a
	 * run cut off there leaves a node whose key swarmbee knows.
	 */
	function droplets() {
		const made = new Map(['queenbee', 'workerbee-1'].map(node => [node, generateKeyPair(node).publicKey]));
		const checks: Array<{after: string; served: string; accepted: string[]}> = [];
		const c = cluster(
			{},
			{
				ssh: [
					{match: 'ssh-keygen -q -t ed25519', reply: (_command, node) => `${made.get(node)}\n`},
					{
						match: 'mv -f /etc/ssh/ssh_host_ed25519_key.next /etc/ssh/ssh_host_ed25519_key',
						reply: (_command, node) => {
							c.ssh.hostKeys.set(node, made.get(node)!);
							// Cut off right here, the node serves a key the journal must already accept.
							checks.push({after: 'the swap', served: made.get(node)!, accepted: onDisk(node)});
							return 'swapped\n';
						},
					},
				],
			},
		);
		c.provider.capabilities = {...c.provider.capabilities, bootHostKeyExposed: true};
		const onDisk = (node: string) => {
			const record = JSON.parse(readFileSync(c.ctx.journal.file, 'utf8')).nodes.find(
				(n: {name: string}) => n.name === node,
			);
			return [record.hostKey.publicKey, ...(record.nextHostKey ? [record.nextHostKey.publicKey] : [])];
		};
		const record = c.ssh.commands.push.bind(c.ssh.commands);
		c.ssh.commands.push = (...items) => {
			const length = record(...items);
			for (const item of items)
				checks.push({after: item.command, served: c.ssh.hostKeys.get(item.node)!, accepted: onDisk(item.node)});
			return length;
		};
		return {c, made, checks, onDisk};
	}

	it("rotates each node's key over the verified connection: made on the node, pinned before the swap, the only one after", async () => {
		const {c, made, checks, onDisk} = droplets();
		await keysStep.run(c.ctx, recordedIO().io);
		// Until the swap the nodes answer with the key swarmbee gave them.
		for (const node of c.ctx.journal.value.nodes) c.ssh.hostKeys.set(node.name, node.hostKey.publicKey);
		const given = c.ctx.journal.value.nodes.map(n => n.hostKey.publicKey);
		const {io, states} = recordedIO();
		await machinesStep.run(c.ctx, io);
		for (const [i, node] of c.ctx.journal.value.nodes.entries()) {
			expect(node.hostKey).toEqual({
				publicKey: made.get(node.name),
				fingerprint: fingerprint(made.get(node.name)!),
				rotatedAt: expect.any(String),
			});
			expect(node.hostKey.publicKey).not.toBe(given[i]);
			expect(node).not.toHaveProperty('nextHostKey');
			expect(onDisk(node.name)).toEqual([made.get(node.name)]);
			expect(c.ssh.on(node.name)).toEqual([
				expect.stringContaining('ssh-keygen'),
				swapHostKeyCommand(made.get(node.name)!),
			]);
		}
		// The connection was opened again after the swap, and had to prove the new key.
		expect(c.ssh.dropped.sort()).toEqual(['queenbee', 'workerbee-1']);
		expect(states('queenbee')).toContain(
			`queenbee booting: host key replaced: ${fingerprint(made.get('queenbee')!)} (made on the node; the one given at first boot is no longer used)`,
		);
		expect(checks.length).toBe(6);
		for (const check of checks) expect(check.accepted, check.after).toContain(check.served);
		// A second run leaves rotated keys alone.
		await machinesStep.run(c.ctx, recordedIO().io);
		expect(c.ssh.commands.length).toBe(4);
	});

	it('cut off after pinning, before the swap: the next run swaps the pinned key in; cut off after the swap: it only promotes it', async () => {
		const {c, made} = droplets();
		await keysStep.run(c.ctx, recordedIO().io);
		c.provider.machines = [];
		await machinesStep.run(c.ctx, recordedIO().io);
		const pinned = {publicKey: made.get('queenbee')!, fingerprint: fingerprint(made.get('queenbee')!)};
		const given = generateKeyPair('given').publicKey;
		// queenbee: pinned, not swapped (serves the key it was given); workerbee-1: swapped, not promoted.
		c.ctx.journal.update(j => {
			j.nodes[0]!.hostKey = {publicKey: given, fingerprint: fingerprint(given)};
			j.nodes[0]!.nextHostKey = pinned;
			j.nodes[1]!.hostKey = {publicKey: given, fingerprint: fingerprint(given)};
			j.nodes[1]!.nextHostKey = {
				publicKey: made.get('workerbee-1')!,
				fingerprint: fingerprint(made.get('workerbee-1')!),
			};
		});
		c.ssh.hostKeys.set('queenbee', given);
		c.ssh.hostKeys.set('workerbee-1', made.get('workerbee-1')!);
		c.ssh.commands.length = 0;
		await machinesStep.run(c.ctx, recordedIO().io);
		expect(c.ssh.on('queenbee')).toEqual([
			expect.stringContaining('ssh-keygen'),
			swapHostKeyCommand(made.get('queenbee')!),
		]);
		expect(c.ssh.on('workerbee-1')).toEqual([]);
		for (const node of c.ctx.journal.value.nodes) {
			expect(node.hostKey.publicKey).toBe(made.get(node.name));
			expect(node.hostKey.rotatedAt).toEqual(expect.any(String));
			expect(node).not.toHaveProperty('nextHostKey');
		}
	});

	it('a machine made anew starts from the key it is given, not the one its predecessor rotated to', async () => {
		const {c} = droplets();
		await keysStep.run(c.ctx, recordedIO().io);
		const given = c.ctx.journal.value.nodes[1]!.hostKey.publicKey;
		c.ctx.journal.update(j => {
			const rotated = generateKeyPair('rotated').publicKey;
			for (const node of j.nodes) {
				node.state = 'running';
				node.hostKey = {publicKey: rotated, fingerprint: fingerprint(rotated), rotatedAt: 'earlier'};
			}
		});
		// workerbee-1 is gone (deleted by hand): it is created again, with its key file's key.
		c.provider.machines = [
			{
				name: 'queenbee',
				providerId: 'id-queenbee',
				status: 'running',
				publicAddress: '10.9.0.10',
				privateAddress: '10.9.1.10',
				ssh: {host: '10.9.0.10', port: 22, user: 'root'},
			},
		];
		c.ssh.hostKeys.set('workerbee-1', given);
		await machinesStep.run(c.ctx, recordedIO().io);
		expect(c.provider.calls).toContain('createMachines workerbee-1');
		// Rotated again at once: the new machine's metadata holds the given key.
		expect(c.ssh.on('workerbee-1')).toEqual([expect.stringContaining('ssh-keygen'), expect.stringContaining('mv -f')]);
		expect(c.ssh.on('queenbee')).toEqual([]);
	});
});

describe('provision', () => {
	const playbookRun = [
		'TASK [Look at the node] ***',
		'ok: [localhost]',
		'PLAY RECAP ***',
		'localhost : ok=6 changed=2 unreachable=0 failed=0 skipped=3',
	].join('\n');
	const fullRun: Rule[] = [
		{match: 'command -v ansible-playbook', reply: 'ansible-playbook present'},
		{match: 'mkdir -p -m 700 /root/.swarmbee/ansible', reply: ''},
		{match: 'ansible-playbook -i localhost,', reply: playbookRun},
		{match: 'rm -rf /root/.swarmbee/ansible', reply: ''},
		{match: '/var/run/reboot-required', reply: 'no'},
		{match: ufwSnapshotCommand, reply: ''},
	];

	it('runs the playbook on a new node, streams it, keeps its recap and records what it applied', async () => {
		const c = cluster({}, {ssh: fullRun});
		withNodes(c);
		const {io, events} = recordedIO([], provisionStep.id);
		const result = await provisionStep.run(c.ctx, io);
		expect(c.ssh.on('queenbee')).toEqual([
			expect.stringContaining('command -v ansible-playbook'),
			expect.stringContaining('mkdir -p -m 700'),
			expect.stringContaining('ansible-playbook -i localhost, -c local -e @vars.json playbook.yml'),
			expect.stringContaining('rm -rf /root/.swarmbee/ansible'),
			expect.stringContaining('reboot-required'),
			// After every playbook, the user's too: the firewall as provisioning left it, for the next look.
			ufwSnapshotCommand,
		]);
		const uploads = c.ssh.uploads.filter(u => u.node === 'queenbee').map(u => u.path);
		expect(uploads).toEqual([
			'/root/.swarmbee/ansible/vars.json',
			'/root/.swarmbee/ansible/playbook.yml',
			APPLIED_FILE,
		]);
		const vars = JSON.parse(c.ssh.uploads.find(u => u.path.endsWith('vars.json'))!.contents);
		expect(vars.swarmbee_ufw_rules).toContain('allow from 10.9.1.0/24 to any port 4789 proto udp');
		// Published ports: new connections only from the private network.
		expect(vars.swarmbee_docker_user_rules).toContain('-A DOCKER-USER -s 10.9.1.0/24 -j RETURN');
		expect(vars.swarmbee_sshd_config).toContain('MaxAuthTries 3\n');
		expect(events).toContainEqual(
			expect.objectContaining({
				type: 'node-recap',
				node: 'workerbee-1',
				playbook: 'swarmbee',
				recap: expect.objectContaining({changed: 2}),
			}),
		);
		expect(events).toContainEqual(
			expect.objectContaining({
				type: 'node-output',
				node: 'queenbee',
				step: 'provision',
				line: 'TASK [Look at the node] ***',
			}),
		);
		expect(c.ctx.journal.value.nodes.every(n => n.provision?.ok)).toBe(true);
		expect(result).toEqual({changed: true, summary: '2 nodes provisioned (changed=4)'});
	});

	it('skips the playbook where the record matches and nothing drifted, runs it where ufw drifted, and on every node with --reprovision', async () => {
		const first = cluster({}, {ssh: fullRun});
		withNodes(first);
		await provisionStep.run(first.ctx, recordedIO().io);
		const record = first.ssh.uploads.find(u => u.path === APPLIED_FILE)!.contents.trim();

		const look = (ufw: string): Rule[] => [
			{
				node: 'queenbee',
				match: provisionedCheckCommand,
				reply: `applied=${record}\nufw=as-applied\nfail2ban=running\n`,
			},
			{node: 'workerbee-1', match: provisionedCheckCommand, reply: `applied=${record}\nufw=${ufw}\nfail2ban=running\n`},
		];
		const quiet = cluster({}, {ssh: look('as-applied')});
		withNodes(quiet, {provisioned: true});
		const {io, states} = recordedIO();
		expect(await provisionStep.run(quiet.ctx, io)).toEqual({
			changed: false,
			summary: '2 nodes as provisioned (nothing changed, no drift: playbook not run)',
		});
		expect(quiet.ssh.on()).toEqual([provisionedCheckCommand, provisionedCheckCommand]);
		expect(states()).toContain('queenbee running: as provisioned: nothing changed, no drift (playbook not run)');

		const drifted = cluster({}, {ssh: [...look('changed'), ...fullRun]});
		withNodes(drifted, {provisioned: true});
		const seen = recordedIO();
		const result = await provisionStep.run(drifted.ctx, seen.io);
		expect(seen.states('workerbee-1')[0]).toBe(
			'workerbee-1 provisioning: provisioning again: ufw no longer shows the rules applied (changed by hand?)',
		);
		expect(drifted.ssh.on('queenbee')).toEqual([provisionedCheckCommand]);
		expect(drifted.ssh.on('workerbee-1')).toContainEqual(expect.stringContaining('ansible-playbook -i localhost,'));
		expect(result.summary).toBe('1 nodes provisioned (changed=2, 1 as provisioned, not run)');

		const forced = cluster({}, {ssh: fullRun});
		withNodes(forced, {provisioned: true});
		forced.ctx.options = {reprovision: true};
		await provisionStep.run(forced.ctx, recordedIO().io);
		expect(forced.ssh.on().filter(command => command.includes('ansible-playbook -i'))).toHaveLength(2);
		expect(forced.ssh.on()).not.toContain(provisionedCheckCommand);
	});
});

describe('swarm', () => {
	it("initialises on queenbee's private address, joins the worker with the token on stdin, waits for Ready", async () => {
		const info = (state: string, id: string) =>
			JSON.stringify({
				LocalNodeState: state,
				NodeID: id,
				ControlAvailable: state === 'active' && id === 'swarm-queenbee',
				Cluster: state === 'active' ? {ID: 'cluster-1'} : null,
			});
		const c = cluster(
			{},
			{
				ssh: [
					{node: 'queenbee', match: swarmInfoCommand, reply: info('inactive', ''), once: true},
					{node: 'queenbee', match: 'docker swarm init', reply: ''},
					{node: 'queenbee', match: swarmInfoCommand, reply: info('active', 'swarm-queenbee')},
					{node: 'queenbee', match: 'join-token -q worker', reply: 'SWMTKN-worker\n'},
					{node: 'queenbee', match: 'join-token -q manager', reply: 'SWMTKN-manager\n'},
					{node: 'workerbee-1', match: swarmInfoCommand, reply: info('inactive', ''), once: true},
					{node: 'workerbee-1', match: '/swarm/join', reply: ''},
					{node: 'workerbee-1', match: swarmInfoCommand, reply: info('active', 'swarm-workerbee-1')},
					{node: 'queenbee', match: nodeListCommand, reply: members()},
				],
			},
		);
		withNodes(c);
		const {io, states} = recordedIO();
		const result = await swarmStep.run(c.ctx, io);
		expect(c.ssh.on('queenbee')).toContain(
			'docker swarm init --advertise-addr 10.9.1.10 --listen-addr 10.9.1.10:2377 --data-path-addr 10.9.1.10',
		);
		const join = c.ssh.commands.find(r => r.command === swarmJoinCommand)!;
		expect(join.node).toBe('workerbee-1');
		expect(JSON.parse(join.stdin!)).toMatchObject({
			JoinToken: 'SWMTKN-worker',
			RemoteAddrs: ['10.9.1.10:2377'],
			AdvertiseAddr: '10.9.1.11',
		});
		expect(join.command).not.toContain('SWMTKN');
		expect(c.ctx.journal.value.nodes.map(n => n.swarmNodeId)).toEqual(['swarm-queenbee', 'swarm-workerbee-1']);
		expect(states()).toEqual([
			'queenbee joining: swarm init',
			'workerbee-1 joining: joining as worker',
			'queenbee ready: manager',
			'workerbee-1 ready: worker',
		]);
		expect(result).toEqual({
			changed: true,
			summary: '2 nodes in the swarm (1 manager): initialised on queenbee, 1 joined',
		});
	});
});

describe('network', () => {
	it("creates the overlay on a subnet clear of the nodes' networks, once", async () => {
		const c = cluster(
			{},
			{
				ssh: [
					{match: 'docker network inspect', reply: ''},
					{match: 'docker network create --driver overlay', reply: 'id\n'},
				],
			},
		);
		withNodes(c, {swarm: true});
		const result = await networkStep.run(c.ctx, recordedIO().io);
		const create = c.ssh.on('queenbee').find(command => command.includes('network create'))!;
		const subnet = c.ctx.journal.value.swarm!.overlay!.subnet;
		expect(create).toBe(
			`docker network create --driver overlay --attachable --subnet ${subnet} --label swarmbee.network=overlay swarmbee`,
		);
		expect(subnet).not.toMatch(/^10\.9\./);
		expect(result).toEqual({changed: true, summary: `swarmbee created (${subnet})`});
	});
});

describe('verify', () => {
	const probeImage = /image inspect (--format \{\{\.Id\}\} )?swarmbee-probe:/;
	const probe: Rule[] = [
		{node: 'queenbee', match: nodeListCommand, reply: members()},
		{match: /docker image inspect --format .*swarmbee-probe:/, reply: 'sha256:probe\n'},
		{node: 'queenbee', match: probeServiceRemoveCommand, reply: ''},
		{node: 'queenbee', match: "trap '' HUP INT PIPE; cat", reply: ''},
		{node: 'queenbee', match: 'docker service create', reply: ''},
		{
			node: 'queenbee',
			match: probeTasksCommand,
			reply: ['a', 'b']
				.map(() => JSON.stringify({Name: 'p', Node: 'n', CurrentState: 'Running 1 second ago', Error: ''}))
				.join('\n'),
		},
		{match: probeFetchCommand(), reply: '10.0.9.2 queenbee\n10.0.9.3 workerbee-1\n'},
	];

	it('proves traffic between every pair over the overlay, and removes its probe', async () => {
		const c = cluster(
			{},
			{
				ssh: probe,
				docker: [
					{match: probeImage, reply: JSON.stringify([{Id: 'sha256:probe'}])},
					{match: 'image inspect', reply: JSON.stringify([{Id: 'sha256:base'}])},
				],
			},
		);
		withNodes(c, {swarm: true});
		const {io, states} = recordedIO();
		const result = await verifyStep.run(c.ctx, io);
		expect(result).toEqual({
			changed: false,
			summary: '2 nodes Ready; 4 node-to-node requests over the overlay answered',
		});
		expect(c.ssh.on('workerbee-1')).toEqual([expect.stringContaining('docker image inspect'), probeFetchCommand()]);
		expect(c.ssh.on('queenbee').filter(command => command === probeServiceRemoveCommand)).toHaveLength(2);
		// A guard on the manager holds from before the service is made until swarmbee lets go (or dies):
		// it removes the service it was started for, labelled with its run.
		const onManager = c.ssh.on('queenbee');
		const guard = onManager.findIndex(command => command.includes("trap '' HUP INT PIPE; cat"));
		const create = onManager.findIndex(command => command.startsWith('docker service create'));
		expect(guard).toBeGreaterThanOrEqual(0);
		const run = /swarmbee\.probe=([0-9a-f]{8})/.exec(onManager[create]!)![1]!;
		expect(onManager[guard]).toBe(probeGuardCommand(run));
		expect(c.ssh.commands.find(r => r.command === probeGuardCommand(run))?.stdin).toBe('<0 bytes>');
		expect(states()).toContain('workerbee-1 ready: reached all 2 nodes over the overlay');
		expect(c.ctx.journal.value.verifiedAt).toEqual(expect.any(String));
	});

	it('after a run that ended ready, with nothing changed since, checks Ready and says when traffic was proved', async () => {
		const c = cluster({}, {ssh: probe});
		withNodes(c, {swarm: true});
		c.ctx.journal.update(j => {
			j.verifiedAt = '2026-12-01T10:00:00.000Z';
		});
		c.ctx.lastRun = 'ready';
		const result = await verifyStep.run(c.ctx, recordedIO([{step: 'provision', changed: false}]).io);
		expect(c.ssh.on()).toEqual([nodeListCommand]);
		expect(result.summary).toBe(
			'2 nodes Ready; overlay traffic proved 2026-12-01T10:00:00.000Z, nothing changed since (--reprovision proves it again)',
		);
		// Something changed in this run: the probe runs.
		await expect(verifyStep.run(c.ctx, recordedIO([{step: 'provision', changed: true}]).io)).rejects.toThrow(
			/no answer for a docker command/,
		);
	});

	it('fails naming the nodes that are not Ready', async () => {
		const c = cluster({}, {ssh: [{match: nodeListCommand, reply: members('Down')}]});
		withNodes(c, {swarm: true});
		await expect(verifyStep.run(c.ctx, recordedIO().io)).rejects.toThrow(
			'queenbee, workerbee-1 not Ready in the swarm',
		);
	});
});

describe('remove-nodes', () => {
	it('drains the leaving node, lets it leave, removes it from the swarm and deletes its machine', async () => {
		const c = cluster(
			{},
			{
				ssh: [
					{node: 'queenbee', match: nodeListCommand, reply: members(), once: true},
					{node: 'queenbee', match: 'docker node update --availability drain swarm-workerbee-1', reply: ''},
					{node: 'queenbee', match: 'docker node ps swarm-workerbee-1', reply: ''},
					{node: 'workerbee-1', match: 'docker swarm leave --force', reply: ''},
					{node: 'queenbee', match: nodeListCommand, reply: members('Down')},
					{node: 'queenbee', match: 'docker node rm --force swarm-workerbee-1', reply: ''},
				],
			},
		);
		withNodes(c, {swarm: true});
		c.ctx.journal.updateNode('workerbee-1', node => {
			node.state = 'deleting';
		});
		c.provider.machines = [{name: 'workerbee-1', providerId: 'id-workerbee-1', status: 'running'}];
		const {io, states} = recordedIO();
		const result = await removeNodesStep.run(c.ctx, io);
		expect(c.ssh.on()).toEqual([
			nodeListCommand,
			'docker node update --availability drain swarm-workerbee-1',
			expect.stringContaining('docker node ps swarm-workerbee-1'),
			'docker swarm leave --force',
			nodeListCommand,
			'docker node rm --force swarm-workerbee-1',
		]);
		expect(c.ssh.dropped).toEqual(['workerbee-1']);
		expect(c.provider.calls).toEqual(['listMachines', 'deleteMachine workerbee-1']);
		expect(c.ctx.journal.value.nodes.map(n => n.name)).toEqual(['queenbee']);
		expect(states()).toEqual([
			'workerbee-1 deleting: draining',
			'workerbee-1 deleting: leaving the swarm',
			'workerbee-1 deleting: deleting the machine',
			'workerbee-1 deleted',
		]);
		expect(result).toEqual({changed: true, summary: 'removed workerbee-1'});
	});
});

describe('remove-nodes with a database', () => {
	it('asks what is still on the server before draining it; when a table is there, nothing is drained or deleted', async () => {
		const {checkBeforeDelete} = await import('../../source/database/leaving.js');
		const {mkdirSync, writeFileSync} = await import('node:fs');
		const path = await import('node:path');
		const c = cluster({database: 'rethinkdb'}, {ssh: [{node: 'queenbee', match: nodeListCommand, reply: members()}]});
		withNodes(c, {swarm: true});
		mkdirSync(path.dirname(c.ctx.paths.rethinkdbPassword), {recursive: true});
		writeFileSync(c.ctx.paths.rethinkdbPassword, 'pw\n', {mode: 0o600});
		c.ctx.journal.update(j => {
			j.database = {image: 'i', stackHash: 'h', secret: 's', deployedAt: 'now'};
			j.nodes[1]!.state = 'deleting';
		});
		c.provider.machines = [{name: 'workerbee-1', providerId: 'id-workerbee-1', status: 'running'}];
		vi.mocked(checkBeforeDelete).mockRejectedValueOnce(
			new ExternalError('workerbee-1 was not removed: a table is still on its server workerbee_1'),
		);
		await expect(removeNodesStep.run(c.ctx, recordedIO().io)).rejects.toThrow(
			'workerbee-1 was not removed: a table is still on its server workerbee_1',
		);
		expect(c.ssh.on().filter(command => command !== nodeListCommand)).toEqual([]);
		expect(c.provider.calls).toEqual([]);
		expect(c.ctx.journal.value.nodes.map(n => `${n.name} ${n.state}`)).toEqual([
			'queenbee running',
			'workerbee-1 deleting',
		]);
		vi.mocked(checkBeforeDelete).mockClear();
	});
});

describe('destroy (down)', () => {
	it('has the provider remove what is labelled, forgets the nodes, and fails on what remains', async () => {
		const c = cluster();
		withNodes(c, {swarm: true});
		c.ctx.options = {removeForeign: true};
		const result = await destroyStep.run(c.ctx, recordedIO().io);
		expect(c.provider.calls).toEqual(['destroy includeForeign=true']);
		expect(result).toEqual({
			changed: true,
			summary: 'removed 2 containers of cluster demo; nothing labelled swarmbee.cluster=demo remains',
		});
		expect(c.ctx.journal.value.nodes).toEqual([]);
		expect(c.ctx.journal.value.swarm).toBeUndefined();
		expect(c.ssh.commands).toEqual([]);

		c.provider.report = {...c.provider.report, remaining: ['container swarmbee-demo-queenbee']};
		const failed = await destroyStep.run(c.ctx, recordedIO().io).catch((error: unknown) => error);
		expect(failed).toBeInstanceOf(ExternalError);
		expect((failed as Error).message).toBe(
			'removed 2 containers of cluster demo, but some is still there: container swarmbee-demo-queenbee',
		);
	});
});
