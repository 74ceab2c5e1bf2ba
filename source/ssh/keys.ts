import {createHash} from 'node:crypto';
import path from 'node:path';
import ssh2 from 'ssh2';
import {ExternalError, InputError} from '../errors.js';
import {readStateFile, writeFileAtomic} from '../files.js';

export interface KeyPair {
	/** OpenSSH private key text. */
	privateKey: string;
	/** One `ssh-ed25519 AAAA… comment` line. */
	publicKey: string;
}

/**
 * A fresh ed25519 pair. ssh2 1.17's generator writes the 32-byte public key
 * as a 31-byte one when its first byte is zero (about one pair in 256), and
 * neither half of such a pair parses again: for a 1+50 cluster that would be
 * one broken host key in six runs. So every pair is read back before it is
 * used, and a malformed one is replaced.
 */
export function generateKeyPair(comment: string): KeyPair {
	for (let attempt = 1; ; attempt++) {
		const pair = ssh2.utils.generateKeyPairSync('ed25519', {comment});
		const candidate = {privateKey: pair.private, publicKey: pair.public.trim()};
		if (isUsableKeyPair(candidate)) return candidate;
		if (attempt === 8)
			throw new ExternalError('could not generate a usable ed25519 key pair (ssh2 kept producing malformed keys)');
	}
}

/** True when both halves parse and describe the same key (an ed25519 blob is 51 bytes: two length-prefixed strings, name and 32-byte key). */
export function isUsableKeyPair(pair: KeyPair): boolean {
	try {
		const blob = publicKeyBlob(pair.privateKey);
		return blob.length === 51 && blob.equals(publicKeyBlob(pair.publicKey));
	} catch {
		return false;
	}
}

/** The raw key blob of an OpenSSH public key line. */
export function publicKeyBlob(publicKey: string): Buffer {
	const parsed = ssh2.utils.parseKey(publicKey);
	if (parsed instanceof Error) throw new ExternalError(`not an SSH public key: ${parsed.message}`);
	const key = Array.isArray(parsed) ? parsed[0] : parsed;
	if (!key) throw new ExternalError('not an SSH public key');
	return key.getPublicSSH();
}

/** `SHA256:…` as `ssh-keygen -lf` prints it. */
export function fingerprintOfBlob(blob: Buffer): string {
	return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function fingerprint(publicKey: string): string {
	return fingerprintOfBlob(publicKeyBlob(publicKey));
}

/** The colon-separated MD5 form DigitalOcean uses to name SSH keys. */
export function md5Fingerprint(publicKey: string): string {
	return createHash('md5')
		.update(publicKeyBlob(publicKey))
		.digest('hex')
		.replace(/(..)(?!$)/g, '$1:');
}

/** The one-line public key kept beside a private key file (`file.pub`), if there is one. */
export function readPublicKey(file: string): string | undefined {
	return readStateFile(`${file}.pub`)?.trim();
}

/** A key file that exists but holds no usable key: the file, and that it cannot simply be made again. */
function damagedKey(file: string, what: string): InputError {
	return new InputError(`${file} is not ${what} swarmbee can use (damaged or replaced?)`, {
		hint: "the nodes accept this cluster's key only: a new one would lock swarmbee out of them, so swarmbee makes none.",
		nextSteps: [
			`restore ${path.basename(file)} (and ${path.basename(file)}.pub) from a copy`,
			'or remove the cluster (swarmbee down NAME needs no SSH) and build it anew',
		],
	});
}

/**
 * A private key file, checked: undefined when absent, a clear error naming
 * the file when it holds no key. Private key files are 0600; one open to
 * other users is refused, saying so and how to close it, as ssh refuses it
 * (a key others could read is no longer this user's alone: tightening it
 * without a word would hide that).
 */
export function readPrivateKey(file: string): string | undefined {
	const privateKey = readStateFile(file, {secret: 'an SSH private key'});
	if (privateKey === undefined) return undefined;
	const parsed = ssh2.utils.parseKey(privateKey);
	if (parsed instanceof Error || (Array.isArray(parsed) ? parsed[0] : parsed)?.isPrivateKey() !== true)
		throw damagedKey(file, 'an SSH private key');
	return privateKey;
}

/** The key pair in `file` and `file.pub`, if both are there (and a clear error if they do not belong together). */
export function loadKeyPair(file: string): KeyPair | undefined {
	const publicKey = readPublicKey(file);
	const privateKey = publicKey === undefined ? undefined : readPrivateKey(file);
	if (privateKey === undefined || publicKey === undefined) return undefined;
	const pair = {privateKey, publicKey};
	if (!isUsableKeyPair(pair)) throw damagedKey(`${file}.pub`, 'the public half of its key');
	return pair;
}

export function saveKeyPair(file: string, pair: KeyPair): void {
	writeFileAtomic(file, pair.privateKey, 0o600);
	writeFileAtomic(`${file}.pub`, `${pair.publicKey}\n`, 0o644);
}

/** Reads a key pair from `file` and `file.pub`, or makes and writes one. */
export function ensureKeyPair(file: string, comment: string): {pair: KeyPair; created: boolean} {
	const found = loadKeyPair(file);
	if (found) return {pair: found, created: false};
	const pair = generateKeyPair(comment);
	saveKeyPair(file, pair);
	return {pair, created: true};
}

export function hostKeyFile(hostKeysDir: string, node: string): string {
	return path.join(hostKeysDir, node);
}
