import {requirePassword} from '../database/password.js';
import {openDatabase, databaseNodes, type DatabaseSession} from '../database/rethinkdb.js';
import {connectToManager, sshTarget} from '../nodes/targets.js';
import {DockerCli} from '../docker/cli.js';
import {InputError} from '../errors.js';
import {createProvider} from '../providers/index.js';
import type {Provider} from '../providers/types.js';
import type {ClusterSpec} from '../spec.js';
import {SshConnection} from '../ssh/connection.js';
import {generateKeyPair, loadKeyPair, type KeyPair} from '../ssh/keys.js';
import {SshPool} from '../ssh/pool.js';
import type {ClusterPaths, ClusterStore, JournalHandle} from '../store/cluster-store.js';
import type {Credentials} from './credentials.js';

/**
 * One cluster, as every command works with it (kind's cluster.Provider,
 * Kamal's Commander): what was asked (the spec) and what exists (the
 * journal), the provider with its credential resolved, the one SSH pool
 * (targets from the journal, the cluster's key, only the host keys swarmbee
 * installed), the manager that answers, and the database. A command opens
 * one (`openCluster`, `clusterForRun`), works through it, and closes it;
 * what it opened (connections, the lock, the database session) goes with it.
 *
 * Parts are made at first use: `swarmbee stack` never connects anywhere,
 * `swarmbee ssh` never asks the provider.
 */
export class ClusterSession {
	private pool?: SshPool;
	private providerMade?: Provider;
	private databaseOpen?: Promise<DatabaseSession>;
	private key?: KeyPair;
	private locked?: () => void;
	readonly docker = new DockerCli();

	constructor(
		readonly store: ClusterStore,
		/** What this session works with: the saved spec, or, for a run, what the command line asked. */
		readonly spec: ClusterSpec,
		/** The spec as saved before this session (undefined for a cluster never built). */
		readonly saved: ClusterSpec | undefined,
		readonly journal: JournalHandle,
		private readonly credentials: Credentials,
		private readonly env: NodeJS.ProcessEnv,
		/** A cluster with no files before this session: if nothing of it was written (preflight refused), its folder goes with the session. */
		private readonly fresh = false,
	) {}

	get name(): string {
		return this.spec.name;
	}

	get paths(): ClusterPaths {
		return this.store.paths(this.spec.name);
	}

	/**
	 * The cluster's SSH key: read from its file, or, for a cluster whose keys
	 * step has not run, made in memory (that step writes it once preflight
	 * passed, so a refused run leaves nothing on disk).
	 */
	get clusterKey(): KeyPair {
		this.key ??= loadKeyPair(this.paths.clusterKey) ?? generateKeyPair(`swarmbee-${this.spec.name}`);
		return this.key;
	}

	/** Whether the cluster's key is on disk: before that no node can be reached. */
	get hasKey(): boolean {
		return loadKeyPair(this.paths.clusterKey) !== undefined;
	}

	/** The one SSH pool of this session: one connection per node, shared by every step and read. */
	get ssh(): SshPool {
		this.pool ??= new SshPool(node => sshTarget(this.journal.value, node, this.clusterKey.privateKey));
		return this.pool;
	}

	/**
	 * A connection of its own to a node, outside the pool, for what holds it
	 * for long (a tunnel's forwards, a terminal): the pool's connections come
	 * and go with refreshes, and closing this one touches nothing else.
	 */
	connect(node: string, signal?: AbortSignal): Promise<SshConnection> {
		return SshConnection.connect(sshTarget(this.journal.value, node, this.clusterKey.privateKey), {signal});
	}

	/** The provider, with the credential the session resolved (see `openCluster`'s `needs`). */
	get provider(): Provider {
		this.providerMade ??= createProvider(this.spec, this.docker, {
			env: this.env,
			credential: this.credentials.find(this.spec.provider, this.spec.name),
		});
		return this.providerMade;
	}

	/** For a run whose provider was already asked (the price shown before creating machines). */
	useProvider(provider: Provider): void {
		this.providerMade = provider;
	}

	/** The first manager that answers over SSH (one down does not stop a command another can serve). */
	manager(signal?: AbortSignal): Promise<{manager: string; shell: SshConnection}> {
		return connectToManager(this.journal.value, this.ssh, signal);
	}

	/** The RethinkDB admin password; a cluster with a database and no password file is told how to recover. */
	password(): string {
		return requirePassword(this.paths.rethinkdbPassword, this.spec.name);
	}

	/**
	 * A driver connection to the cluster's database over this session's SSH
	 * (never a published port), opened once and kept until `close`.
	 */
	database(signal?: AbortSignal): Promise<DatabaseSession> {
		if (!this.journal.value.database) {
			return Promise.reject(
				new InputError(`${this.spec.name} has no database yet`, {
					nextSteps: [`create it first: swarmbee up ${this.spec.name}`],
				}),
			);
		}
		this.databaseOpen ??= openDatabase({
			ssh: this.ssh,
			...databaseNodes(this.journal.value),
			password: this.password(),
			signal,
		});
		const opening = this.databaseOpen;
		// A failed open is not kept: the next call tries again.
		opening.catch(() => {
			if (this.databaseOpen === opening) this.databaseOpen = undefined;
		});
		return opening;
	}

	/** One swarmbee at a time changes a cluster: held until `unlock` or `close`. */
	lock(command: string): void {
		if (this.locked) return;
		this.locked = this.store.lock(this.spec.name, command);
	}

	/** A lock taken before the session existed (clusterForRun takes it before reading the journal). */
	adoptLock(release: () => void): void {
		this.locked = release;
	}

	/** Lets other commands change the cluster (the dashboard after a run only reads). */
	unlock(): void {
		this.locked?.();
		this.locked = undefined;
	}

	/** Closes what the session opened: the database session, every SSH connection, the lock. */
	async close(): Promise<void> {
		const database = this.databaseOpen;
		this.databaseOpen = undefined;
		await database?.then(
			d => d.close(),
			() => {},
		);
		this.pool?.closeAll();
		this.unlock();
		if (this.fresh && !this.journal.isPersisted) this.store.forget(this.spec.name);
	}
}
