import path from 'node:path';
import {fileURLToPath} from 'node:url';

/** The checkout's root (the benches run from dist/bench/). */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The built CLI every bench drives as a whole process. */
export const cli = path.join(root, 'dist/source/cli.js');

/** `--name N` from the command line, or the fallback. */
export function flag(name: string, fallback: number): number {
	const index = process.argv.indexOf(`--${name}`);
	return index > 0 ? Number(process.argv[index + 1]) : fallback;
}
