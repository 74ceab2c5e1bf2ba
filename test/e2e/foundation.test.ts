import {execFileSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {afterAll, expect, it} from 'vitest';
import type {ClusterStatus} from '../../source/cluster/status.js';
import type {Journal} from '../../source/store/journal.js';
import {cli, containerIds, describeWithEngine, dockerIn, events, labelled, newHome, purge, spawnCli, uniqueName} from './helpers.js';

const nothing = {containers: [], networks: [], volumes: []};

describeWithEngine('bad input is refused before anything is created', () => {
	const {home, remove} = newHome();
	afterAll(remove);

	it.each([
		{name: 'Bad_Name', flags: [], code: 2, says: 'is not a valid cluster name'},
		{name: 'e2e-w0', flags: ['--workers', '0'], code: 2, says: 'workers: choose a whole number from 1 to 50'},
		{name: 'e2e-w500', flags: ['--workers', '500'], code: 2, says: 'workers: choose a whole number from 1 to 50'},
		{name: 'e2e-mem', flags: ['--memory-limit', 'lots'], code: 2, says: 'memory-limit: write a number with a unit'},
		{name: 'e2e-fit', flags: ['--memory-limit', '1g'], code: 2, says: 'does not fit on s-1vcpu-1gb'},
		{name: 'e2e-size', flags: ['--size', 'm-64vcpu'], code: 2, says: 'is not a local node size'},
	])('$name $flags', async ({name, flags, code, says}) => {
		const result = await cli(['up', name, ...flags, '--yes'], home);
		expect(result.exitCode).toBe(code);
		expect(result.stderr).toContain(says);
		expect(labelled(name)).toEqual(nothing);
		expect(existsSync(path.join(home, 'clusters', name))).toBe(false);
	});

	it('no Docker engine', async () => {
		const result = await cli(['up', 'e2e-noengine', '--yes'], home, {DOCKER_HOST: 'unix:///tmp/swarmbee-no-such-engine.sock'});
		expect(result.exitCode).toBe(1);
		expect(result.stderr).toContain('no Docker engine is reachable');
		expect(result.stderr).toContain('DOCKER_HOST');
		expect(existsSync(path.join(home, 'clusters', 'e2e-noengine'))).toBe(false);
	});

	it('a name already used by another cluster\'s containers', async () => {
		const name = uniqueName('e2e-taken');
		// Someone else's cluster: same name, another owner.
		execFileSync('docker', ['create', '--name', `swarmbee-${name}-queenbee`, '--label', `swarmbee.cluster=${name}`, '--label', 'swarmbee.owner=somebody-else', 'debian:bookworm', 'true']);
		try {
			const before = labelled(name);
			const result = await cli(['up', name, '--workers', '1', '--yes'], home);
			expect(result.exitCode).toBe(2);
			expect(result.stderr).toContain(`the name "${name}" is already used on this Docker engine by another cluster`);
			expect(result.stderr).toContain('choose another name');
			expect(labelled(name)).toEqual(before);
			expect(existsSync(path.join(home, 'clusters', name))).toBe(false);
		} finally {
			purge(name);
		}
	});
});

describeWithEngine('a 1+2 cluster on the local provider', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-life');
	afterAll(() => {
		purge(name);
		remove();
	});

	it('comes up Ready and proves cross-host traffic', async () => {
		const result = await cli(['up', name, '--workers', '2', '--database', 'none', '--yes', '--json'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		const log = events(result.stdout);
		expect(log.at(-1)).toMatchObject({type: 'run-finished', changed: true});
		const verify = log.find(e => e.type === 'step-finished' && e.step === 'verify');
		expect(verify).toMatchObject({summary: '3 nodes Ready; 9 node-to-node requests over the overlay answered'});

		const status = await cli(['status', name, '--once', '--json'], home);
		expect(status.exitCode).toBe(0);
		const parsed = JSON.parse(status.stdout) as ClusterStatus;
		expect(parsed.nodes.map(n => [n.name, n.role, n.state])).toEqual([
			['queenbee', 'manager', 'ready'],
			['workerbee-1', 'worker', 'ready'],
			['workerbee-2', 'worker', 'ready'],
		]);
		expect(parsed.swarm).toEqual({managers: 1, workers: 2, ready: 3});
		for (const node of parsed.nodes) {
			expect(node.publicAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
			expect(node.privateAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
			expect(node.privateAddress).not.toBe(node.publicAddress);
		}
	});

	it('carries traffic across hosts on the overlay (checked independently of verify)', async () => {
		const queenbee = `swarmbee-${name}-queenbee`;
		const worker = `swarmbee-${name}-workerbee-2`;
		const probe = dockerIn(queenbee, "docker images swarmbee-probe --format '{{.Repository}}:{{.Tag}}' | head -n 1");
		expect(probe).toMatch(/^swarmbee-probe:/);
		dockerIn(queenbee, `docker run -d --name xhost-a --network swarmbee ${probe} sh -c 'echo from-queenbee > /www/index.html; exec httpd -f -p 8000 -h /www'`);
		try {
			let answer = '';
			for (let attempt = 0; attempt < 20 && answer !== 'from-queenbee'; attempt++) {
				try {
					answer = dockerIn(worker, `docker run --rm --network swarmbee ${probe} wget -qO- http://xhost-a:8000/`);
				} catch {
					await sleep(1_000);
				}
			}
			expect(answer).toBe('from-queenbee');
		} finally {
			dockerIn(queenbee, 'docker rm -f xhost-a >/dev/null');
		}
	});

	it('changes nothing when run again, and says so', async () => {
		const before = containerIds(name);
		const journalBefore = JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
		const result = await cli(['up', name, '--json'], home);
		expect(result.exitCode).toBe(0);
		const log = events(result.stdout);
		expect(log.at(-1)).toMatchObject({type: 'run-finished', changed: false, summary: 'nothing changed'});
		expect(log.filter(e => e.type === 'step-finished' && e.changed)).toEqual([]);
		expect(containerIds(name)).toEqual(before);
		const journalAfter = JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
		expect(journalAfter.nodes.map(n => n.swarmNodeId)).toEqual(journalBefore.nodes.map(n => n.swarmNodeId));
		const plain = await cli(['up', name, '--plain'], home);
		expect(plain.stdout).toContain('3 nodes running, none changed');
		expect(plain.stdout).toContain('nothing changed');
	});

	it('refuses a node whose host key is not the one swarmbee installed', async () => {
		const node = `swarmbee-${name}-workerbee-1`;
		const journalFile = path.join(home, 'clusters', name, 'journal.json');
		const installed = (JSON.parse(readFileSync(journalFile, 'utf8')) as Journal).nodes.find(n => n.name === 'workerbee-1')!.hostKey.fingerprint;
		// Simulate another machine answering at workerbee-1's address.
		dockerIn(node, "rm -f /tmp/k /tmp/k.pub && ssh-keygen -q -t ed25519 -N '' -f /tmp/k && cp /tmp/k /etc/ssh/ssh_host_ed25519_key && cp /tmp/k.pub /etc/ssh/ssh_host_ed25519_key.pub && kill -HUP $(cat /run/sshd.pid)");
		await sleep(500);
		const result = await cli(['up', name, '--plain'], home);
		expect(result.exitCode).toBe(1);
		expect(result.stderr).toContain('workerbee-1');
		expect(result.stderr).toContain('offered host key SHA256:');
		expect(result.stderr).toContain(`but swarmbee installed ${installed}`);
		expect(result.stderr).toContain('swarmbee refuses to connect');
		const after = (JSON.parse(readFileSync(journalFile, 'utf8')) as Journal).nodes.find(n => n.name === 'workerbee-1')!.hostKey.fingerprint;
		expect(after).toBe(installed);
	});

	it('down removes every container, network and volume with the label', async () => {
		const result = await cli(['down', name, '--yes'], home);
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toContain('removed 3 containers, 2 networks, 3 volumes');
		expect(result.stdout).toContain(`nothing labelled swarmbee.cluster=${name} remains`);
		expect(labelled(name)).toEqual(nothing);
		const ls = JSON.parse((await cli(['ls', '--json'], home)).stdout) as {clusters: Array<{name: string; state: string}>};
		expect(ls.clusters).toContainEqual(expect.objectContaining({name, state: 'down'}));
	});
});

describeWithEngine('interrupting up during machine creation', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-kill');
	afterAll(() => {
		purge(name);
		remove();
	});

	/** Starts `up --json` and sends `signal` when the first event matching `when` arrives. */
	async function interrupt(signal: NodeJS.Signals, when: (e: {type: string; state?: string}) => boolean) {
		const child = spawnCli(['up', name, '--workers', '2', '--managers', '3', '--database', 'none', '--yes', '--json'], home);
		let buffer = '';
		let sent = false;
		child.stdout!.on('data', (chunk: Buffer) => {
			buffer += chunk.toString();
			const lines = buffer.split('\n');
			buffer = lines.pop() ?? '';
			for (const line of lines) {
				if (!sent && line.startsWith('{') && when(JSON.parse(line))) {
					sent = true;
					child.kill(signal);
				}
			}
		});
		const result = await child;
		expect(sent).toBe(true);
		return result;
	}

	it('Ctrl-C saves the journal and prints how to resume', async () => {
		const result = await interrupt('SIGINT', e => e.type === 'node-state' && e.state === 'creating');
		expect(result.exitCode).toBe(130);
		expect(String(result.stdout)).toContain(`"resume":"swarmbee up ${name}"`);
		const journal = JSON.parse(readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8')) as Journal;
		expect(journal.state).toBe('cancelled');
	});

	it('a SIGKILL mid-creation, then up again: exactly the planned nodes, no duplicates, no orphans', async () => {
		const killed = await interrupt('SIGKILL', e => e.type === 'node-state' && e.state === 'booting');
		expect(killed.signal).toBe('SIGKILL');

		const result = await cli(['up', name, '--json'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		const found = labelled(name);
		expect(found.containers).toEqual([`swarmbee-${name}-queenbee`, `swarmbee-${name}-workerbee-1`, `swarmbee-${name}-workerbee-2`]);
		expect(found.volumes).toEqual([`swarmbee-${name}-queenbee-docker`, `swarmbee-${name}-workerbee-1-docker`, `swarmbee-${name}-workerbee-2-docker`]);
		expect(found.networks).toEqual([`swarmbee-${name}-private`, `swarmbee-${name}-public`]);
		const status = JSON.parse((await cli(['status', name, '--once', '--json'], home)).stdout) as ClusterStatus;
		expect(status.swarm).toEqual({managers: 3, workers: 0, ready: 3});
		expect(status.nodes.every(n => n.state === 'ready')).toBe(true);
		// No stale swarm members left by replaced machines.
		const members = dockerIn(`swarmbee-${name}-queenbee`, "docker node ls --format '{{.Hostname}}'").split('\n').sort();
		expect(members).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
	});

	it('cleans up', async () => {
		expect((await cli(['down', name, '--yes'], home)).exitCode).toBe(0);
		expect(labelled(name)).toEqual(nothing);
		expect(readdirSync(path.join(home, 'clusters', name, 'keys'))).toEqual(['id_ed25519', 'id_ed25519.pub']);
	});
});
