import {chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {InputError} from './errors.js';

const WRITE_PROBLEMS: Record<string, string> = {
	EACCES: 'permission denied',
	EPERM: 'permission denied',
	EROFS: 'the file system is read-only',
	ENOSPC: 'the disk is full',
	EDQUOT: 'the disk quota is used up',
	ENOTDIR: 'a file stands where a folder should be',
	// Node's recursive mkdir says ENOENT when a parent cannot be made.
	ENOENT: 'a folder on the way cannot be made',
};

/**
 * A failed write into swarmbee's state folder, as the user can act on it:
 * which path, why, and what to do (not "ENOENT … mkdir").
 */
export function stateWriteError(error: unknown, where: string): Error {
	const code = (error as NodeJS.ErrnoException).code;
	const why = code ? WRITE_PROBLEMS[code] : undefined;
	if (!why) return error as Error;
	// The folder to look at is the deepest one that exists.
	let existing = path.dirname(where);
	while (!existsSync(existing) && path.dirname(existing) !== existing) existing = path.dirname(existing);
	return new InputError(`swarmbee cannot write its state in ${where}: ${why} (${code})`, {
		nextSteps: [
			code === 'ENOSPC' || code === 'EDQUOT'
				? 'free some space, then run the command again'
				: `make ${existing} writable by you (ls -ld ${existing}), then run the command again`,
			'or point SWARMBEE_HOME at a folder you can write (it holds specs, journals and keys)',
		],
	});
}

/**
 * Writes through a temporary file and a rename, so a crash never leaves half
 * a file; the folder is made 0700 when missing (state folders hold keys).
 */
export function writeFileAtomic(file: string, contents: string, mode = 0o600): void {
	const temporary = `${file}.${process.pid}.tmp`;
	try {
		mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
		writeFileSync(temporary, contents, {mode});
		chmodSync(temporary, mode);
		renameSync(temporary, file);
	} catch (error) {
		rmSync(temporary, {force: true});
		throw stateWriteError(error, file);
	}
}
