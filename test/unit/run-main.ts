import {PassThrough} from 'node:stream';
import {main} from '../../source/main.js';

/** The CLI in this process, without a terminal: its exit code and what it wrote on stdout and stderr. */
export async function runMain(
	argv: string[],
	env: NodeJS.ProcessEnv,
): Promise<{code: number; out: string; err: string}> {
	const stdout = new PassThrough();
	const stderr = new PassThrough();
	let out = '';
	let err = '';
	stdout.on('data', c => (out += c));
	stderr.on('data', c => (err += c));
	const code = await main(argv, {stdout, stderr, interactive: false, env});
	return {code, out, err};
}
