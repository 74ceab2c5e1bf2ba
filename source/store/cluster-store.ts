import {randomUUID} from 'node:crypto';
import {closeSync, existsSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, statSync, writeSync} from 'node:fs';
import path from 'node:path';
import {BugError, InputError, SpecError} from '../errors.js';
import {
	checkStateFolder,
	checkStateHome,
	checkStateSubfolders,
	DamagedStateError,
	readStateFile,
	stateWriteError,
	writeFileAtomic,
} from '../files.js';
import {redactDeep} from '../redact.js';
import {asSavedBefore, SPEC_FIELDS} from '../spec-fields.js';
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
 *     keys/tls/…           the database's CA and server certificates (database/tls-store.ts)
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
	/** The Docker socket `env` forwards, and its helper's files (access/docker-socket.ts). */
	dockerDir: string;
	/** The database's CA (its key 0600, never sent to a node) and each server's certificate and key. */
	tlsDir: string;
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
		dockerDir: path.join(dir, 'docker'),
		tlsDir: path.join(dir, 'keys', 'tls'),
	};
}

export {DamagedStateError} from '../files.js';

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
	// Never a link followed out of the state folder, never a wait on a FIFO.
	const text = readStateFile(file, {nextSteps: repairSteps(file, cluster)});
	if (text === undefined) return undefined;
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
	damage?: {file: string; message: string; hint?: string; nextSteps: string[]};
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
	/** A state folder that is a file, or that others can write, is refused here, before any command reads it. */
	constructor(readonly home: string) {
		checkStateHome(home);
	}

	/**
	 * Every path of a cluster is built here, and only from a valid name: a
	 * name is a DNS label, so `../x` (or anything else that would leave
	 * clusters/) is refused before any file is touched, by every command.
	 * Its folders are checked too: a link in place of one (which would take
	 * every read and write out of the state folder), something else than a
	 * folder, or a folder other users can write is refused, saying which.
	 */
	paths(name: string): ClusterPaths {
		const problem = checkName(name);
		if (problem) throw new SpecError([problem]);
		const paths = clusterPaths(this.home, name);
		for (const dir of [
			path.dirname(paths.dir),
			paths.dir,
			paths.keysDir,
			paths.hostKeysDir,
			paths.logsDir,
			paths.dockerDir,
		])
			checkStateFolder(dir);
		checkStateSubfolders(paths.logsDir);
		return paths;
	}

	exists(name: string): boolean {
		const paths = this.paths(name);
		return existsSync(paths.spec) || existsSync(paths.journal);
	}

	list(): SavedCluster[] {
		return this.scan().clusters;
	}

	/** What is in clusters/ that list() leaves out, and why: `ls` says so rather than hiding it. */
	skipped(): Array<{entry: string; why: string}> {
		return this.scan().skipped;
	}

	private scan(): {clusters: SavedCluster[]; skipped: Array<{entry: string; why: string}>} {
		const root = path.join(this.home, 'clusters');
		checkStateFolder(root);
		if (!existsSync(root)) return {clusters: [], skipped: []};
		const clusters: SavedCluster[] = [];
		const skipped: Array<{entry: string; why: string}> = [];
		for (const entry of readdirSync(root).sort()) {
			// What no cluster could be named is not swarmbee's: left alone, and said.
			if (checkName(entry) !== undefined) {
				// A name from outside: control characters shown as escapes, never sent to the terminal raw.
				const shown = /\p{Cc}/u.test(entry) ? JSON.stringify(entry) : entry;
				skipped.push({entry: path.join(root, shown), why: 'no cluster can have that name'});
				continue;
			}
			// A link or a file in a cluster's place is damage, with what to do (paths() says which).
			const found = this.savedCluster(entry);
			if (found.spec || found.journal || found.damage) clusters.push(found);
			else skipped.push({entry: path.join(root, entry), why: 'holds neither spec.json nor journal.json'});
		}
		return {clusters: clusters.sort((a, b) => a.name.localeCompare(b.name)), skipped};
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
				file: error instanceof DamagedStateError ? error.file : clusterPaths(this.home, name).dir,
				message: error.message,
				...(error.hint ? {hint: error.hint} : {}),
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
			return resolveSpec(asSavedBefore(raw));
		} catch (error) {
			// Every problem, each by the key spec.json spells it, with its fix: never only "2 problems".
			const problems = error instanceof SpecError ? error.problems : [];
			const key = (flag: string) => SPEC_FIELDS.find(f => f.flag === flag)?.key ?? flag;
			throw new DamagedStateError(file, 'does not describe a cluster swarmbee can build', {
				hint:
					problems.length > 0
						? problems.map(p => `"${key(p.field)}": ${p.problem}`).join('\n')
						: (error as Error).message,
				nextSteps: [...problems.map(p => `"${key(p.field)}": ${p.fix}`), ...repairSteps(file, name)],
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
		const dir = path.dirname(file);
		const madeHere = !existsSync(dir);
		// The first write of every run that changes a cluster: a state folder
		// swarmbee cannot write is reported here, before anything is created.
		try {
			mkdirSync(dir, {recursive: true, mode: 0o700});
		} catch (error) {
			throw stateWriteError(error, dir);
		}
		// A lock that could not be written (a full disk) is taken back, and the folder made for it:
		// a refused run leaves nothing that would look like another swarmbee at work.
		const undo = (fd: number | undefined) => {
			try {
				if (fd !== undefined) closeSync(fd);
			} catch {
				// Closed already: the file goes all the same.
			}
			rmSync(file, {force: true});
			if (madeHere) {
				try {
					rmdirSync(dir);
				} catch {
					// Not empty: someone else's since; left as it is.
				}
			}
		};
		for (let attempt = 0; attempt < 2; attempt++) {
			let fd: number | undefined;
			try {
				fd = openSync(file, 'wx', 0o600);
				writeSync(fd, JSON.stringify({pid: process.pid, command, at: new Date().toISOString()}));
				closeSync(fd);
				return () => rmSync(file, {force: true});
			} catch (error) {
				if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
					undo(fd);
					throw stateWriteError(error, file);
				}
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
