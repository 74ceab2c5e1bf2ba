import {chmodSync, mkdirSync, renameSync, writeFileSync} from 'node:fs';
import path from 'node:path';

/**
 * Writes through a temporary file and a rename, so a crash never leaves half
 * a file; the folder is made 0700 when missing (state folders hold keys).
 */
export function writeFileAtomic(file: string, contents: string, mode = 0o600): void {
	mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
	const temporary = `${file}.${process.pid}.tmp`;
	writeFileSync(temporary, contents, {mode});
	chmodSync(temporary, mode);
	renameSync(temporary, file);
}
