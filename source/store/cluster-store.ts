import {randomUUID} from 'node:crypto';
import {closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync} from 'node:fs';
import path from 'node:path';
import {BugError, InputError} from '../errors.js';
import {writeFileAtomic} from '../files.js';
import {redactDeep} from '../redact.js';
import {resolveSpec, savedForm, type ClusterSpec, type SpecInput} from '../spec.js';
import {newJournal, type Journal, type NodeRecord} from './journal.js';

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
		if (!spec || !journal) {
			const known = this.list().map(c => c.name);
			throw new InputError(`there is no cluster named ${name} in ${this.home}`, {
				nextSteps: [known.length > 0 ? `known clusters: ${known.join(', ')}` : `create one: swarmbee up ${name}`, 'or set SWARMBEE_HOME to the folder that holds it'],
			});
		}
		const paths = this.paths(name);
		const privateKey = existsSync(paths.clusterKey) ? readFileSync(paths.clusterKey, 'utf8') : undefined;
		return {spec, journal, paths, ...(privateKey ? {privateKey} : {})};
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

	/** From now on every update is written to disk. */
	persist(): void {
		this.persisted = true;
		this.save();
	}

	private save(): void {
		writeFileAtomic(this.file, `${JSON.stringify(redactDeep(this.current), null, 2)}\n`);
	}
}
