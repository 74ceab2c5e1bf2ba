import {JSONParser} from '@streamparser/json';
import {counted} from '../render/format.js';

/**
 * Reads one JSON array of documents (a dump's `<table>.json`) chunk by
 * chunk with @streamparser/json, handing out each document as soon as it is
 * complete and keeping none: memory holds a chunk and the documents it
 * finished, never the table. It insists on what a dump is: one array of
 * objects, closed, with nothing but whitespace after it.
 */
export class JsonArrayReader {
	private readonly parser = new JSONParser({paths: ['$.*'], keepStack: false, stringBufferSize: 64 * 1024});
	private documents: Array<Record<string, unknown>> = [];
	private failure?: string;
	private ended = false;
	private started = false;
	private offset = 0;
	count = 0;

	constructor(private readonly where: string) {
		this.parser.onValue = ({value}) => {
			if (typeof value !== 'object' || value === null || Array.isArray(value)) {
				this.failure ??= `element ${this.count + 1} is ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}, not a document (an object)`;
				return;
			}
			this.count++;
			this.documents.push(value as Record<string, unknown>);
		};
		this.parser.onError = error => {
			this.failure ??= error.message;
		};
		this.parser.onEnd = () => {
			this.ended = true;
		};
	}

	/** Feeds one chunk; returns the documents it completed (throws at the first problem). */
	write(chunk: Uint8Array): Array<Record<string, unknown>> {
		let start = 0;
		if (!this.started) {
			while (start < chunk.length && isSpace(chunk[start]!)) start++;
			if (start === chunk.length) {
				this.offset += chunk.length;
				return [];
			}
			if (chunk[start] !== 0x5b) this.fail(`it does not begin with "[" (a dump's table file is one JSON array)`);
			this.started = true;
		}
		if (this.ended) {
			this.trailing(chunk, start);
		} else {
			this.parser.write(start === 0 ? chunk : chunk.subarray(start));
			if (this.failure) this.fail(this.failure);
		}
		this.offset += chunk.length;
		const done = this.documents;
		this.documents = [];
		return done;
	}

	/** The file ended: the array must have been closed. */
	end(): void {
		if (!this.started) this.fail('it is empty');
		if (!this.ended)
			this.fail(`it ends inside the array, after ${counted(this.count, 'complete document')} (the file is cut short)`);
	}

	private trailing(chunk: Uint8Array, from: number): void {
		for (let i = from; i < chunk.length; i++)
			if (!isSpace(chunk[i]!)) this.fail(`there is more after the array's closing "]" (near byte ${this.offset + i})`);
	}

	private fail(problem: string): never {
		throw new JsonArrayError(
			`${this.where} is not a complete JSON array of documents: ${problem}${/position|byte/.test(problem) ? '' : ` (read up to byte ${this.offset})`}`,
		);
	}
}

export class JsonArrayError extends Error {}

function isSpace(byte: number): boolean {
	return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}
