#!/usr/bin/env node
import {readFileSync} from 'node:fs';

// `--version` answers from package.json alone: no Ink, no React, no commands
// loaded, so it starts about as fast as Node itself (see bench/version-startup).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
	const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
		version: string;
	};
	process.stdout.write(`${manifest.version}\n`);
} else {
	// React's development build is several times slower and heavier; the live
	// view is a product, not a React playground.
	process.env['NODE_ENV'] ??= 'production';
	const {main} = await import('./main.js');
	process.exitCode = await main(argv, {
		stdout: process.stdout,
		stderr: process.stderr,
		interactive: Boolean(process.stdout.isTTY && process.stdin.isTTY),
		env: process.env,
	});
}
