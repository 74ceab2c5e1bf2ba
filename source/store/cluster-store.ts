import {randomUUID} from 'node:crypto';
import {
	closeSync,
	existsSync,
	mkdirSync,
	openSync,
	readdirSync,
	readFileSync,
	rmSync,
	statSync,
	writeSync,
} from 'node:fs';
import path from 'node:path';
import {BugError, InputError, SpecError} from '../errors.js';
import {stateWriteError, writeFileAtomic} from '../files.js';
import {redactDeep} from '../redact.js';
import {readPrivateKey} from '../ssh/keys.js';
import {checkName, resolveSpec, savedForm, type ClusterSpec, type SpecInput} from '../spec.js';
import {journalProblem, newJournal, type Journal, type NodeRecord} from './journal.js';

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

function clusterPaths(home: string, name: string): ClusterPaths {
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

/** What to do about a damaged file, by which file it is. */
function repairSteps(file: string, cluster: string): string[] {
	const kept = 'swarmbee never overwrites a state file it cannot read';
	if (path.basename(file) === 'journal.json') {
		return [
			`restore it from a copy if you have one; otherwise move it away (mv ${file} ${file}.damaged): swarmbee down ${cluster} --force then removes whatever carries the cluster's label, and swarmbee up ${cluster} builds it anew`,
			kept,
		];
	}
	if (path.basename(file) === 'spec.json') {
		return [
			`fix it by hand, or move it away (mv ${file} ${file}.damaged) and run swarmbee up ${cluster} with the flags it was made with`,
			kept,
		];
	}
	return [`fix it or move it away (mv ${file} ${file}.damaged)`, kept];
}

/**
 * A JSON state file, or undefined when there is none. A file cut short, not
 * JSON, or not a JSON object is a DamagedStateError naming it and the fix:
 * never a raw parse error, and never treated as absent (which would let a
 * run start over a cluster that exists).
 */
function readJson<T extends object>(file: string, cluster: string): T | undefined {
	let text: string;
	try {
		text = readFileSync(file, 'utf8');
	} catch (error) {
		const code = (error as NodeJS.ErrnoException).code;
		if (code === 'ENOENT') return undefined;
		throw new InputError(`cannot read ${file} (${code ?? (error as Error).message})`, {
			nextSteps: [
				`make it readable by you (ls -l ${file}), or point SWARMBEE_HOME at the folder that holds your clusters`,
			],
		});
	}
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch (error) {
		throw new DamagedStateError(
			file,
			text.trim() === '' ? 'is empty (a write cut short?)' : 'is not valid JSON (cut short or edited?)',
			{
				hint: (error as Error).message,
				nextSteps: repairSteps(file, cluster),
			},
		);
	}
	if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
		throw new DamagedStateError(
			file,
			`does not hold a JSON object (it holds ${parsed === null ? 'null' : Array.isArray(parsed) ? 'a list' : `a ${typeof parsed}`})`,
			{nextSteps: repairSteps(file, cluster)},
		);
	}
	return parsed as T;
}

export interface SavedCluster {
	name: string;
	spec?: ClusterSpec;
	journal?: Journal;
	/** Set when one of its files cannot be read: what is wrong and what to do (the others still list). */
	damage?: {file: string; message: string; nextSteps: string[]};
}

/** A cluster that exists, as commands that only read it need it. */
interface LoadedCluster {
	spec: ClusterSpec;
	journal: Journal;
	paths: ClusterPaths;
	/** The cluster's SSH key; absent before the keys step first ran. */
	privateKey?: string;
}

export class ClusterStore {
	constructor(readonly home: string) {}

	/**
	 * Every path of a cluster is built here, and only from a valid name: a
	 * name is a DNS label, so `../x` (or anything else that would leave
	 * clusters/) is refused before any file is touched, by every command.
	 */
	paths(name: string): ClusterPaths {
		const problem = checkName(name);
		if (problem) throw new SpecError([problem]);
		return clusterPaths(this.home, name);
	}

	exists(name: string): boolean {
		return existsSync(this.paths(name).spec) || existsSync(this.paths(name).journal);
	}

	list(): SavedCluster[] {
		const root = path.join(this.home, 'clusters');
		if (!existsSync(root)) return [];
		return (
			readdirSync(root, {withFileTypes: true})
				// A folder whose name no cluster could have is not swarmbee's.
				.filter(entry => entry.isDirectory() && checkName(entry.name) === undefined)
				.map(entry => this.savedCluster(entry.name))
				.filter(c => c.spec || c.journal || c.damage)
				.sort((a, b) => a.name.localeCompare(b.name))
		);
	}

	/** One cluster for list(): one damaged file spoils only its own entry. */
	private savedCluster(name: string): SavedCluster {
		const found: SavedCluster = {name};
		try {
			found.journal = this.loadJournal(name);
			found.spec = this.loadSpec(name);
		} catch (error) {
			if (!(error instanceof InputError)) throw error;
			found.damage = {
				file: error instanceof DamagedStateError ? error.file : this.paths(name).dir,
				message: error.message,
				nextSteps: error.nextSteps,
			};
		}
		return found;
	}

	/** The saved spec, with defaults filled for fields added since it was written. */
	loadSpec(name: string): ClusterSpec | undefined {
		const file = this.paths(name).spec;
		const raw = readJson<SpecInput>(file, name);
		if (!raw) return undefined;
		if (raw.name !== name) {
			throw new DamagedStateError(file, `names cluster ${JSON.stringify(raw.name)}, but it is the spec of ${name}`, {
				nextSteps: repairSteps(file, name),
			});
		}
		try {
			return resolveSpec(raw);
		} catch (error) {
			throw new DamagedStateError(file, 'does not describe a cluster swarmbee can build', {
				hint: (error as Error).message,
				nextSteps: repairSteps(file, name),
			});
		}
	}

	saveSpec(spec: ClusterSpec): void {
		writeFileAtomic(this.paths(spec.name).spec, `${JSON.stringify(redactDeep(savedForm(spec)), null, 2)}\n`);
	}

	/**
	 * A cluster's spec, journal and key, for commands that read a cluster
	 * (status, tunnel, stack, the dashboard); one that does not exist is an
	 * InputError naming those that do.
	 */
	loadCluster(name: string): LoadedCluster {
		const spec = this.loadSpec(name);
		const journal = this.loadJournal(name);
		const paths = this.paths(name);
		if (spec && !journal) {
			throw new InputError(`cluster ${name} was saved (${paths.spec}) but never built: it has no journal`, {
				nextSteps: [`build it: swarmbee up ${name}`],
			});
		}
		if (journal && !spec) {
			throw new InputError(`cluster ${name} has a journal but no saved configuration (${paths.spec} is missing)`, {
				nextSteps: [
					`swarmbee up ${name} with the flags it was made with writes it again`,
					`or remove what it has: swarmbee down ${name} --force`,
				],
			});
		}
		if (!spec || !journal) {
			const known = this.list()
				.filter(c => !c.damage)
				.map(c => c.name);
			throw new InputError(`there is no cluster named ${name} in ${this.home}`, {
				nextSteps: [
					known.length > 0 ? `known clusters: ${known.join(', ')}` : `create one: swarmbee up ${name}`,
					'or set SWARMBEE_HOME to the folder that holds it',
				],
			});
		}
		const privateKey = readPrivateKey(paths.clusterKey);
		return {spec, journal, paths, ...(privateKey ? {privateKey} : {})};
	}

	loadJournal(name: string): Journal | undefined {
		const file = this.paths(name).journal;
		const journal = readJson<Journal>(file, name);
		if (!journal) return undefined;
		const problem = journalProblem(journal, name);
		if (problem)
			throw new DamagedStateError(file, `is not a journal swarmbee can use: ${problem}`, {
				nextSteps: repairSteps(file, name),
			});
		return journal;
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
		// The first write of every run that changes a cluster: a state folder
		// swarmbee cannot write is reported here, before anything is created.
		try {
			mkdirSync(path.dirname(file), {recursive: true, mode: 0o700});
		} catch (error) {
			throw stateWriteError(error, path.dirname(file));
		}
		for (let attempt = 0; attempt < 2; attempt++) {
			try {
				const fd = openSync(file, 'wx', 0o600);
				writeSync(fd, JSON.stringify({pid: process.pid, command, at: new Date().toISOString()}));
				closeSync(fd);
				return () => rmSync(file, {force: true});
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw stateWriteError(error, file);
				const holder = lockHolder(file);
				if (holder === 'being written') {
					throw new InputError(`cluster ${name} is being locked by another swarmbee right now`, {
						nextSteps: ['wait a moment and run the command again'],
					});
				}
				if (holder && processAlive(holder.pid)) {
					throw new InputError(
						`cluster ${name} is busy: \`swarmbee ${holder.command}\` (pid ${holder.pid}) is working on it`,
						{
							nextSteps: ['wait for it to finish, or stop it with Ctrl-C; the next command resumes from its journal'],
						},
					);
				}
				rmSync(file, {force: true});
			}
		}
		throw new InputError(`could not lock cluster ${name} (${file})`);
	}
}

/** The command of the swarmbee that holds a cluster's lock now (`scale demo`), or undefined when none runs. */
export function runningCommand(lockFile: string): string | undefined {
	const holder = lockHolder(lockFile);
	if (holder === 'being written') return 'a command just starting';
	return holder && processAlive(holder.pid) ? holder.command : undefined;
}

/**
 * Who holds a lock. A lock file that cannot be read (a process killed
 * between creating and writing it) is stale once it is a few seconds old:
 * its writer is gone, so it is taken over rather than reported as damage.
 */
function lockHolder(file: string): {pid: number; command: string} | 'being written' | undefined {
	try {
		const holder = readJson<{pid?: unknown; command?: unknown}>(file, '');
		if (holder && typeof holder.pid === 'number' && typeof holder.command === 'string')
			return {pid: holder.pid, command: holder.command};
	} catch (error) {
		if (!(error instanceof DamagedStateError)) throw error;
	}
	try {
		return Date.now() - statSync(file).mtimeMs < 5_000 ? 'being written' : undefined;
	} catch {
		return undefined;
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
	constructor(
		readonly file: string,
		private current: Journal,
		private persisted = true,
	) {}

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

	/** Changes one node's record; a node the journal does not hold is a bug in the caller. */
	updateNode(name: string, mutate: (node: NodeRecord) => void): NodeRecord {
		let found: NodeRecord | undefined;
		this.update(j => {
			found = j.nodes.find(n => n.name === name);
			if (!found) throw new BugError(`the journal of ${j.cluster} has no node ${name}`);
			mutate(found);
		});
		return found!;
	}

	/**
	 * Changes the records of several nodes (one per item, by its name) in one
	 * write: a step that touches every node writes the journal once, not once
	 * per node.
	 */
	updateNodes<T extends {name: string}>(items: readonly T[], mutate: (node: NodeRecord, item: T) => void): void {
		if (items.length === 0) return;
		this.update(j => {
			for (const item of items) {
				const found = j.nodes.find(n => n.name === item.name);
				if (!found) throw new BugError(`the journal of ${j.cluster} has no node ${item.name}`);
				mutate(found, item);
			}
		});
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
