import {generateKeyPairSync, randomBytes} from 'node:crypto';
import forge from 'node-forge';
import {serverNames} from './tls.js';

/**
 * The cluster's certificate authority and the certificates it issues, made
 * with node-forge (X.509 building and signing; no ASN.1 written here) over
 * keys Node's own crypto generates. RSA throughout: forge signs only with
 * RSA keys, and RethinkDB's default ciphers (EECDH+AESGCM) take RSA
 * certificates with an ephemeral ECDH exchange.
 *
 * Only this file loads node-forge: reading a certificate (status, the
 * dashboard) uses Node's X509Certificate (tls.ts).
 */

/** A private key and its certificate, both PEM. */
export interface KeyAndCertificate {
	key: string;
	cert: string;
}

/** The CA signs for ten years; it never leaves this machine, and `certs rotate --ca` replaces it. */
export const CA_DAYS = 3650;
/** A server's certificate: two years, and the dashboard warns 30 days before its end. */
export const SERVER_DAYS = 730;
/** Certificates start a little in the past, so a node whose clock is behind this machine's accepts them. */
const BACKDATE_MS = 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

function rsaKey(bits: number): {privatePem: string; publicPem: string} {
	const {privateKey, publicKey} = generateKeyPairSync('rsa', {
		modulusLength: bits,
		publicKeyEncoding: {type: 'spki', format: 'pem'},
		privateKeyEncoding: {type: 'pkcs8', format: 'pem'},
	});
	return {privatePem: privateKey, publicPem: publicKey};
}

/** 16 random bytes as hex, the top bit clear: a positive serial (RFC 5280 §4.1.2.2), never reused. */
function randomSerial(): string {
	const bytes = randomBytes(16);
	bytes[0] = bytes[0]! & 0x7f;
	return bytes.toString('hex');
}

function validity(cert: forge.pki.Certificate, now: Date, days: number): void {
	cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
	cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
}

/**
 * A new CA for a cluster: RSA-3072, ten years, allowed to sign server
 * certificates only (path length 0). Its name carries the date and part of
 * its serial, so the old and the new CA of a rotation never share a name.
 */
export function createAuthority(cluster: string, now = new Date()): KeyAndCertificate {
	const {privatePem, publicPem} = rsaKey(3072);
	const cert = forge.pki.createCertificate();
	cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
	cert.serialNumber = randomSerial();
	validity(cert, now, CA_DAYS);
	const subject = [
		{
			name: 'commonName',
			value: `swarmbee ${cluster} CA ${now.toISOString().slice(0, 10)} ${cert.serialNumber.slice(0, 8)}`,
		},
		{name: 'organizationName', value: 'swarmbee'},
	];
	cert.setSubject(subject);
	cert.setIssuer(subject);
	cert.setExtensions([
		{name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true},
		{name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true},
		{name: 'subjectKeyIdentifier'},
	]);
	cert.sign(forge.pki.privateKeyFromPem(privatePem), forge.md.sha256.create());
	return {key: privatePem, cert: forge.pki.certificateToPem(cert)};
}

/**
 * A database server's certificate, signed by the cluster's CA: RSA-2048, two
 * years, good for both ends of a connection (RethinkDB presents the same
 * certificate when it dials a peer and when it answers one or a driver).
 * RethinkDB checks only that a peer's certificate comes from the CA; the
 * names (serverNames) are for drivers, which check the host they dialled:
 * the server's names on the overlays, and localhost/127.0.0.1 for a tunnel.
 */
export function issueServerCertificate(
	authority: KeyAndCertificate,
	cluster: string,
	node: string,
	now = new Date(),
): KeyAndCertificate {
	const ca = forge.pki.certificateFromPem(authority.cert);
	const {privatePem, publicPem} = rsaKey(2048);
	const cert = forge.pki.createCertificate();
	cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
	cert.serialNumber = randomSerial();
	validity(cert, now, SERVER_DAYS);
	cert.setSubject([
		{name: 'commonName', value: node},
		{name: 'organizationName', value: `swarmbee ${cluster}`},
	]);
	cert.setIssuer(ca.subject.attributes);
	const names = serverNames(node);
	cert.setExtensions([
		{name: 'basicConstraints', cA: false, critical: true},
		{name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
		{name: 'extKeyUsage', serverAuth: true, clientAuth: true},
		{
			name: 'subjectAltName',
			altNames: [...names.dns.map(value => ({type: 2, value})), ...names.ips.map(ip => ({type: 7, ip}))],
		},
		{name: 'subjectKeyIdentifier'},
		{name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes()},
	]);
	cert.sign(forge.pki.privateKeyFromPem(authority.key), forge.md.sha256.create());
	return {key: privatePem, cert: forge.pki.certificateToPem(cert)};
}
