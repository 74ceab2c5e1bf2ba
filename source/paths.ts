import {existsSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import envPaths from 'env-paths';

/**
 * Where swarmbee keeps its state: `$SWARMBEE_HOME`, or the folder `conf`
 * uses for the `swarmbee` project (e.g. ~/.config/swarmbee-nodejs on Linux).
 * Tests point SWARMBEE_HOME at a temporary folder.
 */
export function swarmbeeHome(env: NodeJS.ProcessEnv = process.env): string {
	const fromEnv = env['SWARMBEE_HOME'];
	if (fromEnv) return path.resolve(fromEnv);
	return envPaths('swarmbee', {suffix: 'nodejs'}).config;
}

let root: string | undefined;

/** The installed package's root (holds package.json, images/, ansible/). */
export function packageRoot(): string {
	if (root) return root;
	// Walk up from this file: it sits at source/ when run from TypeScript and
	// at dist/source/ once built.
	let dir = path.dirname(fileURLToPath(import.meta.url));
	for (;;) {
		const manifest = path.join(dir, 'package.json');
		if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'swarmbee') {
			root = dir;
			return dir;
		}
		const parent = path.dirname(dir);
		if (parent === dir) throw new Error('swarmbee: cannot find its own package.json');
		dir = parent;
	}
}

export function packageVersion(): string {
	return JSON.parse(readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version as string;
}
