import {existsSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import path from 'node:path';
import {InputError} from '../errors.js';
import {writeFileAtomic} from '../files.js';
import type {KeyAndCertificate} from './certificate-authority.js';
import {certificateFacts, daysLeft, type CertificateFacts} from './tls.js';

/**
 * A cluster's TLS files on this machine, in its keys folder (0700; every
 * key 0600):
 *
 *     keys/tls/ca.pem              the CA's certificate (public: clients trust it)
 *     keys/tls/ca.key              the CA's key: never leaves this machine
 *     keys/tls/ca-previous.pem     the CA being replaced, while `certs rotate --ca` runs
 *     keys/tls/servers/NODE.pem    each database server's certificate
 *     keys/tls/servers/NODE.key    and its key (it reaches that server only, as a Swarm secret)
 *
 * What the servers run with is the journal's (`database.tls`): these are
 * what swarmbee hands them next.
 */
export interface TlsFiles {
	dir: string;
	caCert: string;
	caKey: string;
	previousCaCert: string;
	serversDir: string;
}

export function tlsFiles(dir: string): TlsFiles {
	return {
		dir,
		caCert: path.join(dir, 'ca.pem'),
		caKey: path.join(dir, 'ca.key'),
		previousCaCert: path.join(dir, 'ca-previous.pem'),
		serversDir: path.join(dir, 'servers'),
	};
}

function serverFiles(files: TlsFiles, node: string): {cert: string; key: string} {
	return {cert: path.join(files.serversDir, `${node}.pem`), key: path.join(files.serversDir, `${node}.key`)};
}

function readIfThere(file: string): string | undefined {
	return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** The CA, or undefined before one was made; half of one (a key without its certificate) is damage, never replaced. */
export function readAuthority(files: TlsFiles): KeyAndCertificate | undefined {
	const cert = readIfThere(files.caCert);
	const key = readIfThere(files.caKey);
	if (cert === undefined && key === undefined) return undefined;
	if (cert === undefined || key === undefined || cert.trim() === '' || key.trim() === '') {
		const missing = cert === undefined || cert.trim() === '' ? files.caCert : files.caKey;
		throw new InputError(`the cluster's CA is incomplete: ${missing} is missing or empty`, {
			hint: "the database servers trust this CA; swarmbee will not make a new one over it, as the servers' certificates would no longer match.",
			nextSteps: [
				`restore ${missing} from a copy`,
				'or make a new CA and new certificates for every server: swarmbee certs NAME rotate --ca (needs the old CA to stay trusted meanwhile: restore it first if you can)',
			],
		});
	}
	return {cert, key};
}

/** The CA, made now when the cluster has none (the first deploy of a TLS cluster). */
export async function ensureAuthority(
	files: TlsFiles,
	cluster: string,
): Promise<{authority: KeyAndCertificate; created: boolean}> {
	const existing = readAuthority(files);
	if (existing) return {authority: existing, created: false};
	const {createAuthority} = await import('./certificate-authority.js');
	const authority = createAuthority(cluster);
	// The key first: a certificate without its key would read as damage.
	writeFileAtomic(files.caKey, authority.key, 0o600);
	writeFileAtomic(files.caCert, authority.cert, 0o644);
	return {authority, created: true};
}

/** The CAs servers and clients trust now: the CA, and during `rotate --ca` the one it replaces. */
export function trustedBundle(files: TlsFiles): string {
	const current = readIfThere(files.caCert);
	if (current === undefined) throw new InputError(`the cluster's CA certificate is missing (${files.caCert})`);
	const previous = readIfThere(files.previousCaCert);
	return previous ? `${current.trimEnd()}\n${previous.trimEnd()}\n` : current;
}

export function readServerCertificate(files: TlsFiles, node: string): KeyAndCertificate | undefined {
	const where = serverFiles(files, node);
	const cert = readIfThere(where.cert);
	const key = readIfThere(where.key);
	if (cert === undefined || key === undefined) return undefined;
	return {cert, key};
}

export function writeServerCertificate(files: TlsFiles, node: string, pair: KeyAndCertificate): void {
	const where = serverFiles(files, node);
	writeFileAtomic(where.key, pair.key, 0o600);
	writeFileAtomic(where.cert, pair.cert, 0o644);
}

/** Forgets a server's files (its node left the cluster). */
export function removeServerCertificate(files: TlsFiles, node: string): void {
	const where = serverFiles(files, node);
	rmSync(where.cert, {force: true});
	rmSync(where.key, {force: true});
}

/** Issues a certificate for each node that has none (a new cluster, a node added by `scale`); says which. */
export async function ensureServerCertificates(
	files: TlsFiles,
	cluster: string,
	authority: KeyAndCertificate,
	nodes: readonly string[],
): Promise<string[]> {
	const missing = nodes.filter(node => !readServerCertificate(files, node));
	if (missing.length === 0) return [];
	const {issueServerCertificate} = await import('./certificate-authority.js');
	for (const node of missing) writeServerCertificate(files, node, issueServerCertificate(authority, cluster, node));
	return missing;
}

/** The nodes that have a certificate on this machine. */
export function certifiedNodes(files: TlsFiles): string[] {
	if (!existsSync(files.serversDir)) return [];
	return readdirSync(files.serversDir)
		.filter(name => name.endsWith('.pem'))
		.map(name => name.slice(0, -'.pem'.length))
		.sort();
}

/** One certificate as `certs` and the dashboard list it. */
export interface CertificateEntry extends CertificateFacts {
	/** `ca`, `previous ca`, or the node whose server it is. */
	name: string;
	kind: 'ca' | 'server';
	/** Whole days until it ends (negative once it has). */
	daysLeft: number;
}

/** Every certificate kept for the cluster, CA first; empty for a cluster without TLS files. */
export function listCertificates(files: TlsFiles, now = new Date()): CertificateEntry[] {
	const entries: CertificateEntry[] = [];
	const add = (name: string, kind: CertificateEntry['kind'], pem: string | undefined) => {
		if (!pem) return;
		const facts = certificateFacts(pem);
		entries.push({name, kind, ...facts, daysLeft: daysLeft(facts.notAfter, now)});
	};
	add('ca', 'ca', readIfThere(files.caCert));
	add('previous ca', 'ca', readIfThere(files.previousCaCert));
	for (const node of certifiedNodes(files)) add(node, 'server', readServerCertificate(files, node)?.cert);
	return entries;
}
