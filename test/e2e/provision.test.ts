import {execFileSync} from 'node:child_process';
import {readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {afterAll, beforeAll, expect, it} from 'vitest';
import type {ClusterStatus} from '../../source/cluster/status.js';
import type {RunEvent} from '../../source/events.js';
import {cli, describeWithEngine, dockerIn, events, newHome, purge, uniqueName} from './helpers.js';

type PortState = 'open' | 'refused' | 'filtered';

/**
 * Connects from a throwaway container on one of the cluster's networks (the
 * node image has python3) and reports each port as open, refused or filtered.
 */
function probePorts(cluster: string, network: 'public' | 'private', targets: Array<{address: string; port: number}>): Record<string, PortState> {
	const image = execFileSync('docker', ['inspect', '--format', '{{.Config.Image}}', `swarmbee-${cluster}-queenbee`], {encoding: 'utf8'}).trim();
	const script = `
import json, socket, sys
from concurrent.futures import ThreadPoolExecutor
def probe(target):
    address, port = target
    s = socket.socket(); s.settimeout(3)
    try:
        s.connect((address, port)); state = 'open'
    except ConnectionRefusedError:
        state = 'refused'
    except OSError:
        state = 'filtered'
    finally:
        s.close()
    return f'{address}:{port}', state
with ThreadPoolExecutor(64) as pool:
    print(json.dumps(dict(pool.map(probe, json.loads(sys.argv[1])))))
`;
	const output = execFileSync('docker', [
		'run', '--rm', '--network', `swarmbee-${cluster}-${network}`, '--entrypoint', 'python3', image, '-c', script,
		JSON.stringify(targets.map(t => [t.address, t.port])),
	], {encoding: 'utf8'});
	return JSON.parse(output) as Record<string, PortState>;
}

describeWithEngine('provisioning with Ansible on every node', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-prov');
	let status: ClusterStatus;
	let firstRun: RunEvent[];
	afterAll(() => {
		purge(name);
		remove();
	});

	beforeAll(async () => {
		const result = await cli(['up', name, '--workers', '2', '--database', 'none', '--yes', '--json'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		firstRun = events(result.stdout);
		status = JSON.parse((await cli(['status', name, '--once', '--json'], home)).stdout) as ClusterStatus;
	});

	it('streams every node\'s playbook live and keeps each full log with its PLAY RECAP', () => {
		for (const node of ['queenbee', 'workerbee-1', 'workerbee-2']) {
			const lines = firstRun.filter(e => e.type === 'node-output' && e.node === node).map(e => (e as {line: string}).line);
			expect(lines).toContain('TASK [Install packages] ********************************************************');
			const log = firstRun.find(e => e.type === 'node-log' && e.node === node) as {file: string};
			expect(log.file).toBe(path.join(home, 'clusters', name, 'logs', node, 'provision.log'));
			const text = readFileSync(log.file, 'utf8');
			expect(text).toMatch(/PLAY RECAP \*+\nlocalhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0/);
			const recap = firstRun.find(e => e.type === 'node-recap' && e.node === node) as {recap: {changed: number; failed: number}};
			expect(recap.recap.failed).toBe(0);
			expect(recap.recap.changed).toBeGreaterThan(0);
		}
	});

	it('status --json carries each node\'s provisioning result', () => {
		expect(status.swarm).toEqual({managers: 1, workers: 2, ready: 3});
		for (const node of status.nodes) {
			expect(node.provision).toMatchObject({ok: true, logFile: path.join(home, 'clusters', name, 'logs', node.name, 'provision.log')});
			expect(node.provision!.recaps[0]).toMatchObject({playbook: 'swarmbee', recap: {failed: 0, unreachable: 0}});
		}
	});

	it('from the public network only SSH answers; from the private one Swarm does', () => {
		// A listener on every interface, to show it is the firewall that hides it.
		for (const node of status.nodes) dockerIn(`swarmbee-${name}-${node.name}`, 'nohup python3 -m http.server 8080 >/dev/null 2>&1 &');
		const publicPorts = [22, 2375, 2376, 2377, 7946, 8080, 28015, 29015];
		const seen = probePorts(name, 'public', status.nodes.flatMap(n => publicPorts.map(port => ({address: n.publicAddress!, port}))));
		for (const node of status.nodes) {
			expect(seen[`${node.publicAddress}:22`]).toBe('open');
			for (const port of publicPorts.filter(p => p !== 22)) expect(seen[`${node.publicAddress}:${port}`], `${node.name}:${port}`).not.toBe('open');
			// The listener is there, and filtered: ufw's doing, not an accident.
			expect(seen[`${node.publicAddress}:8080`]).toBe('filtered');
		}
		const manager = status.nodes[0]!;
		const privatePorts = probePorts(name, 'private', [
			{address: manager.privateAddress!, port: 2377},
			...status.nodes.map(n => ({address: n.privateAddress!, port: 7946})),
			...status.nodes.map(n => ({address: n.privateAddress!, port: 8080})),
		]);
		expect(privatePorts[`${manager.privateAddress}:2377`]).toBe('open');
		for (const node of status.nodes) {
			expect(privatePorts[`${node.privateAddress}:7946`]).toBe('open');
			expect(privatePorts[`${node.privateAddress}:8080`]).toBe('filtered');
		}
		for (const node of status.nodes) dockerIn(`swarmbee-${name}-${node.name}`, 'pkill -f "[h]ttp.server 8080" || true');
	});

	it('runs again with changed=0', async () => {
		const result = await cli(['up', name, '--json'], home);
		expect(result.exitCode).toBe(0);
		const recaps = events(result.stdout).filter(e => e.type === 'node-recap') as Array<{node: string; recap: {changed: number; failed: number}}>;
		expect(recaps.map(r => [r.node, r.recap.changed, r.recap.failed]).sort()).toEqual([['queenbee', 0, 0], ['workerbee-1', 0, 0], ['workerbee-2', 0, 0]]);
		expect(events(result.stdout).at(-1)).toMatchObject({type: 'run-finished', changed: false});
	});

	it('a playbook failing on one node fails the step naming the node, the task and the log, while the others finish; one asking for a reboot gets it', async () => {
		const playbook = path.join(home, 'user.yml');
		writeFileSync(playbook, [
			'- hosts: all',
			'  gather_facts: true',
			'  gather_subset: [min]',
			'  tasks:',
			'    - name: Break workerbee-1 on purpose',
			'      when: ansible_hostname == "workerbee-1"',
			'      ansible.builtin.fail: {msg: "workerbee-1 is broken for this test"}',
			'    - name: Leave a mark where it worked',
			'      ansible.builtin.copy: {dest: /etc/swarmbee/user-playbook-ran, content: "yes\\n"}',
			'    - name: Ask for a reboot on workerbee-2',
			'      when: ansible_hostname == "workerbee-2"',
			'      ansible.builtin.copy: {dest: /var/run/reboot-required, content: "test\\n"}',
			'',
		].join('\n'));
		const rebooted = `swarmbee-${name}-workerbee-2`;
		const startedBefore = execFileSync('docker', ['inspect', '--format', '{{.State.StartedAt}}', rebooted], {encoding: 'utf8'}).trim();

		const result = await cli(['up', name, '--playbook', playbook, '--json'], home);
		expect(result.exitCode).toBe(1);
		const logFile = path.join(home, 'clusters', name, 'logs', 'workerbee-1', 'provision.log');
		expect(result.stderr).toContain('provisioning failed on node workerbee-1');
		expect(result.stderr).toContain('playbook user.yml failed on workerbee-1 at task "Break workerbee-1 on purpose"');
		expect(result.stderr).toContain('workerbee-1 is broken for this test');
		expect(result.stderr).toContain(`log: ${logFile}`);
		expect(readFileSync(logFile, 'utf8')).toContain('fatal: [localhost]: FAILED!');

		// The others finished their playbooks.
		for (const node of ['queenbee', 'workerbee-2']) {
			expect(dockerIn(`swarmbee-${name}-${node}`, 'cat /etc/swarmbee/user-playbook-ran')).toBe('yes');
			expect(readFileSync(path.join(home, 'clusters', name, 'logs', node, 'provision.log'), 'utf8')).toMatch(/# playbook user\.yml[\s\S]*PLAY RECAP/);
		}
		// workerbee-2 asked for a reboot, got it through the provider, and came back firewalled.
		const log = events(result.stdout);
		expect(log).toContainEqual(expect.objectContaining({type: 'node-state', node: 'workerbee-2', state: 'booting', detail: 'rebooting (asked by the playbook)'}));
		expect(log.some(e => e.type === 'node-state' && e.node === 'queenbee' && e.detail === 'rebooting (asked by the playbook)')).toBe(false);
		expect(execFileSync('docker', ['inspect', '--format', '{{.State.StartedAt}}', rebooted], {encoding: 'utf8'}).trim()).not.toBe(startedBefore);
		expect(dockerIn(rebooted, 'ufw status | head -n 1')).toBe('Status: active');
		expect(dockerIn(rebooted, 'test -e /var/run/reboot-required && echo still || echo cleared')).toBe('cleared');

		// The swarm is whole again once the rebooted node's engine has rejoined.
		let after = JSON.parse((await cli(['status', name, '--once', '--json'], home)).stdout) as ClusterStatus;
		for (let attempt = 0; attempt < 30 && after.swarm?.ready !== 3; attempt++) {
			await sleep(1_000);
			after = JSON.parse((await cli(['status', name, '--once', '--json'], home)).stdout) as ClusterStatus;
		}
		expect(after.nodes.find(n => n.name === 'workerbee-1')?.provision).toMatchObject({ok: false, logFile});
		expect(after.nodes.find(n => n.name === 'workerbee-2')?.provision).toMatchObject({ok: true, rebootedAt: expect.any(String)});
		expect(after.swarm).toEqual({managers: 1, workers: 2, ready: 3});
	});

	it('cleans up', async () => {
		expect((await cli(['down', name, '--yes'], home)).exitCode).toBe(0);
	});
});
