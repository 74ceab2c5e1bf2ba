import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';

/** A temporary folder for table files, in TMPDIR as `rethinkdb dump`/`restore` use theirs. */
export function makeSpoolDir(prefix: string, env: NodeJS.ProcessEnv = process.env): string {
	return mkdtempSync(path.join(env['TMPDIR'] || tmpdir(), `swarmbee-${prefix}-`));
}

export function removeQuietly(dir: string): void {
	rmSync(dir, {recursive: true, force: true});
}
