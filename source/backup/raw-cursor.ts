import type {Socket} from 'node:net';
import type r from 'rethinkdb';
import type {Term} from './reql.js';

/**
 * A table read that hands out each batch as the server wrote it: the JSON
 * text of its documents, never parsed into objects and serialized again.
 *
 * The npm driver parses every response whole (JSON.parse, then a walk over
 * every value for pseudotypes), and grows its receive buffer by copying it
 * for each packet: for a backup, that and serializing each row again were
 * most of the CPU, on a machine where the server and SSH need it too. Here
 * the driver opens and authenticates a connection (its SCRAM handshake),
 * then this takes its socket over for one query: START, then CONTINUE sent
 * the moment a batch arrives (the server reads the next while this one is
 * compressed and written), responses gathered without copying until whole,
 * and each batch's documents found by their boundaries (strings skipped
 * with memchr). The connection is used for nothing else and closed after.
 *
 * Wire format (RethinkDB's JSON protocol, V1_0): a query is an 8-byte token,
 * a 4-byte length, then `[type, term, global optargs]` (START 1, CONTINUE 2,
 * STOP 3); a response is the token, the length, then `{"t": type, "r": [...]}`
 * (SUCCESS_SEQUENCE 2, SUCCESS_PARTIAL 3, errors 16-18).
 */

const START = 1;
const CONTINUE = 2;
const STOP = 3;
const SUCCESS_ATOM = 1;
const SUCCESS_SEQUENCE = 2;
const SUCCESS_PARTIAL = 3;
const ERROR_NAMES: Record<number, string> = {
	16: 'ReqlClientError',
	17: 'ReqlCompileError',
	18: 'ReqlRuntimeError',
};

/** One batch: the response's bytes and where each document lies in them. */
export interface RawBatch {
	bytes: Buffer;
	/** [start, end) of each document. */
	documents: Array<[number, number]>;
}

/** The driver's connection internals this relies on (net.js TcpConnection, driver 2.4.2). */
interface DriverInternals {
	rawSocket?: Socket;
	open?: boolean;
}

export class RawCursorError extends Error {
	constructor(message: string, name: string) {
		super(message);
		this.name = name;
	}
}

/**
 * Runs `term` on `connection` (which must be idle and used for nothing else)
 * and yields its batches. Breaking out of the loop stops the query.
 */
export async function* rawBatches(
	connection: r.Connection,
	term: Term,
	globalOptargs: Record<string, string>,
): AsyncGenerator<RawBatch> {
	const socket = (connection as unknown as DriverInternals).rawSocket;
	if (!socket) throw new Error('the driver connection has no socket to take over');
	const token = 1;
	const frame = (query: unknown[]) => {
		const body = Buffer.from(JSON.stringify(query));
		const header = Buffer.alloc(12);
		header.writeUInt32LE(token, 0);
		header.writeUInt32LE(0, 4);
		header.writeUInt32LE(body.length, 8);
		return Buffer.concat([header, body]);
	};

	const chunks: Buffer[] = [];
	let buffered = 0;
	const responses: Buffer[] = [];
	let failure: Error | undefined;
	let wake: (() => void) | undefined;
	const notify = () => {
		const w = wake;
		wake = undefined;
		w?.();
	};
	let awaitingMore = true;
	const onData = (data: Buffer) => {
		chunks.push(data);
		buffered += data.length;
		for (;;) {
			if (buffered < 12) break;
			const head = chunks[0]!.length >= 12 ? chunks[0]! : Buffer.concat(chunks);
			const length = head.readUInt32LE(8);
			if (buffered < 12 + length) break;
			const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, buffered);
			const response = all.subarray(12, 12 + length);
			const rest = all.subarray(12 + length);
			chunks.length = 0;
			buffered = rest.length;
			if (rest.length > 0) chunks.push(rest);
			// Ask for the next batch at once: the server reads it while this one is handled.
			if (awaitingMore && responseType(response) === SUCCESS_PARTIAL) socket.write(frame([CONTINUE]));
			else awaitingMore = false;
			responses.push(response);
		}
		notify();
	};
	const onClose = () => {
		failure ??= new RawCursorError('the connection closed during the read', 'ReqlDriverError');
		notify();
	};
	const onError = (error: Error) => {
		failure ??= new RawCursorError(error.message, 'ReqlDriverError');
		notify();
	};
	socket.removeAllListeners('data');
	socket.on('data', onData);
	socket.on('close', onClose);
	socket.on('error', onError);
	let done = false;
	try {
		socket.write(frame([START, term.build(), globalOptargs]));
		while (!done) {
			while (responses.length === 0 && !failure) await new Promise<void>(resolve => (wake = resolve));
			const response = responses.shift();
			if (!response) throw failure!;
			const batch = parseResponse(response);
			if (batch.type >= 16)
				throw new RawCursorError(batch.error ?? 'the server failed the read', ERROR_NAMES[batch.type] ?? 'ReqlError');
			if (batch.type !== SUCCESS_PARTIAL && batch.type !== SUCCESS_SEQUENCE && batch.type !== SUCCESS_ATOM)
				throw new RawCursorError(`unexpected response type ${batch.type}`, 'ReqlDriverError');
			done = batch.type !== SUCCESS_PARTIAL;
			yield {bytes: response, documents: batch.documents};
		}
	} finally {
		socket.off('close', onClose);
		socket.off('error', onError);
		if (!done && !socket.destroyed) socket.write(frame([STOP]));
	}
}

/** The `t` of a response, read without parsing the rest (it is the first key RethinkDB writes). */
function responseType(response: Buffer): number {
	const match = /^\{\s*"t"\s*:\s*(\d+)/.exec(response.toString('latin1', 0, 32));
	return match ? Number(match[1]) : parseResponse(response).type;
}

/**
 * Finds a response's type and the boundaries of the documents in its `r`
 * array, walking its structure (strings skipped with indexOf); an error's
 * message is parsed (errors are small).
 */
export function parseResponse(bytes: Buffer): {type: number; documents: Array<[number, number]>; error?: string} {
	let i = skipSpace(bytes, 0);
	if (bytes[i] !== 0x7b) throw new RawCursorError('a response is not a JSON object', 'ReqlDriverError');
	i++;
	let type = -1;
	let documents: Array<[number, number]> = [];
	let errorSpan: [number, number] | undefined;
	for (;;) {
		i = skipSpace(bytes, i);
		if (bytes[i] === 0x7d) break;
		if (bytes[i] === 0x2c) {
			i = skipSpace(bytes, i + 1);
		}
		const keyStart = i;
		i = skipString(bytes, i);
		const key = bytes.toString('latin1', keyStart + 1, i - 1);
		i = skipSpace(bytes, i);
		if (bytes[i] !== 0x3a) throw new RawCursorError('a response is not well-formed JSON', 'ReqlDriverError');
		i = skipSpace(bytes, i + 1);
		const valueStart = i;
		if (key === 'r' && bytes[i] === 0x5b) {
			documents = [];
			i = skipSpace(bytes, i + 1);
			if (bytes[i] === 0x5d) i++;
			else
				for (;;) {
					const start = i;
					i = skipValue(bytes, i);
					documents.push([start, i]);
					i = skipSpace(bytes, i);
					if (bytes[i] === 0x2c) i = skipSpace(bytes, i + 1);
					else if (bytes[i] === 0x5d) {
						i++;
						break;
					} else throw new RawCursorError('a response is not well-formed JSON', 'ReqlDriverError');
				}
			errorSpan = [valueStart, i];
		} else {
			i = skipValue(bytes, i);
			if (key === 't') type = Number(bytes.toString('latin1', valueStart, i));
		}
	}
	if (type >= 16 && errorSpan) {
		const values = JSON.parse(bytes.toString('utf8', errorSpan[0], errorSpan[1])) as unknown[];
		return {type, documents: [], error: String(values[0])};
	}
	return {type, documents};
}

function skipSpace(bytes: Buffer, i: number): number {
	while (i < bytes.length) {
		const b = bytes[i]!;
		if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) break;
		i++;
	}
	return i;
}

/** From a string's opening quote to just past its closing one. */
function skipString(bytes: Buffer, i: number): number {
	let from = i + 1;
	for (;;) {
		const quote = bytes.indexOf(0x22, from);
		if (quote < 0) throw new RawCursorError('a response ends inside a string', 'ReqlDriverError');
		let backslashes = 0;
		for (let k = quote - 1; k >= from && bytes[k] === 0x5c; k--) backslashes++;
		if (backslashes % 2 === 0) return quote + 1;
		from = quote + 1;
	}
}

/** Past one JSON value (object, array, string, number, literal), iteratively. */
function skipValue(bytes: Buffer, i: number): number {
	let depth = 0;
	for (;;) {
		const b = bytes[i];
		if (b === undefined) throw new RawCursorError('a response ends inside a value', 'ReqlDriverError');
		if (b === 0x22) i = skipString(bytes, i);
		else if (b === 0x7b || b === 0x5b) {
			depth++;
			i++;
		} else if (b === 0x7d || b === 0x5d) {
			if (depth === 0) return i;
			depth--;
			i++;
		} else if (depth === 0 && (b === 0x2c || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09)) return i;
		else i++;
		if (depth === 0 && (b === 0x22 || b === 0x7d || b === 0x5d)) return i;
	}
}
