import {randomUUID} from 'node:crypto';
import {
	chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync,
} from 'node:fs';
import path from 'node:path';
import {InputError} from '../errors.js';
import {redactDeep} from '../redact.js';
import {resolveSpec, type ClusterSpec, type SpecInput} from '../spec.js';
import {newJournal, type Journal} from './journal.js';

/**
 * The files of one cluster, under `$SWARMBEE_HOME/clusters/<name>/`:
 *
 *     spec.json            what was asked for (a saved configuration)
 *     journal.json         what exists
 *     keys/id_ed25519      the cluster's SSH key (0600)
 *     keys/hosts/<node>    each node's host key, generated here (0600)
 *     logs/<node>/…        full per-node logs
 */
export interface ClusterPaths {
	dir: string;
	spec: string;
	journal: string;
	lock: string;
	keysDir: string;
	clusterKey: string;
	hostKeysDir: string;
	logsDir: string;
	/** The RethinkDB admin password swarmbee generated (0600). */
	rethinkdbPassword: string;
	/** The stack file last rendered (what `swarmbee stack NAME` prints). */
	stack: string;
}

export function clusterPaths(home: string, name: string): ClusterPaths {
	const dir = path.join(home, 'clusters', name);
	return {
		dir,
		spec: path.join(dir, 'spec.json'),
		journal: path.join(dir, 'journal.json'),
		lock: path.join(dir, 'lock'),
		keysDir: path.join(dir, 'keys'),
		clusterKey: path.join(dir, 'keys', 'id_ed25519'),
		hostKeysDir: path.join(dir, 'keys', 'hosts'),
		logsDir: path.join(dir, 'logs'),
		rethinkdbPassword: path.join(dir, 'keys', 'rethinkdb-admin-password'),
		stack: path.join(dir, 'stack.yml'),
	};
}

/** Writes through a temporary file and a rename, so a crash never leaves half a file. */
export function writeFileAtomic(file: string, contents: string, mode = 0o600): void {
	mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
	const temporary = `${file}.${process.pid}.tmp`;
	writeFileSync(temporary, contents, {mode});
	chmodSync(temporary, mode);
	renameSync(temporary, file);
}

function readJson<T>(file: string): T | undefined {
	if (!existsSync(file)) return undefined;
	try {
		return JSON.parse(readFileSync(file, 'utf8')) as T;
	} catch (error) {
		throw new InputError(`${file} is not valid JSON`, {
			hint: (error as Error).message,
			nextSteps: [`fix or move that file away; swarmbee never overwrites a state file it cannot read`],
		});
	}
}

export interface SavedCluster {
	name: string;
	spec?: ClusterSpec;
	journal?: Journal;
}

export class ClusterStore {
	constructor(readonly home: string) {}

	paths(name: string): ClusterPaths {
		return clusterPaths(this.home, name);
	}

	exists(name: string): boolean {
		return existsSync(this.paths(name).spec) || existsSync(this.paths(name).journal);
	}

	list(): SavedCluster[] {
		const root = path.join(this.home, 'clusters');
		if (!existsSync(root)) return [];
		return readdirSync(root, {withFileTypes: true})
			.filter(entry => entry.isDirectory())
			.map(entry => ({name: entry.name, spec: this.loadSpec(entry.name), journal: this.loadJournal(entry.name)}))
			.filter(c => c.spec || c.journal)
			.sort((a, b) => a.name.localeCompare(b.name));
	}

	/** The saved spec, with defaults filled for fields added since it was written. */
	loadSpec(name: string): ClusterSpec | undefined {
		const raw = readJson<SpecInput>(this.paths(name).spec);
		if (!raw) return undefined;
		try {
			return resolveSpec(raw);
		} catch (error) {
			throw new InputError(`${this.paths(name).spec} does not describe a cluster swarmbee can build`, {
				hint: (error as Error).message,
				nextSteps: ['fix the file, or remove the cluster folder and create it again'],
			});
		}
	}

	saveSpec(spec: ClusterSpec): void {
		writeFileAtomic(this.paths(spec.name).spec, `${JSON.stringify(redactDeep(spec), null, 2)}\n`);
	}

	loadJournal(name: string): Journal | undefined {
		return readJson<Journal>(this.paths(name).journal);
	}

	/**
	 * The journal for a cluster, or a new one (with a fresh owner id) kept in
	 * memory until `persist()`: a run that fails its preflight leaves no trace.
	 */
	openJournal(spec: ClusterSpec): JournalHandle {
		const existing = this.loadJournal(spec.name);
		const journal = existing ?? newJournal(spec.name, spec.provider, randomUUID());
		return new JournalHandle(this.paths(spec.name).journal, journal, existing !== undefined);
	}

	/** Removes everything kept for a cluster (after `down --forget`). */
	forget(name: string): void {
		rmSync(this.paths(name).dir, {recursive: true, force: true});
	}

	/**
	 * One swarmbee at a time per cluster. The lock names its process; a lock
	 * left by a process that is gone is taken over.
	 */
	lock(name: string, command: string): () => void {
		const file = this.paths(name).lock;
		mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
		for (let attempt = 0; attempt < 2; attempt++) {
			try {
				const fd = openSync(file, 'wx', 0o600);
				writeSync(fd, JSON.stringify({pid: process.pid, command, at: new Date().toISOString()}));
				closeSync(fd);
				return () => rmSync(file, {force: true});
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
				const holder = readJson<{pid: number; command: string}>(file);
				if (holder && processAlive(holder.pid)) {
					throw new InputError(`cluster ${name} is busy: \`swarmbee ${holder.command}\` (pid ${holder.pid}) is working on it`, {
						nextSteps: ['wait for it to finish, or stop it with Ctrl-C; the next command resumes from its journal'],
					});
				}
				rmSync(file, {force: true});
			}
		}
		throw new InputError(`could not lock cluster ${name} (${file})`);
	}
}

function processAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EPERM';
	}
}

/** The journal in memory plus its file; every `update` is on disk before it returns. */
export class JournalHandle {
	constructor(readonly file: string, private current: Journal, private persisted = true) {}

	get value(): Readonly<Journal> {
		return this.current;
	}

	get isPersisted(): boolean {
		return this.persisted;
	}

	update(mutate: (journal: Journal) => void): Journal {
		mutate(this.current);
		this.current.updatedAt = new Date().toISOString();
		if (this.persisted) this.save();
		return this.current;
	}

	/** From now on every update is written to disk. */
	persist(): void {
		this.persisted = true;
		this.save();
	}

	private save(): void {
		writeFileAtomic(this.file, `${JSON.stringify(redactDeep(this.current), null, 2)}\n`);
	}
}
