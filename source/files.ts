import {
	chmodSync,
	closeSync,
	constants,
	existsSync,
	fstatSync,
	lstatSync,
	mkdirSync,
	openSync,
	readFileSync,
	readlinkSync,
	readdirSync,
	renameSync,
	rmSync,
	statSync,
	writeFileSync,
	type Stats,
} from 'node:fs';
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
		// A new file of its own (a link left at that name is removed, not written through); the rename then replaces whatever stood at `file`.
		rmSync(temporary, {force: true});
		writeFileSync(temporary, contents, {mode, flag: 'wx'});
		chmodSync(temporary, mode);
		renameSync(temporary, file);
	} catch (error) {
		rmSync(temporary, {force: true});
		throw stateWriteError(error, file);
	}
}

/** A state file that exists but cannot be used as it is: names the file and what to do. */
export class DamagedStateError extends InputError {
	constructor(
		readonly file: string,
		problem: string,
		details: {hint?: string; nextSteps: string[]},
	) {
		super(`${file} ${problem}`, details);
	}
}

/** What stands at a path, in words: `a symbolic link`, `a FIFO (named pipe)`. */
function kindOf(stats: Stats): string {
	if (stats.isSymbolicLink()) return 'a symbolic link';
	if (stats.isDirectory()) return 'a folder';
	if (stats.isFile()) return 'a file';
	if (stats.isFIFO()) return 'a FIFO (named pipe)';
	if (stats.isSocket()) return 'a socket';
	if (stats.isCharacterDevice() || stats.isBlockDevice()) return 'a device';
	return 'something else';
}

/** lstat (a link is looked at, not followed), or undefined when nothing is there. */
function lookAt(file: string): Stats | undefined {
	try {
		return lstatSync(file);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
		throw error;
	}
}

function octal(mode: number): string {
	return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** Modes mean little on Windows (every file reads 0666): only POSIX systems are held to them. */
const MODES_MATTER = process.platform !== 'win32';

/** A link where swarmbee keeps state: said with where it points, never followed. */
function linkError(file: string): DamagedStateError {
	let target = '';
	try {
		target = ` to ${readlinkSync(file)}`;
	} catch {
		// Gone meanwhile: said without its target.
	}
	return new DamagedStateError(file, `is a symbolic link${target}`, {
		hint: 'swarmbee keeps its state in real files and folders under its state folder (SWARMBEE_HOME) and never follows a link out of it.',
		nextSteps: [
			`to keep clusters elsewhere, point SWARMBEE_HOME at that folder instead of linking to it`,
			`otherwise remove the link (rm ${file}); what it points to is left as it is`,
		],
	});
}

/**
 * swarmbee's state folder itself: missing (made when first needed), or a
 * folder (it may be reached through a link: the user chose it) that no
 * other user can write.
 */
export function checkStateHome(home: string): void {
	let stats: Stats;
	try {
		stats = statSync(home);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === 'ENOENT') return;
		if (code === 'ENOTDIR')
			throw new InputError(`swarmbee's state folder ${home} cannot be a folder: a file stands on its path`, {
				nextSteps: ['point SWARMBEE_HOME at a folder (it holds specs, journals and keys), or unset it for the default'],
			});
		throw error;
	}
	if (!stats.isDirectory())
		throw new InputError(`swarmbee's state folder ${home} is ${kindOf(stats)}, not a folder`, {
			hint: 'SWARMBEE_HOME (or the default, ~/.config/swarmbee-nodejs) names the folder that holds specs, journals and keys.',
			nextSteps: [
				'point SWARMBEE_HOME at a folder, or unset it for the default',
				`or move that file away (mv ${home} ${home}.moved) and run the command again`,
			],
		});
	checkFolderMode(home, stats);
}

function checkFolderMode(dir: string, stats: Stats): void {
	if (!MODES_MATTER || (stats.mode & 0o022) === 0) return;
	throw new InputError(`${dir} can be written by other users (mode ${octal(stats.mode)})`, {
		hint: 'whoever can write there can replace the keys and state swarmbee trusts; swarmbee makes its folders 0700 and uses none that others can write.',
		nextSteps: [
			`chmod 700 ${dir} (after checking that nothing in it was changed by someone else), then run the command again`,
		],
	});
}

/**
 * A folder inside the state folder: missing (made when needed), or a real
 * folder, not a link out of it, that no other user can write.
 */
export function checkStateFolder(dir: string): void {
	const stats = lookAt(dir);
	if (!stats) return;
	if (stats.isSymbolicLink()) throw linkError(dir);
	if (!stats.isDirectory())
		throw new DamagedStateError(dir, `is ${kindOf(stats)}, not a folder`, {
			nextSteps: [`move it away (mv ${dir} ${dir}.moved), then run the command again`],
		});
	checkFolderMode(dir, stats);
}

/** The folders directly inside `dir`, each checked as checkStateFolder does. */
export function checkStateSubfolders(dir: string): void {
	const stats = lookAt(dir);
	if (!stats?.isDirectory()) return;
	for (const entry of readdirSync(dir)) checkStateFolder(path.join(dir, entry));
}

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;

/**
 * Opens a log swarmbee writes into its state folder (for createWriteStream's
 * `fd`): created 0600 or emptied, never through a link and never waiting on
 * a FIFO with no reader; either in its place is a DamagedStateError.
 */
export function openStateLog(file: string): number {
	const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | O_NOFOLLOW | O_NONBLOCK;
	try {
		mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
		return openSync(file, flags, 0o600);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		const stats = lookAt(file);
		if (code === 'ELOOP' || stats?.isSymbolicLink()) throw linkError(file);
		if (stats && !stats.isFile())
			throw new DamagedStateError(file, `is ${kindOf(stats)}, not a file`, {
				nextSteps: [`move it away (mv ${file} ${file}.damaged), then run the command again`],
			});
		throw stateWriteError(error, file);
	}
}

/**
 * A state file's text, or undefined when there is none. Opened without
 * following a link (O_NOFOLLOW) and without waiting on a FIFO (O_NONBLOCK),
 * then read only if it is a regular file: a link, a FIFO, a socket, a
 * device or a folder in its place is a DamagedStateError saying which, never
 * a hang or a read of something elsewhere. With `secret` (what the file
 * holds: a private key, a password, a token) a file other users may read or
 * write is refused, as ssh refuses such a key.
 */
export function readStateFile(file: string, options: {nextSteps?: string[]; secret?: string} = {}): string | undefined {
	const steps = options.nextSteps ?? [`move it away (mv ${file} ${file}.damaged), then run the command again`];
	let fd: number;
	try {
		fd = openSync(file, constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === 'ENOENT') return undefined;
		const stats = lookAt(file);
		if (code === 'ELOOP' || stats?.isSymbolicLink()) throw linkError(file);
		// A socket cannot be opened (ENXIO).
		if (stats && !stats.isFile())
			throw new DamagedStateError(file, `is ${kindOf(stats)}, not a file`, {nextSteps: steps});
		throw new InputError(`cannot read ${file} (${code ?? (error as Error).message})`, {
			nextSteps: [
				`make it readable by you (ls -l ${file}), or point SWARMBEE_HOME at the folder that holds your clusters`,
			],
		});
	}
	try {
		const stats = fstatSync(fd);
		if (!stats.isFile()) throw new DamagedStateError(file, `is ${kindOf(stats)}, not a file`, {nextSteps: steps});
		if (options.secret && MODES_MATTER && (stats.mode & 0o077) !== 0)
			throw new InputError(`${file} is open to other users (mode ${octal(stats.mode)})`, {
				hint: `it holds ${options.secret}; swarmbee keeps secrets 0600 (as ssh does its keys) and uses none that others could read or change.`,
				nextSteps: [
					`chmod 600 ${file}, then run the command again`,
					'if other users could read it, treat what it holds as known to them',
				],
			});
		return readFileSync(fd, 'utf8');
	} finally {
		closeSync(fd);
	}
}
