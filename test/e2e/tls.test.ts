import {execFile, execFileSync} from 'node:child_process';
import {readdirSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {promisify} from 'node:util';
import r from 'rethinkdb';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {issueServerCertificate, createAuthority} from '../../source/database/certificate-authority.js';
import {connectDriver} from '../../source/database/rethinkdb.js';
import {shq} from '../../source/shell.js';
import type {Journal} from '../../source/store/journal.js';
import {clusterPassword, openTunnel, pinTable, status} from './database.js';
import {cli, describeWithEngine, dockerIn, newHome, purge, rethinkdbImage, uniqueName} from './helpers.js';
import {describeWrites, startWriter, verifyWrites} from './live-writer.js';

/**
 * TLS for the database (issue 24), with the real RethinkDB 2.4.4 on a local
 * 1+2: a cluster made with `--tls` runs every server with cluster and driver
 * TLS from the CA swarmbee made; a driver through `swarmbee tunnel` connects
 * with that CA and a plain one is refused; from the nodes, openssl sees the
 * certificates and the cluster port's refusals; a capture between servers
 * holds none of the rows written; `certs rotate` replaces every server's
 * certificate under a live writer with no acknowledged write lost.
 */

const run = promisify(execFile);

describeWithEngine('TLS for the database: a CA per cluster, encrypted server and client traffic, rotation', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-tls');
	const container = (node: string) => `swarmbee-${name}-${node}`;
	const tlsDir = () => path.join(home, 'clusters', name, 'keys', 'tls');
	let image: string;
	let password: string;
	let ca: string;

	/** Runs `script` in the network namespace of `node`'s database server (its overlays' interfaces), on that node. */
	const inServerNetwork = (node: string, script: string) =>
		`nsenter -t $(docker inspect -f '{{.State.Pid}}' $(docker ps -q --filter label=com.docker.swarm.service.name=swarmbee_rdb-${node})) -n sh -c ${shq(script)}`;
	/** The serial (hex, upper case) a server's driver port presents, asked with openssl from its node. */
	const servedSerial = (node: string) =>
		dockerIn(
			container(node),
			inServerNetwork(
				node,
				'echo | timeout 10 openssl s_client -connect 127.0.0.1:28015 -CAfile /tmp/swarmbee-ca.pem 2>/dev/null | openssl x509 -noout -serial',
			),
		).replace(/^serial=/, '');

	beforeAll(async () => {
		image = await rethinkdbImage();
	});
	afterAll(async () => {
		await cli(['down', name, '--yes', '--plain'], home).catch(() => {});
		purge(name);
		remove();
	});

	it('up --tls on a 1+2: the CA and a certificate per server are made here, keys 0600, no key in the journal, the stack or a process list', async () => {
		const result = await cli(
			['up', name, '--workers', '2', '--tls', '--rethinkdb-image', image, '--yes', '--plain'],
			home,
		);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toContain("made the cluster's CA");
		expect(result.stdout).toMatch(/✔ RethinkDB \([^)]+\): 3 of 3 servers connected/);
		password = clusterPassword(home, name);
		ca = readFileSync(path.join(tlsDir(), 'ca.pem'), 'utf8');
		expect((await cli(['ca', name], home)).stdout.trim()).toBe(ca.trim());
		// Every key file 0600, in folders 0700.
		for (const file of ['ca.key', 'servers/queenbee.key', 'servers/workerbee-1.key', 'servers/workerbee-2.key'])
			expect((statSync(path.join(tlsDir(), file)).mode & 0o777).toString(8)).toBe('600');
		expect((statSync(tlsDir()).mode & 0o777).toString(8)).toBe('700');
		const keys = [
			readFileSync(path.join(tlsDir(), 'ca.key'), 'utf8'),
			...['queenbee', 'workerbee-1', 'workerbee-2'].map(n =>
				readFileSync(path.join(tlsDir(), 'servers', `${n}.key`), 'utf8'),
			),
		].map(pem => pem.split('\n')[3]!);
		const journalText = readFileSync(path.join(home, 'clusters', name, 'journal.json'), 'utf8');
		const stack = (await cli(['stack', name], home)).stdout;
		const processes = execFileSync('ps', ['-eo', 'args'], {encoding: 'utf8'});
		for (const text of [journalText, stack, processes, result.stdout]) {
			expect(text).not.toContain('PRIVATE KEY');
			for (const line of keys) expect(text).not.toContain(line);
		}
		// The servers run with both: their own command lines, as the database reports them.
		const journal = JSON.parse(journalText) as Journal;
		expect(Object.keys(journal.database!.tls!.servers).sort()).toEqual(['queenbee', 'workerbee-1', 'workerbee-2']);
		expect(stack).toContain('--cluster-tls-ca /run/secrets/rethinkdb-tls-ca.pem');
		expect(stack).toContain('--driver-tls-cert /run/secrets/rethinkdb-tls-cert.pem');
		// The CA key never reaches a node: the only TLS secrets are the CA's certificate and each server's pair.
		const secrets = dockerIn(container('queenbee'), "docker secret ls --format '{{.Name}}'").split('\n').sort();
		expect(secrets.filter(s => s.startsWith('swarmbee_tls_')).map(s => s.replace(/_[0-9a-f]{12}$/, ''))).toEqual(
			[
				'swarmbee_tls_ca',
				'swarmbee_tls_queenbee_cert',
				'swarmbee_tls_queenbee_key',
				'swarmbee_tls_workerbee-1_cert',
				'swarmbee_tls_workerbee-1_key',
				'swarmbee_tls_workerbee-2_cert',
				'swarmbee_tls_workerbee-2_key',
			].sort(),
		);
		// swarmbee's own connections (status) speak TLS with the CA.
		const said = await status(name, home);
		expect(said.rethinkdb).toMatchObject({connected: 3, expected: 3, missing: []});
		expect(said.tls).toEqual({cluster: true, driver: true});
		for (const node of ['queenbee', 'workerbee-1', 'workerbee-2'])
			execFileSync('docker', ['exec', '-i', container(node), 'sh', '-c', 'cat > /tmp/swarmbee-ca.pem'], {input: ca});
	});

	describe('through the tunnel', () => {
		let tunnel: Awaited<ReturnType<typeof openTunnel>>;
		const connectTls = () =>
			connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password, timeoutSeconds: 10, tls: {ca}});
		beforeAll(async () => {
			tunnel = await openTunnel(name, home);
		});
		afterAll(async () => {
			await tunnel?.close();
		});

		it('a driver with the cluster CA connects and queries; a plain-text one and one trusting another CA are refused', async () => {
			const connection = await connectTls();
			expect(await r.db('rethinkdb').table('server_status').count().run(connection)).toBe(3);
			await connection.close();
			await expect(
				connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password, timeoutSeconds: 5}),
			).rejects.toThrow();
			const stranger = createAuthority('stranger').cert;
			await expect(
				connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password, timeoutSeconds: 5, tls: {ca: stranger}}),
			).rejects.toThrow(/self-signed|unable to verify|certificate/i);
		});

		it('openssl from the nodes: the driver port presents the server certificate; the cluster port refuses a peer without a certificate or with another CA, and speaks to one of the cluster CA', async () => {
			const connection = await connectTls();
			const peers = (await (
				await r
					.db('rethinkdb')
					.table('server_status')
					.pluck('name', {network: ['canonical_addresses']} as never)
					.run(connection)
			).toArray()) as Array<{name: string; network: {canonical_addresses: Array<{host: string}>}}>;
			await connection.close();
			const workerbee1 = peers.find(p => p.name === 'workerbee_1')!.network.canonical_addresses[0]!.host;
			const driver = dockerIn(
				container('queenbee'),
				inServerNetwork(
					'queenbee',
					'echo | timeout 10 openssl s_client -connect 127.0.0.1:28015 -CAfile /tmp/swarmbee-ca.pem 2>&1',
				),
			);
			expect(driver).toMatch(/subject=CN ?= ?queenbee/);
			expect(driver).toContain('Verify return code: 0 (ok)');
			// A member's certificate, made by the cluster's CA (as swarmbee makes them), and a stranger's.
			const member = issueServerCertificate(
				{cert: ca, key: readFileSync(path.join(tlsDir(), 'ca.key'), 'utf8')},
				name,
				'probe',
			);
			const q = container('queenbee');
			execFileSync('docker', ['exec', '-i', q, 'sh', '-c', 'umask 077; cat > /tmp/member.pem'], {
				input: member.cert + member.key,
			});
			dockerIn(
				q,
				'cd /tmp && openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=stranger -keyout stranger.pem -out stranger.crt -days 1 2>/dev/null && cat stranger.crt >> stranger.pem',
			);
			const dial = (extra: string) =>
				dockerIn(
					q,
					inServerNetwork(
						'queenbee',
						`(sleep 3) | timeout 10 openssl s_client -quiet -connect ${workerbee1}:29015 -CAfile /tmp/swarmbee-ca.pem ${extra} 2>&1 | head -c 2000; true`,
					),
				);
			const bare = dial('');
			expect(bare).toMatch(/certificate required/);
			expect(bare).not.toContain('RethinkDB cluster');
			const stranger = dial('-cert /tmp/stranger.pem');
			expect(stranger).toMatch(/unknown ca/);
			expect(stranger).not.toContain('RethinkDB cluster');
			// The control: with a certificate of the cluster's CA the same dial reaches RethinkDB's cluster handshake.
			expect(dial('-cert /tmp/member.pem')).toContain('RethinkDB cluster');
			dockerIn(q, 'rm -f /tmp/member.pem /tmp/stranger.pem /tmp/stranger.crt');
			// The cluster still counts its own three servers.
			expect((await status(name, home)).rethinkdb).toMatchObject({connected: 3, expected: 3});
		});

		it('a capture on a server while rows carrying a marker are replicated holds cluster traffic and no marker', async () => {
			const marker = `swarmbee-marker-${Math.random().toString(36).slice(2)}`;
			const connection = await connectTls();
			await r.dbCreate('cap').run(connection);
			await r
				.db('cap')
				.tableCreate('rows', {replicas: 3} as never)
				.run(connection);
			await r.db('cap').table('rows').wait().run(connection);
			// Every packet on every interface of queenbee's server for 20 s: bytes to or from port 29015, and packets holding the marker.
			const capture = `
import json, socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3)); s.settimeout(0.5)
marker = sys.argv[1].encode(); end = time.time() + 20; cluster = 0; hits = 0; packets = 0
while time.time() < end:
    try: p = s.recv(65535)
    except socket.timeout: continue
    packets += 1
    if marker in p: hits += 1
    if len(p) > 34 and p[12:14] == b'\\x08\\x00' and p[23] == 6:
        t = 14 + (p[14] & 15) * 4
        if 29015 in struct.unpack('!HH', p[t:t + 4]): cluster += len(p)
print(json.dumps({'packets': packets, 'cluster': cluster, 'hits': hits}))
`;
			const captured = run('docker', [
				'exec',
				container('queenbee'),
				'sh',
				'-c',
				inServerNetwork('queenbee', `python3 -c ${shq(capture)} ${marker}`),
			]);
			await new Promise(resolve => setTimeout(resolve, 3_000));
			for (let i = 0; i < 20; i++)
				await r
					.db('cap')
					.table('rows')
					.insert(
						Array.from({length: 50}, (_, n) => ({n: i * 50 + n, text: `${marker} row ${i * 50 + n}`})),
						{
							durability: 'hard',
						} as never,
					)
					.run(connection);
			const seen = JSON.parse((await captured).stdout) as {packets: number; cluster: number; hits: number};
			console.log(`capture on queenbee's server, 20 s, 1,000 rows written: ${JSON.stringify(seen)}`);
			expect(await r.db('cap').table('rows').count().run(connection)).toBe(1000);
			await connection.close();
			// 1,000 rows of about 60 bytes went to two other replicas: well over 60 kB crossed port 29015.
			expect(seen.cluster).toBeGreaterThan(60_000);
			expect(seen.hits).toBe(0);
		});

		it('certs rotate under a live writer: every acknowledged row kept, the serial every server presents changed, the gaps printed', async () => {
			const before = Object.fromEntries(['queenbee', 'workerbee-1', 'workerbee-2'].map(n => [n, servedSerial(n)]));
			const setup = await connectTls();
			await r.dbCreate('app').run(setup);
			await r
				.db('app')
				.tableCreate('spread', {replicas: 3} as never)
				.run(setup);
			await r.db('app').tableCreate('pinned').run(setup);
			await pinTable(setup, 'app', 'pinned', 'workerbee_2');
			await r.db('app').table('spread').wait().run(setup);
			await setup.close();
			const writer = startWriter({connect: connectTls, db: 'app', tables: ['spread', 'pinned'], sampleStatus: true});
			await writer.advance(20);
			const rotated = await cli(['certs', name, 'rotate', '--plain'], home);
			await writer.advance(20, 120_000);
			const report = await writer.stop();
			console.log(`certs rotate under the writer:\n${rotated.stdout}\n${describeWrites(report)}`);
			expect(rotated.stderr).toBe('');
			expect(rotated.exitCode).toBe(0);
			expect(rotated.stdout).toMatch(/✔ Rotate server certificates \([^)]+\): 3 server certificates replaced/);
			const verified = await verifyWrites(connectTls, report);
			console.log(
				`read back: ${JSON.stringify({acked: verified.acked, found: verified.found, lost: verified.lost.length})}`,
			);
			expect(verified.acked).toBeGreaterThan(40);
			expect(verified.lost).toEqual([]);
			expect(verified.found).toBe(verified.acked);
			// Each server presents a new certificate, and `certs` lists the serials it presents.
			const listed = (await cli(['certs', name, '--json'], home)).stdout;
			for (const node of ['queenbee', 'workerbee-1', 'workerbee-2']) {
				const after = servedSerial(node);
				expect(after).toMatch(/^[0-9A-F]+$/);
				expect(after).not.toBe(before[node]);
				expect(listed).toContain(after.toLowerCase());
			}
			// The old certificates' secrets are gone; the keys on this machine stay 0600.
			const secrets = dockerIn(container('queenbee'), "docker secret ls --format '{{.Name}}'").split('\n');
			expect(secrets.filter(s => s.startsWith('swarmbee_tls_'))).toHaveLength(7);
			for (const file of readdirSync(path.join(tlsDir(), 'servers')).filter(f => f.endsWith('.key')))
				expect((statSync(path.join(tlsDir(), 'servers', file)).mode & 0o777).toString(8)).toBe('600');
			// A second up leaves the rotated servers as they are.
			const again = await cli(['up', name, '--yes', '--plain'], home);
			expect(again.exitCode).toBe(0);
			expect(again.stdout).toMatch(/✔ RethinkDB \([^)]+\): 3 of 3 servers connected, unchanged/);
		});
	});
});
