import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import r from 'rethinkdb';
import {afterAll, beforeAll, expect, it} from 'vitest';
import type {ClusterStatus} from '../../source/cluster/status.js';
import type {TunnelStatus} from '../../source/tunnel/types.js';
import {cli, describeWithEngine, dockerIn, labelled, newHome, purge, spawnCli, standinImage, uniqueName} from './helpers.js';

/**
 * RethinkDB across the hosts, with the test stand-in (no RethinkDB server
 * can run on these machines: see test/fixtures/rethinkdb-standin/README.md).
 * What this proves of swarmbee: the stack (one pinned dnsrr server per node,
 * joined over the overlay), health through an SSH forward, the tunnel and its
 * reconnects, nothing reachable from the public side, and scale both ways.
 */

async function freePort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	const port = (server.address() as net.AddressInfo).port;
	await new Promise(resolve => server.close(resolve));
	return port;
}

async function status(name: string, home: string): Promise<ClusterStatus> {
	const result = await cli(['status', name, '--once', '--json'], home);
	return JSON.parse(result.stdout) as ClusterStatus;
}

describeWithEngine('RethinkDB on every node (with the stand-in), its tunnel, and scale', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-rdb');
	let image: string;
	let password: string;

	beforeAll(async () => {
		image = await standinImage();
	});
	afterAll(() => {
		purge(name);
		remove();
	});

	it('a 1+3 cluster (three managers) reports 4 of 4 servers connected', async () => {
		const result = await cli(['up', name, '--workers', '3', '--managers', '3', '--rethinkdb-image', image, '--yes', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toMatch(/✔ RethinkDB \([^)]+\): 4 of 4 servers connected/);
		const now = await status(name, home);
		expect(now.rethinkdb).toEqual({connected: 4, expected: 4, missing: [], issues: []});
		// --managers 3: workerbee-1 and workerbee-2 joined as managers.
		expect(now.swarm).toEqual({managers: 3, workers: 1, ready: 4});
		expect(now.nodes.map(n => n.role)).toEqual(['manager', 'manager', 'manager', 'worker']);
		password = readFileSync(path.join(home, 'clusters', name, 'keys', 'rethinkdb-admin-password'), 'utf8').trim();
		const stack = (await cli(['stack', name], home)).stdout;
		expect(stack).toContain('endpoint_mode: "dnsrr"');
		expect(stack).not.toContain(password);
	});

	it('nothing of the database is reachable from the public network', () => {
		const nodeImage = execFileSync('docker', ['inspect', '--format', '{{.Config.Image}}', `swarmbee-${name}-queenbee`], {encoding: 'utf8'}).trim();
		// For every node: its public address, and the addresses its database task has on the
		// node's own bridges, which a neighbour could try to route to through the node.
		const plan = ['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3'].map(node => {
			const container = `swarmbee-${name}-${node}`;
			const via = execFileSync('docker', ['inspect', '--format', `{{(index .NetworkSettings.Networks "swarmbee-${name}-public").IPAddress}}`, container], {encoding: 'utf8'}).trim();
			const inner = dockerIn(container, "docker network inspect docker_gwbridge --format '{{range .Containers}}{{.IPv4Address}} {{end}}'").split(/\s+/).filter(Boolean).map(a => a.split('/')[0]!);
			expect(inner.length).toBeGreaterThan(0);
			return {via, targets: [via, ...inner]};
		});
		const script = `
import json, socket, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
def probe(target):
    address, port = target
    s = socket.socket(); s.settimeout(2)
    try:
        s.connect((address, port)); return f'OPEN {address}:{port}'
    except OSError:
        return None
    finally:
        s.close()
for hop in json.loads(sys.argv[1]):
    subprocess.run(['ip', 'route', 'replace', '172.16.0.0/12', 'via', hop['via']], check=True)
    with ThreadPoolExecutor(32) as pool:
        for found in pool.map(probe, [(t, p) for t in hop['targets'] for p in (8080, 28015, 29015)]):
            if found: print(found, 'via', hop['via'])
print('done')
`;
		const output = execFileSync('docker', ['run', '--rm', '--cap-add', 'NET_ADMIN', '--network', `swarmbee-${name}-public`, '--entrypoint', 'python3', nodeImage, '-c', script, JSON.stringify(plan)], {encoding: 'utf8'});
		expect(output.trim()).toBe('done');
	});

	it('the tunnel reaches the admin panel and the driver port, and reopens within 10 s after sshd restarts', async () => {
		const adminPort = await freePort();
		const driverPort = await freePort();
		const child = spawnCli(['tunnel', name, '--admin-port', String(adminPort), '--driver-port', String(driverPort), '--json'], home);
		const updates: Array<{at: string; tunnels: TunnelStatus[]}> = [];
		let buffer = '';
		child.stdout!.on('data', (chunk: Buffer) => {
			buffer += chunk.toString();
			const lines = buffer.split('\n');
			buffer = lines.pop() ?? '';
			for (const line of lines) if (line.startsWith('{')) updates.push(JSON.parse(line));
		});
		const until = async (what: () => boolean, timeoutMs: number) => {
			const deadline = Date.now() + timeoutMs;
			while (!what()) {
				if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(updates.at(-1))}`);
				await sleep(50);
			}
		};
		try {
			await until(() => updates.at(-1)?.tunnels[0]?.state === 'open', 60_000);
			const page = await (await fetch(`http://127.0.0.1:${adminPort}/`)).text();
			expect(page).toContain('stand-in');
			expect(page).toContain('Servers: 4 connected');

			const connection = await r.connect({host: '127.0.0.1', port: driverPort, user: 'admin', password});
			expect(await r.db('rethinkdb').table('server_status').count().run(connection)).toBe(4);
			await connection.close();

			// Restart sshd on the tunnelled node, hard: the tunnel's session dies with it.
			const node = updates.at(-1)!.tunnels[0]!.target.node!;
			const before = updates.length;
			const restarted = Date.now();
			dockerIn(`swarmbee-${name}-${node}`, 'pkill -x sshd; sleep 0.2; /usr/sbin/sshd');
			await until(() => updates.slice(before).some(u => u.tunnels[0]?.state === 'reconnecting'), 20_000);
			await until(() => updates.slice(before).some(u => u.tunnels[0]?.state === 'open'), 10_000);
			const reopenedIn = Date.now() - restarted;
			expect(reopenedIn).toBeLessThan(10_000);
			expect(await (await fetch(`http://127.0.0.1:${adminPort}/`)).text()).toContain('Servers: 4 connected');
		} finally {
			child.kill('SIGINT');
			await child;
		}
	});

	it('scale --workers 4 adds a node and its server: 5 of 5 connected', async () => {
		const result = await cli(['scale', name, '--workers', '4', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		const now = await status(name, home);
		expect(now.nodes.map(n => n.name)).toEqual(['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3', 'workerbee-4']);
		expect(now.swarm).toEqual({managers: 3, workers: 2, ready: 5});
		expect(now.rethinkdb).toMatchObject({connected: 5, expected: 5, missing: []});
	});

	it('scale --workers 2 removes the last nodes: 3 of 3 connected, no orphaned node', async () => {
		const result = await cli(['scale', name, '--workers', '2', '--yes', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		const now = await status(name, home);
		expect(now.nodes.map(n => n.name)).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
		expect(now.swarm).toEqual({managers: 3, workers: 0, ready: 3});
		expect(now.rethinkdb).toMatchObject({connected: 3, expected: 3, missing: []});
		expect(labelled(name).containers).toEqual([`swarmbee-${name}-queenbee`, `swarmbee-${name}-workerbee-1`, `swarmbee-${name}-workerbee-2`]);
		expect(labelled(name).volumes).toHaveLength(3);
		const members = dockerIn(`swarmbee-${name}-queenbee`, "docker node ls --format '{{.Hostname}}'").split('\n').sort();
		expect(members).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
		const services = dockerIn(`swarmbee-${name}-queenbee`, "docker service ls --format '{{.Name}}'").split('\n').sort();
		expect(services).toEqual(['swarmbee_rdb-queenbee', 'swarmbee_rdb-workerbee-1', 'swarmbee_rdb-workerbee-2']);
	});

	it('cleans up', async () => {
		expect((await cli(['down', name, '--yes'], home)).exitCode).toBe(0);
	});
});
