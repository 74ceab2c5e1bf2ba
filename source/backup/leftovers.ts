import {lstatSync, readdirSync, rmSync, type Stats} from 'node:fs';
import path from 'node:path';

const PARTIAL = /^\.(.+\.tar\.gz)\.(\d+)\.partial$/;
/** The spool folders swarmbee made in TMPDIR before backups and restores streamed (mkdtemp's six characters). */
const OLD_SPOOL = /^swarmbee-(backup|restore)-[A-Za-z0-9]{6}$/;
/** An old spool folder untouched this long belongs to no running command. */
const OLD_SPOOL_AGE_MS = 60 * 60 * 1000;

/**
 * Partial archives in `folder` (`.NAME.tar.gz.PID.partial`) whose backup
 * process is gone (killed with `kill -9`, or the machine stopped): removed,
 * and returned to be said. One whose process still runs is left alone.
 */
export function removeAbandonedPartials(folder: string, alive: (pid: number) => boolean = isAlive): string[] {
	const removed: string[] = [];
	for (const name of list(folder)) {
		const match = PARTIAL.exec(name);
		if (!match) continue;
		const pid = Number(match[2]);
		if (pid === process.pid || alive(pid)) continue;
		if (removeIf(path.join(folder, name), stat => stat.isFile())) removed.push(path.join(folder, name));
	}
	return removed;
}

/**
 * Spool folders left in TMPDIR by the swarmbee versions that spooled
 * (`swarmbee-backup-XXXXXX`, `swarmbee-restore-XXXXXX`), when a run was
 * killed: removed once an hour old, and returned to be said. This version
 * spools nothing.
 */
export function removeOldSpools(tmp: string, now = Date.now()): string[] {
	const removed: string[] = [];
	for (const name of list(tmp)) {
		if (!OLD_SPOOL.test(name)) continue;
		const folder = path.join(tmp, name);
		if (removeIf(folder, stat => stat.isDirectory() && now - stat.mtimeMs > OLD_SPOOL_AGE_MS, true))
			removed.push(folder);
	}
	return removed;
}

function list(folder: string): string[] {
	try {
		return readdirSync(folder);
	} catch {
		return [];
	}
}

function removeIf(file: string, test: (stat: Stats) => boolean, recursive = false): boolean {
	try {
		// lstat: a link with such a name is neither followed nor removed.
		const stat = lstatSync(file);
		if (stat.isSymbolicLink() || stat.uid !== process.getuid?.() || !test(stat)) return false;
		rmSync(file, {force: true, recursive});
		return true;
	} catch {
		// Another run removed it first, or it is not ours to remove.
		return false;
	}
}

function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}
