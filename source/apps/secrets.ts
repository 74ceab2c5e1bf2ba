import {createHmac, randomBytes} from 'node:crypto';
import {existsSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {InputError} from '../errors.js';
import {writeFileAtomic} from '../files.js';
import {registerSecret} from '../redact.js';
import {SECRET_LIMIT_BYTES} from './names.js';

/**
 * An app secret's value: read from a file or standard input (never argv),
 * checked against Swarm's limit, and named by a keyed hash of its content
 * (so a new value is a new Swarm secret, the same value the same one, and
 * the name tells nothing about a short value: the key stays on this
 * machine, 0600, beside the cluster's other keys).
 */

/** The cluster's key for secret names (made once, 32 random bytes, 0600). */
export function secretNameKey(keysDir: string): Buffer {
	const file = path.join(keysDir, 'app-secret-names.key');
	if (existsSync(file)) {
		const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
		if (key.length >= 16) return key;
	}
	const key = randomBytes(32);
	writeFileAtomic(file, `${key.toString('base64')}\n`, 0o600);
	return key;
}

/** The 12 hex digits in a secret's name: HMAC-SHA256 of app, key and value. */
export function contentHash(nameKey: Buffer, app: string, key: string, value: Buffer): string {
	return createHmac('sha256', nameKey).update(`${app}\0${key}\0`).update(value).digest('hex').slice(0, 12);
}

/** Refuses a value Swarm would refuse (over 500 KB) or one that is empty, before anything is sent. */
export function checkSecretValue(value: Buffer, from: string): Buffer {
	if (value.length === 0)
		throw new InputError(`the value from ${from} is empty`, {
			nextSteps: ['give the value on standard input (printf %s "$VALUE" | swarmbee secret …) or --from-file FILE'],
		});
	if (value.length > SECRET_LIMIT_BYTES)
		throw new InputError(
			`the value from ${from} is ${value.length} bytes; Swarm keeps secrets of at most 500 KB (${SECRET_LIMIT_BYTES} bytes)`,
			{nextSteps: ['keep large files in the image or a volume, and only the key that unlocks them as a secret']},
		);
	const text = value.toString('utf8');
	registerSecret(text);
	registerSecret(text.trim());
	return value;
}

/** A value from `--from-file FILE`. */
export function readSecretFile(file: string): Buffer {
	let size: number;
	try {
		size = statSync(file).size;
	} catch {
		throw new InputError(`cannot read ${file}`, {nextSteps: ['check the path given to --from-file']});
	}
	if (size > SECRET_LIMIT_BYTES) return checkSecretValue(Buffer.alloc(size), file);
	return checkSecretValue(readFileSync(file), file);
}

/** A value from standard input, read to its end (at most one byte past the limit is kept). */
export async function readSecretStream(stream: NodeJS.ReadableStream): Promise<Buffer> {
	const chunks: Buffer[] = [];
	let size = 0;
	for await (const chunk of stream) {
		const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
		size += buffer.length;
		if (size <= SECRET_LIMIT_BYTES + 1) chunks.push(buffer);
	}
	const value = Buffer.concat(chunks);
	return size > SECRET_LIMIT_BYTES
		? checkSecretValue(Buffer.alloc(size), 'standard input')
		: checkSecretValue(value, 'standard input');
}
