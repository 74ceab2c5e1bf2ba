import {crc32} from 'node:zlib';
import {counted} from '../render/format.js';

/**
 * What one document of an archive may be, from what RethinkDB 2.4.4 takes:
 *
 * - A query is refused at 128 MiB (`wire_protocol_t::TOO_LARGE_QUERY_SIZE`,
 *   src/client_protocol/protocols.cc: "Query size (…) greater than maximum"),
 *   and a document travels in an insert query as a JSON string (each `"`,
 *   `\` and whitespace control byte escaped), so a document whose escaped text
 *   and the query around it reach 128 MiB cannot be restored by any tool.
 * - The server takes deep nesting (100,000 levels were inserted here), but the
 *   drivers recurse once per level (the npm driver overflows its stack between
 *   5,000 and 20,000): past 1,000 levels a restored document could not be read
 *   back by an application.
 * - `1e999` ("Number too big to be stored in double") and an object with a key
 *   twice ("Duplicate key") fail the whole insert on the server.
 */
export const RETHINKDB_QUERY_LIMIT = 128 * 1024 * 1024;
/** Room kept for the insert query around one document (db and table names, options). */
export const QUERY_ENVELOPE = 4 * 1024;
export const DEFAULT_LIMITS: DocumentLimits = {
	maxQueryBytes: RETHINKDB_QUERY_LIMIT - QUERY_ENVELOPE,
	maxDepth: 1_000,
};
/** RethinkDB's default `array_limit`: an insert of a document holding a longer array needs the option raised. */
export const DEFAULT_ARRAY_LIMIT = 100_000;
/** Digits a number may have (a double has 17 significant ones; more is damage, not data). */
const MAX_NUMBER_BYTES = 1_000;
/** Keys of one object checked for duplicates (memory per object stays bounded). */
const MAX_CHECKED_KEYS = 10_000;
/** Bytes of a key kept whole for the duplicate check; past it, its length and CRC stand in. */
const MAX_KEY_BYTES = 4_096;
/** An object's keys are kept in a list up to this many, then in a set. */
const LIST_KEYS = 16;

export interface DocumentLimits {
	/** The most bytes one document's insert text may take (escaped as the query carries it). */
	maxQueryBytes: number;
	/** The deepest nesting of arrays and objects, the document itself being level 1. */
	maxDepth: number;
}

export class JsonArrayError extends Error {}
/** A document over one of RethinkDB's limits: refused at once, the rest never read. */
export class JsonLimitError extends JsonArrayError {}

/** What the scan found in one table file. */
export interface ScanTotals {
	documents: number;
	/** Bytes of the largest document, as its insert query carries it. */
	largestQueryBytes: number;
	/** The longest array inside any document (RethinkDB refuses past its array_limit unless raised). */
	longestArray: number;
	deepest: number;
}

enum S {
	BeforeArray,
	TopValueOrEnd,
	TopValue,
	TopCommaOrEnd,
	AfterArray,
	Value,
	AfterValue,
	Key,
	Colon,
	KeyOrEnd,
	ValueOrEnd,
	InString,
	Escape,
	Unicode,
	Number,
	Literal,
}

/** Number grammar: after -, after 0, in integer digits, after '.', in fraction, after e, after e sign, in exponent. */
enum N {
	Minus,
	Zero,
	Int,
	Dot,
	Frac,
	Exp,
	ExpSign,
	ExpDigits,
}

const OBJECT = 1;
const ARRAY = 2;

function isSpace(byte: number): boolean {
	return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * Reads one JSON array of documents (a dump's `<table>.json`) chunk by
 * chunk, validating it byte by byte as JSON (strings, escapes, UTF-8,
 * numbers, literals, nesting) without building any value: memory holds one
 * document's text when `collect` is set (bounded by the query limit) and a
 * nesting stack (bounded by the depth limit), never more, whatever the file
 * holds. Every element must be an object (a document). A document over a
 * limit is refused at the byte where it goes over, before the rest is read.
 */
export class JsonArrayScanner {
	private state = S.BeforeArray;
	private readonly stack: Uint8Array;
	private depth = 0;
	/** Where in the stream (bytes) we are, for messages. */
	private offset = 0;
	// The document being read.
	private docBytes = 0;
	private docEscapes = 0;
	private parts: Uint8Array[] = [];
	private partStart = -1;
	private readonly arrayLengths: number[] = [];
	/** Per open object: its keys so far (a list while short), or undefined when not checked. */
	private readonly keySets: Array<string[] | Set<string> | undefined> = [];
	/** Where the key being read began in this chunk (-1: no key), and its bytes from earlier chunks. */
	private keyStart = -1;
	private keyParts: Buffer[] | undefined;
	// Strings, numbers and literals in progress.
	private isKey = false;
	private utf8Needed = 0;
	private utf8Low = 0x80;
	private utf8High = 0xbf;
	private unicodeDigits = 0;
	private number = N.Minus;
	/** Where the number being read began in this chunk, and its text from earlier chunks. */
	private numberStart = 0;
	private numberHead = '';
	private numberLength = 0;
	private literal = '';
	private literalAt = 0;
	readonly totals: ScanTotals = {documents: 0, largestQueryBytes: 0, longestArray: 0, deepest: 0};

	constructor(
		private readonly where: string,
		private readonly limits: DocumentLimits = DEFAULT_LIMITS,
		/** Hand out each document's text (restore); without it only counts and checks (verify). */
		private readonly collect = false,
		/** Check objects for a key given twice (off for what the server itself wrote: a backup's read back). */
		private readonly checkKeys = true,
		/**
		 * Check strings byte by byte (escapes, UTF-8, control characters). Off only for text
		 * the server itself wrote (a backup's read back): strings' ends are then found with memchr.
		 */
		private readonly validate = true,
	) {
		this.stack = new Uint8Array(limits.maxDepth + 1);
	}

	get documents(): number {
		return this.totals.documents;
	}

	/** Feeds one chunk; returns the documents it completed (when collecting). Throws JsonArrayError at the first problem. */
	write(bytes: Uint8Array): Buffer[] {
		const chunk = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
		const out: Buffer[] = [];
		const n = chunk.length;
		let i = 0;
		if (this.depth > 0) this.partStart = 0;
		if (this.keyStart >= 0) this.keyStart = 0;
		if (this.state === S.Number) this.numberStart = 0;
		let nextQuote = -1;
		let nextBackslash = -1;
		while (i < n) {
			const b = chunk[i]!;
			switch (this.state) {
				case S.InString: {
					if (!this.validate) {
						// What the server itself wrote only needs its strings' ends found: memchr does it.
						if (nextQuote < i) nextQuote = indexOrEnd(chunk, 0x22, i);
						if (nextBackslash < i) nextBackslash = indexOrEnd(chunk, 0x5c, i);
						const j = Math.min(nextQuote, nextBackslash);
						this.docBytes += j - i;
						i = j;
						if (i >= n) continue;
						this.docEscapes++;
						if (chunk[i] === 0x22) this.endString(i, chunk);
						else this.state = S.Escape;
						this.docBytes++;
						i++;
						continue;
					}
					// The hot loop: most bytes are plain string content.
					let j = i;
					if (this.utf8Needed === 0) {
						while (j < n) {
							const c = chunk[j]!;
							if (c === 0x22 || c === 0x5c || c < 0x20 || c >= 0x80) break;
							j++;
						}
					}
					this.docBytes += j - i;
					i = j;
					if (i >= n) continue;
					const c = chunk[i]!;
					if (this.utf8Needed > 0) {
						if (c < this.utf8Low || c > this.utf8High) this.fail(i, 'a string holds bytes that are not UTF-8');
						this.utf8Needed--;
						this.utf8Low = 0x80;
						this.utf8High = 0xbf;
					} else if (c === 0x22) {
						this.docEscapes++;
						this.endString(i, chunk);
					} else if (c === 0x5c) {
						this.docEscapes++;
						this.state = S.Escape;
					} else if (c < 0x20) {
						this.fail(i, 'a string holds a raw control character');
					} else this.utf8Lead(c, i);
					this.docBytes++;
					i++;
					continue;
				}
				default:
					break;
			}
			this.step(b, i, chunk, out);
			i++;
		}
		// A key or number still open at the chunk's end keeps what this chunk had of it.
		if (this.keyStart >= 0 && this.state !== S.Colon) {
			this.keyParts ??= [];
			this.keyParts.push(chunk.subarray(this.keyStart));
		}
		if (this.state === S.Number) this.numberHead += chunk.toString('latin1', this.numberStart, n);
		if (this.depth > 0) {
			// A document still open at the chunk's end is held (when collecting) and measured now, so one that is too large is refused before more of it is read.
			if (this.collect && this.partStart >= 0 && this.partStart < n) this.parts.push(chunk.subarray(this.partStart));
			this.checkSize(n - 1);
		}
		this.offset += n;
		return out;
	}

	/** The file ended: the array must have been closed. */
	end(): void {
		if (this.state === S.BeforeArray) this.fail(0, 'it is empty');
		if (this.state !== S.AfterArray)
			this.fail(
				0,
				`it ends inside the array, after ${counted(this.totals.documents, 'complete document')} (the file is cut short)`,
			);
	}

	private utf8Lead(c: number, i: number): void {
		if (c >= 0xc2 && c <= 0xdf) this.utf8Needed = 1;
		else if (c >= 0xe0 && c <= 0xef) {
			this.utf8Needed = 2;
			if (c === 0xe0) this.utf8Low = 0xa0;
			if (c === 0xed) this.utf8High = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			this.utf8Needed = 3;
			if (c === 0xf0) this.utf8Low = 0x90;
			if (c === 0xf4) this.utf8High = 0x8f;
		} else this.fail(i, 'a string holds bytes that are not UTF-8');
	}

	private endString(i: number, chunk: Buffer): void {
		if (this.isKey) {
			if (this.keyStart >= 0) this.checkKey(i, this.keyOf(chunk, i));
			this.keyStart = -1;
			this.keyParts = undefined;
			this.isKey = false;
			this.state = S.Colon;
		} else this.state = S.AfterValue;
	}

	/** The key's raw bytes as a string (latin1: one character a byte); a long one by its head, length and CRC. */
	private keyOf(chunk: Buffer, end: number): string {
		if (!this.keyParts) {
			if (end - this.keyStart <= MAX_KEY_BYTES) return chunk.toString('latin1', this.keyStart, end);
			return longKey(chunk.subarray(this.keyStart, end));
		}
		const whole = Buffer.concat([...this.keyParts, chunk.subarray(this.keyStart, end)]);
		return whole.length <= MAX_KEY_BYTES ? whole.toString('latin1', 0, whole.length) : longKey(whole);
	}

	private checkKey(i: number, key: string): void {
		const seen = this.keySets[this.depth];
		if (!seen) return;
		if (Array.isArray(seen) ? seen.includes(key) : seen.has(key))
			this.fail(
				i,
				`an object has the key ${JSON.stringify(Buffer.from(key.slice(0, 60), 'latin1').toString('utf8'))} twice (RethinkDB refuses it: "Duplicate key")`,
			);
		if (Array.isArray(seen)) {
			seen.push(key);
			if (seen.length > LIST_KEYS) this.keySets[this.depth] = new Set(seen);
		} else if (seen.size < MAX_CHECKED_KEYS) seen.add(key);
		// Past this many keys an object is not checked for duplicates (the server still is): memory stays bounded.
		else this.keySets[this.depth] = undefined;
	}

	/** One byte outside string content. */
	private step(b: number, i: number, chunk: Buffer, out: Buffer[]): void {
		switch (this.state) {
			case S.BeforeArray:
				if (isSpace(b)) return;
				if (b !== 0x5b) this.fail(i, 'it does not begin with "[" (a dump\'s table file is one JSON array)');
				this.state = S.TopValueOrEnd;
				return;
			case S.AfterArray:
				if (!isSpace(b)) this.fail(i, 'there is more after the array\'s closing "]"');
				return;
			case S.TopValueOrEnd:
			case S.TopValue:
			case S.TopCommaOrEnd:
				if (isSpace(b)) return;
				if (b === 0x5d && this.state !== S.TopValue) {
					this.state = S.AfterArray;
					return;
				}
				if (this.state === S.TopCommaOrEnd) {
					if (b !== 0x2c) this.fail(i, 'documents are not separated by ","');
					this.state = S.TopValue;
					return;
				}
				if (b !== 0x7b)
					this.fail(i, `element ${this.totals.documents + 1} is ${describeStart(b)}, not a document (an object)`);
				this.beginDocument(i);
				return;
			case S.Escape:
				this.docBytes++;
				if (b === 0x5c) this.docEscapes++;
				if (!this.validate) {
					if (b === 0x22) this.docEscapes++;
					this.state = S.InString;
					return;
				}
				if (b === 0x75) {
					this.state = S.Unicode;
					this.unicodeDigits = 0;
				} else if (
					b === 0x22 ||
					b === 0x5c ||
					b === 0x2f ||
					b === 0x62 ||
					b === 0x66 ||
					b === 0x6e ||
					b === 0x72 ||
					b === 0x74
				) {
					if (b === 0x22) this.docEscapes++;
					this.state = S.InString;
				} else this.fail(i, 'a string has an unknown escape');
				return;
			case S.Unicode:
				this.docBytes++;
				if (!((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66)))
					this.fail(i, 'a \\u escape has a character that is not hexadecimal');
				if (++this.unicodeDigits === 4) this.state = S.InString;
				return;
			case S.Number:
				if (this.numberByte(b, i)) {
					this.docBytes++;
					return;
				}
				this.endNumber(i, chunk);
				this.state = S.AfterValue;
				this.step(b, i, chunk, out);
				return;
			case S.Literal:
				this.docBytes++;
				if (b !== this.literal.charCodeAt(this.literalAt))
					this.fail(i, 'it has a word that is not true, false or null');
				if (++this.literalAt === this.literal.length) this.state = S.AfterValue;
				return;
			default:
				break;
		}
		// Inside a document, outside strings, numbers and literals.
		this.docBytes++;
		if (isSpace(b)) {
			if (b !== 0x20) this.docEscapes++;
			return;
		}
		switch (this.state) {
			case S.Colon:
				if (b !== 0x3a) this.fail(i, 'an object key is not followed by ":"');
				this.state = S.Value;
				return;
			case S.Key:
			case S.KeyOrEnd:
				if (b === 0x7d && this.state === S.KeyOrEnd) {
					this.close(OBJECT, i, chunk, out);
					return;
				}
				if (b !== 0x22) this.fail(i, 'an object key is not a string');
				this.docEscapes++;
				this.isKey = true;
				this.keyStart = this.checkKeys && this.keySets[this.depth] ? i + 1 : -1;
				this.state = S.InString;
				return;
			case S.AfterValue: {
				const container = this.stack[this.depth];
				if (b === 0x2c) {
					if (container === OBJECT) this.state = S.Key;
					else {
						this.arrayLengths[this.depth]!++;
						this.state = S.Value;
					}
					return;
				}
				if (b === 0x7d && container === OBJECT) {
					this.close(OBJECT, i, chunk, out);
					return;
				}
				if (b === 0x5d && container === ARRAY) {
					this.close(ARRAY, i, chunk, out);
					return;
				}
				this.fail(i, `a value is followed by ${describeByte(b)}`);
				return;
			}
			case S.ValueOrEnd:
				if (b === 0x5d) {
					this.arrayLengths[this.depth] = 0;
					this.close(ARRAY, i, chunk, out);
					return;
				}
				this.value(b, i);
				return;
			case S.Value:
				this.value(b, i);
				return;
			default:
				this.fail(i, 'the scanner lost its place');
		}
	}

	private value(b: number, i: number): void {
		if (b === 0x22) {
			this.docEscapes++;
			this.state = S.InString;
		} else if (b === 0x7b) {
			this.open(OBJECT, i);
			this.state = S.KeyOrEnd;
		} else if (b === 0x5b) {
			this.open(ARRAY, i);
			this.arrayLengths[this.depth] = 1;
			this.state = S.ValueOrEnd;
		} else if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
			this.state = S.Number;
			this.number = b === 0x2d ? N.Minus : b === 0x30 ? N.Zero : N.Int;
			this.numberStart = i;
			this.numberHead = '';
			this.numberLength = 1;
		} else if (b === 0x74 || b === 0x66 || b === 0x6e) {
			this.literal = b === 0x74 ? 'true' : b === 0x66 ? 'false' : 'null';
			this.literalAt = 1;
			this.state = S.Literal;
		} else this.fail(i, `a value begins with ${describeByte(b)}`);
	}

	private numberByte(b: number, i: number): boolean {
		const digit = b >= 0x30 && b <= 0x39;
		switch (this.number) {
			case N.Minus:
				if (!digit) this.fail(i, 'a "-" is not followed by a digit');
				this.number = b === 0x30 ? N.Zero : N.Int;
				break;
			case N.Zero:
			case N.Int:
				if (digit && this.number === N.Int) break;
				if (digit) this.fail(i, 'a number has a leading zero');
				if (b === 0x2e) this.number = N.Dot;
				else if (b === 0x65 || b === 0x45) this.number = N.Exp;
				else return false;
				break;
			case N.Dot:
				if (!digit) this.fail(i, 'a number has no digit after "."');
				this.number = N.Frac;
				break;
			case N.Frac:
				if (digit) break;
				if (b === 0x65 || b === 0x45) this.number = N.Exp;
				else return false;
				break;
			case N.Exp:
				if (b === 0x2b || b === 0x2d) this.number = N.ExpSign;
				else if (digit) this.number = N.ExpDigits;
				else this.fail(i, 'a number has no exponent after "e"');
				break;
			case N.ExpSign:
				if (!digit) this.fail(i, 'a number has no exponent after "e"');
				this.number = N.ExpDigits;
				break;
			case N.ExpDigits:
				if (!digit) return false;
				break;
		}
		if (++this.numberLength > MAX_NUMBER_BYTES) this.fail(i, `a number is longer than ${MAX_NUMBER_BYTES} characters`);
		return true;
	}

	private endNumber(i: number, chunk: Buffer): void {
		const text = () => this.numberHead + chunk.toString('latin1', this.numberStart, i);
		if (this.number === N.Minus || this.number === N.Dot || this.number === N.Exp || this.number === N.ExpSign)
			this.fail(i, `a number ends early (${text()})`);
		// Only an exponent or many digits can leave a double's range.
		if ((this.number === N.ExpDigits || this.numberLength > 300) && !Number.isFinite(Number(text())))
			this.fail(i, `the number ${text().slice(0, 40)} is too big for a double (RethinkDB refuses it)`);
	}

	private beginDocument(i: number): void {
		this.docBytes = 0;
		this.docEscapes = 0;
		this.parts = [];
		this.partStart = i;
		this.docBytes = 1;
		this.depth = 0;
		this.open(OBJECT, i);
		this.state = S.KeyOrEnd;
	}

	private open(kind: number, i: number): void {
		if (this.depth >= this.limits.maxDepth)
			this.fail(
				i,
				`document ${this.totals.documents + 1} is nested more than ${this.limits.maxDepth.toLocaleString('en-US')} levels deep (RethinkDB's drivers cannot read such a document back)`,
				true,
			);
		this.depth++;
		this.stack[this.depth] = kind;
		this.keySets[this.depth] = kind === OBJECT && this.checkKeys ? [] : undefined;
		if (this.depth > this.totals.deepest) this.totals.deepest = this.depth;
	}

	private close(kind: number, i: number, chunk: Buffer, out: Buffer[]): void {
		if (kind === ARRAY) {
			const length = this.arrayLengths[this.depth]!;
			if (length > this.totals.longestArray) this.totals.longestArray = length;
		}
		this.keySets[this.depth] = undefined;
		this.depth--;
		this.checkSize(i);
		if (this.depth > 0) {
			this.state = S.AfterValue;
			return;
		}
		// The document is complete.
		const query = this.docBytes + this.docEscapes + 2;
		if (query > this.totals.largestQueryBytes) this.totals.largestQueryBytes = query;
		this.totals.documents++;
		if (this.collect) {
			const last = chunk.subarray(this.partStart, i + 1);
			out.push(this.parts.length === 0 ? Buffer.from(last) : Buffer.concat([...this.parts, last]));
			this.parts = [];
		}
		this.partStart = -1;
		this.state = S.TopCommaOrEnd;
	}

	/** Measured as containers close and as each chunk ends: a document that never closes one (one huge string) is still refused early. */
	private checkSize(i: number): void {
		if (this.docBytes + this.docEscapes + 2 > this.limits.maxQueryBytes) this.tooLarge(i);
	}

	private tooLarge(i: number): never {
		const mib = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MiB`;
		this.fail(
			i,
			`document ${this.totals.documents + 1} is larger than one RethinkDB query can carry (over ${mib(this.limits.maxQueryBytes)} as an insert's text; the server refuses queries of ${mib(RETHINKDB_QUERY_LIMIT)})`,
			true,
		);
	}

	private fail(i: number, problem: string, limit = false): never {
		throw new (limit ? JsonLimitError : JsonArrayError)(
			`${this.where} is not a complete JSON array of documents: ${problem} (near byte ${(this.offset + i).toLocaleString('en-US')})`,
		);
	}
}

function describeStart(byte: number): string {
	if (byte === 0x5b) return 'an array';
	if (byte === 0x22) return 'a string';
	if (byte === 0x6e) return 'null';
	if (byte === 0x74 || byte === 0x66) return 'a boolean';
	if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) return 'a number';
	return describeByte(byte);
}

function describeByte(byte: number): string {
	return byte >= 0x21 && byte < 0x7f
		? `"${String.fromCharCode(byte)}"`
		: `byte 0x${byte.toString(16).padStart(2, '0')}`;
}

/** A key too long to keep whole: its head, length and CRC stand for it. */
function longKey(bytes: Buffer): string {
	return `${bytes.toString('latin1', 0, MAX_KEY_BYTES)}\0${bytes.length}\0${crc32(bytes)}`;
}

function indexOrEnd(chunk: Buffer, byte: number, from: number): number {
	const at = chunk.indexOf(byte, from);
	return at < 0 ? chunk.length : at;
}
