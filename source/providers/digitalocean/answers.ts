/**
 * What DigitalOcean answered, checked before it is trusted: every string
 * stripped of control characters (an API string reaches the terminal, the
 * journal and the dashboard), and each answer held to the fields swarmbee
 * reads, with their types. An answer that is not JSON, or whose fields are
 * missing or of another type, becomes one error that says so with the
 * request id, instead of a `TypeError` deep inside a step.
 *
 * The checks are small readers written for the fields api-types.ts names
 * (not the whole OpenAPI schema, which the emulator's tests hold the API's
 * answers to): what is not read is not checked.
 */
import {parseCidr} from '../../nodes/cidr.js';

/**
 * C0 and C1 control characters (ESC, CR, LF, BEL, DEL, CSI …) and the
 * Unicode line and paragraph separators and bidirectional overrides, which
 * can rewrite or hide what a terminal shows.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** `text` with every control character replaced by a space (so words do not run together). */
export function stripControl(text: string): string {
	return text.replace(CONTROL, ' ');
}

/** JSON.parse with every string stripped of control characters. */
export function parseAnswer(text: string): unknown {
	return JSON.parse(text, (_key, value: unknown) => (typeof value === 'string' ? stripControl(value) : value));
}

/** A problem found in an answer: where, and what was expected. */
export class AnswerProblem extends Error {}

export type Reader<T> = (value: unknown, where: string) => T;

function fail(where: string, expected: string, value: unknown): never {
	const got = value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value;
	throw new AnswerProblem(`${where} is ${got}, not ${expected}`);
}

const readString: Reader<string> = (value, where) => (typeof value === 'string' ? value : fail(where, 'text', value));

export const read = {
	string: readString,
	number: ((value, where) =>
		typeof value === 'number' && Number.isFinite(value) ? value : fail(where, 'a number', value)) as Reader<number>,
	/** An id or count: a whole number, not negative. */
	whole: ((value, where) =>
		typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
			? value
			: fail(where, 'a whole number', value)) as Reader<number>,
	boolean: ((value, where) =>
		typeof value === 'boolean' ? value : fail(where, 'true or false', value)) as Reader<boolean>,
	oneOf<const T extends string>(...choices: T[]): Reader<T> {
		return (value, where) =>
			typeof value === 'string' && (choices as string[]).includes(value)
				? (value as T)
				: fail(where, `one of ${choices.join(', ')}`, value);
	},
	/** An IPv4 CIDR such as 10.110.0.0/20 (a VPC's range). */
	cidr: ((value, where) => {
		const text = readString(value, where);
		if (!parseCidr(text))
			throw new AnswerProblem(`${where} is "${text}", which is no IPv4 range such as 10.110.0.0/20`);
		return text;
	}) as Reader<string>,
	optional<T>(reader: Reader<T>): Reader<T | undefined> {
		return (value, where) => (value === undefined ? undefined : reader(value, where));
	},
	nullable<T>(reader: Reader<T>): Reader<T | null> {
		return (value, where) => (value === null ? null : reader(value, where));
	},
	list<T>(reader: Reader<T>): Reader<T[]> {
		return (value, where) => {
			if (!Array.isArray(value)) return fail(where, 'a list', value);
			const out: T[] = [];
			for (let i = 0; i < value.length; i++) out.push(reader(value[i], `${where}[${i}]`));
			return out;
		};
	},
	/**
	 * An object with at least these fields, checked; the object itself is
	 * returned whole (fields not named pass through unchecked, unread).
	 */
	object<T>(fields: {[K in keyof T]?: Reader<T[K]>}): Reader<T> {
		return (value, where) => {
			if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(where, 'an object', value);
			const record = value as Record<string, unknown>;
			for (const [key, reader] of Object.entries(fields) as Array<[string, Reader<unknown>]>) {
				const checked = reader(record[key], `${where}.${key}`);
				if (checked !== undefined) record[key] = checked;
			}
			return value as T;
		};
	},
};
