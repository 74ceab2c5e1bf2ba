import {createHash, X509Certificate} from 'node:crypto';
import {PEERS_ALIAS, peerAlias, type ServerTlsSecrets, serviceName, stackServiceName} from './stack.js';

/**
 * TLS for the database, what every part needs to know without making a
 * certificate (that is certificate-authority.ts): the names a server's
 * certificate carries, the Swarm secrets that deliver the files, what a
 * certificate says, and whether the servers run with TLS.
 *
 * Every server runs with cluster TLS (29015: `--cluster-tls-key/-cert/-ca`,
 * mutual: a peer without a certificate from the cluster's CA is refused)
 * and driver TLS (28015: `--driver-tls-key/-cert`; clients check the
 * server against the CA and log in with the password as before).
 */

/**
 * The names a server's certificate is good for, so a driver that checks
 * the host it dialled accepts it: its service on the application overlay
 * (`rdb-queenbee`, also as the stack's `swarmbee_rdb-queenbee`), its names
 * on the database network, and this machine's end of a tunnel
 * (`localhost`, 127.0.0.1). An alias every application may dial belongs
 * here too.
 */
export function serverNames(node: string): {dns: string[]; ips: string[]} {
	return {
		dns: [serviceName(node), stackServiceName(node), peerAlias(node), PEERS_ALIAS, 'localhost'],
		ips: ['127.0.0.1'],
	};
}

function contentHash(content: string): string {
	return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

/**
 * A server's secrets, named by content as the admin password's is (Swarm
 * secrets cannot change in place): new content is a new secret, and the
 * service that names it is the only one that restarts. The key's name
 * carries its certificate's hash, never a hash of the key.
 *
 *     swarmbee_tls_ca_3f9a1c0b7d2e, swarmbee_tls_queenbee_cert_81be…, swarmbee_tls_queenbee_key_81be…
 */
export function serverTlsSecrets(node: string, files: {trusted: string; cert: string}): ServerTlsSecrets {
	const cert = contentHash(files.cert);
	return {
		ca: caSecretName(files.trusted),
		cert: `swarmbee_tls_${node}_cert_${cert}`,
		key: `swarmbee_tls_${node}_key_${cert}`,
	};
}

export function caSecretName(trusted: string): string {
	return `swarmbee_tls_ca_${contentHash(trusted)}`;
}

/** Every secret name swarmbee's TLS uses starts so (the ones no service names any more are removed). */
export const TLS_SECRET_PREFIX = 'swarmbee_tls_';

/** The environment variable an application on the cluster reads the CA's file from. */
export const CA_FILE_VARIABLE = 'RETHINKDB_CA_FILE';
/** Where an application's container finds the CA (its secret's target). */
export const APP_CA_TARGET = 'rethinkdb-ca.pem';

/**
 * The cluster's CA as an application on the cluster gets it (`swarmbee
 * deploy`): a Swarm secret named by its content (the same one the servers
 * trust, so it exists once the database does) mounted at
 * `/run/secrets/rethinkdb-ca.pem`, and `RETHINKDB_CA_FILE` naming that file.
 * Undefined for a cluster whose servers do not run TLS.
 *
 *     const ca = clusterCaForApps(journal);
 *     // service: secrets: [{source: ca.name, target: ca.target}], environment: ca.environment
 *     // the app: r.connect({host: 'rdb-queenbee', port: 28015, password, ssl: {ca: fs.readFileSync(process.env.RETHINKDB_CA_FILE)}})
 */
export function clusterCaForApps(
	journal: {database?: {tls?: {ca: string}}} | undefined,
): {name: string; content: string; target: string; environment: Record<string, string>} | undefined {
	const ca = journal?.database?.tls?.ca;
	if (!ca) return undefined;
	return {
		name: caSecretName(ca),
		content: ca,
		target: APP_CA_TARGET,
		environment: {[CA_FILE_VARIABLE]: `/run/secrets/${APP_CA_TARGET}`},
	};
}

/** The certificates of a PEM bundle, each as its own PEM block. */
export function splitBundle(pem: string): string[] {
	return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map(block => `${block}\n`) ?? [];
}

/** What one certificate says, as `certs` and the dashboard show it. */
export interface CertificateFacts {
	subject: string;
	issuer: string;
	/** Hex, lowercase, as openssl prints it without colons. */
	serial: string;
	notBefore: string;
	notAfter: string;
	/** SHA-256 of the DER, hex with colons. */
	fingerprint: string;
}

export function certificateFacts(pem: string): CertificateFacts {
	const cert = new X509Certificate(pem);
	return {
		subject: oneLine(cert.subject),
		issuer: oneLine(cert.issuer),
		serial: cert.serialNumber.toLowerCase(),
		notBefore: new Date(cert.validFrom).toISOString(),
		notAfter: new Date(cert.validTo).toISOString(),
		fingerprint: cert.fingerprint256,
	};
}

/** Node prints a name one attribute a line: `CN=queenbee, O=swarmbee demo`. */
function oneLine(name: string): string {
	return name.split('\n').filter(Boolean).join(', ');
}

/** Whether `pem` was signed by one of the CAs in `trusted`. */
export function signedByOneOf(pem: string, trusted: string): boolean {
	const cert = new X509Certificate(pem);
	return splitBundle(trusted).some(ca => {
		const authority = new X509Certificate(ca);
		return cert.checkIssued(authority) && cert.verify(authority.publicKey);
	});
}

/** The certificates' end is near under this many days: the dashboard and `certs` warn. */
export const EXPIRY_WARNING_DAYS = 30;

/** Whole days from `now` to `notAfter` (negative once expired). */
export function daysLeft(notAfter: string, now = new Date()): number {
	return Math.floor((Date.parse(notAfter) - now.getTime()) / (24 * 60 * 60 * 1000));
}

/** Whether the servers run with TLS, from their own command lines (`server_status.process.argv`). */
export type TlsState = 'on' | 'off' | 'mixed';

export interface ServersTls {
	/** Cluster connections (29015): every server given --cluster-tls-*. */
	cluster: TlsState;
	/** Client connections (28015): every server given --driver-tls-*. */
	driver: TlsState;
}

function stateOf(flags: boolean[]): TlsState {
	if (flags.length > 0 && flags.every(Boolean)) return 'on';
	return flags.some(Boolean) ? 'mixed' : 'off';
}

/** From each connected server's argv: `on` when every server has the flags, `mixed` during a move. */
export function tlsOfServers(argvs: ReadonlyArray<readonly string[]>): ServersTls | undefined {
	if (argvs.length === 0) return undefined;
	return {
		cluster: stateOf(argvs.map(argv => argv.includes('--cluster-tls-cert') && argv.includes('--cluster-tls-ca'))),
		driver: stateOf(argvs.map(argv => argv.includes('--driver-tls-cert'))),
	};
}
