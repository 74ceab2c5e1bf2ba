import {createPrivateKey, X509Certificate} from 'node:crypto';
import {mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, beforeAll, describe, expect, it} from 'vitest';
import {parse} from 'yaml';
import {
	createAuthority,
	issueServerCertificate,
	type KeyAndCertificate,
} from '../../source/database/certificate-authority.js';
import {renderStackFile, serverScript, type StackInput} from '../../source/database/stack.js';
import {pruneTlsSecretsCommand, serverTlsForDeploy, type TlsMaterial} from '../../source/database/tls-rollout.js';
import {
	ensureAuthority,
	ensureServerCertificates,
	listCertificates,
	readAuthority,
	tlsFiles,
} from '../../source/database/tls-store.js';
import {certificateFacts, serverTlsSecrets, signedByOneOf} from '../../source/database/tls.js';
import {InputError} from '../../source/errors.js';

/** RSA key generation takes a moment: one CA and one server certificate for the whole file. */
let authority: KeyAndCertificate;
let server: KeyAndCertificate;
beforeAll(() => {
	authority = createAuthority('demo');
	server = issueServerCertificate(authority, 'demo', 'workerbee-1');
}, 120_000);

describe('the cluster CA (node-forge)', {timeout: 120_000}, () => {
	it('is a CA limited to signing certificates, valid for ten years', () => {
		const ca = new X509Certificate(authority.cert);
		expect(ca.ca).toBe(true);
		expect(ca.subject).toMatch(/CN=swarmbee demo CA \d{4}-\d{2}-\d{2} [0-9a-f]{8}/);
		expect(ca.verify(ca.publicKey)).toBe(true);
		const years = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / (365 * 24 * 3600 * 1000);
		expect(years).toBeGreaterThan(9.9);
	});

	it("signs a server's certificate, good for its names on the overlays and a tunnel's 127.0.0.1, not a CA itself", () => {
		const cert = new X509Certificate(server.cert);
		expect(cert.ca).toBe(false);
		expect(cert.checkIssued(new X509Certificate(authority.cert))).toBe(true);
		expect(signedByOneOf(server.cert, authority.cert)).toBe(true);
		expect(cert.checkHost('rdb-workerbee-1')).toBe('rdb-workerbee-1');
		expect(cert.checkHost('localhost')).toBe('localhost');
		expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
		expect(cert.checkHost('rdb-queenbee')).toBeUndefined();
		expect(cert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
		// The key is the certificate's.
		expect(cert.checkPrivateKey(createPrivateKey(server.key))).toBe(true);
	});

	it('a certificate from another CA is not vouched for, and every serial is new', () => {
		const other = createAuthority('other');
		const stranger = issueServerCertificate(other, 'other', 'workerbee-1');
		expect(signedByOneOf(stranger.cert, authority.cert)).toBe(false);
		expect(signedByOneOf(stranger.cert, `${authority.cert}${other.cert}`)).toBe(true);
		const again = issueServerCertificate(authority, 'demo', 'workerbee-1');
		expect(certificateFacts(again.cert).serial).not.toBe(certificateFacts(server.cert).serial);
		expect(serverTlsSecrets('workerbee-1', {trusted: authority.cert, cert: again.cert}).cert).not.toBe(
			serverTlsSecrets('workerbee-1', {trusted: authority.cert, cert: server.cert}).cert,
		);
	});
});

describe('the TLS files on this machine', {timeout: 120_000}, () => {
	let dir: string | undefined;
	afterEach(() => {
		if (dir) rmSync(dir, {recursive: true, force: true});
		dir = undefined;
	});

	it('makes the CA once, its key 0600 in a 0700 folder, and a certificate for each server that has none', async () => {
		dir = mkdtempSync(path.join(tmpdir(), 'swarmbee-tls-'));
		const files = tlsFiles(path.join(dir, 'keys', 'tls'));
		const made = await ensureAuthority(files, 'demo');
		expect(made.created).toBe(true);
		expect(statSync(files.caKey).mode & 0o777).toBe(0o600);
		expect(statSync(files.dir).mode & 0o777).toBe(0o700);
		const again = await ensureAuthority(files, 'demo');
		expect(again.created).toBe(false);
		expect(again.authority.cert).toBe(made.authority.cert);
		expect(await ensureServerCertificates(files, 'demo', made.authority, ['queenbee'])).toEqual(['queenbee']);
		expect(await ensureServerCertificates(files, 'demo', made.authority, ['queenbee'])).toEqual([]);
		expect(statSync(path.join(files.serversDir, 'queenbee.key')).mode & 0o777).toBe(0o600);
		expect(listCertificates(files).map(c => [c.name, c.kind, c.daysLeft])).toEqual([
			['ca', 'ca', 3649],
			['queenbee', 'server', 729],
		]);
	});

	it('never makes a new CA over half of one: a key without its certificate is refused with the way out', () => {
		dir = mkdtempSync(path.join(tmpdir(), 'swarmbee-tls-'));
		const files = tlsFiles(dir);
		writeFileSync(files.caKey, authority.key, {mode: 0o600});
		expect(() => readAuthority(files)).toThrow(InputError);
		expect(() => readAuthority(files)).toThrow(/ca\.pem is missing/);
	});
});

describe('servers with TLS in the stack', () => {
	const input: StackInput = {
		cluster: 'demo',
		nodes: ['queenbee', 'workerbee-1'],
		image: 'rethinkdb:2.4.4-bookworm-slim',
		memoryLimitBytes: 450 * 1024 * 1024,
		network: {name: 'swarmbee', subnet: '10.217.40.0/22'},
		databaseNetwork: {name: 'swarmbee-db', subnet: '10.217.44.0/24'},
		secret: 'swarmbee_rethinkdb_admin_0123456789',
	};
	const material = (): TlsMaterial => ({
		trusted: authority.cert,
		servers: {queenbee: server, 'workerbee-1': server},
	});

	it("a plain cluster's script is unchanged; a TLS one runs with cluster TLS (mutual) and driver TLS from its secrets", () => {
		expect(serverScript(450 * 1024 * 1024)).not.toContain('tls');
		const script = serverScript(450 * 1024 * 1024, true);
		for (const flag of [
			'--cluster-tls-key',
			'--cluster-tls-cert',
			'--cluster-tls-ca',
			'--driver-tls-key',
			'--driver-tls-cert',
		])
			expect(script).toContain(`${flag} /run/secrets/rethinkdb-tls-`);
		const {servers} = serverTlsForDeploy({nodes: input.nodes, deployed: undefined, material: material()});
		const stack = parse(renderStackFile({...input, tls: servers!})) as {
			services: Record<string, {secrets: Array<{source: string; target: string; mode: number}>; command: string[]}>;
			secrets: Record<string, {external: boolean}>;
		};
		const queenbee = stack.services['rdb-queenbee']!;
		expect(queenbee.secrets.map(s => [s.target, s.mode])).toEqual([
			['rethinkdb-admin.conf', 0o400],
			['rethinkdb-tls-ca.pem', 0o400],
			['rethinkdb-tls-cert.pem', 0o400],
			['rethinkdb-tls-key.pem', 0o400],
		]);
		expect(queenbee.command[2]).toContain('--cluster-tls-ca');
		expect(Object.keys(stack.secrets)).toHaveLength(1 + 1 + 2 * 2);
		// Never a certificate or key in the stack itself: names only.
		expect(renderStackFile({...input, tls: servers!})).not.toMatch(/-----BEGIN|PRIVATE KEY/);
	});

	it('servers that run keep their secrets on a redeploy; a new one gets its own; an existing plain cluster moves all at once', () => {
		const first = serverTlsForDeploy({nodes: ['queenbee'], deployed: undefined, material: material()});
		const deployed = {
			image: 'x',
			stackHash: 'h',
			secret: 's',
			deployedAt: '',
			tls: {ca: authority.cert, servers: first.servers!},
		};
		const running = {...deployed.tls.servers.queenbee!, cert: 'swarmbee_tls_queenbee_cert_running'};
		const later = serverTlsForDeploy({
			nodes: ['queenbee', 'workerbee-1'],
			deployed: {...deployed, tls: {ca: authority.cert, servers: {queenbee: running}}},
			material: material(),
		});
		expect(later.servers!.queenbee).toEqual(running);
		expect(later.create.map(c => c.name).sort()).toEqual(Object.values(later.servers!['workerbee-1']!).sort());
		expect(later.move).toBeUndefined();
		const plain = {image: 'x', stackHash: 'h', secret: 's', deployedAt: ''};
		expect(serverTlsForDeploy({nodes: ['queenbee'], deployed: plain, material: material()}).move).toBe('to tls');
		expect(serverTlsForDeploy({nodes: ['queenbee'], deployed, material: undefined})).toEqual({
			create: [],
			move: 'to plain',
		});
	});

	it('removes only the TLS secrets no server names', () => {
		const command = pruneTlsSecretsCommand(['swarmbee_tls_ca_1', 'swarmbee_tls_queenbee_cert_2']);
		expect(command).toContain("' swarmbee_tls_ca_1 swarmbee_tls_queenbee_cert_2 '");
		expect(command).toContain('--filter name=swarmbee_tls_');
	});
});
