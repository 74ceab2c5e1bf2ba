/**
 * Quoting for command lines sent to a remote POSIX shell over SSH. Every
 * argument goes through `shq`; commands are built as values and tested so.
 */

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one argument for sh: `it's` → `'it'\''s'`. */
export function shq(value: string | number): string {
	const text = String(value);
	if (text !== '' && SAFE.test(text)) return text;
	return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Joins argv into one safely quoted command line. */
export function shellCommand(argv: ReadonlyArray<string | number>): string {
	return argv.map(arg => shq(arg)).join(' ');
}
