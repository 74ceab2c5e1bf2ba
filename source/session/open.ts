import {InputError} from '../errors.js';
import {swarmbeeHome} from '../paths.js';
import {providerCredential} from '../providers/credentials.js';
import {checkName, specForRun, type ClusterSpec, type SpecInput} from '../spec.js';
import {ClusterStore, JournalHandle} from '../store/cluster-store.js';
import {loadToken} from '../store/tokens.js';
import {Credentials} from './credentials.js';
import {ClusterSession} from './session.js';

/** What a session needs of the process: the environment, whether someone can be asked, and secrets handed over in it. */
export interface SessionIO {
	env: NodeJS.ProcessEnv;
	interactive: boolean;
	stdout: NodeJS.WritableStream;
	/** Secrets handed over in this process (the start screen, the wizard, a profile); made at first use. */
	credentials?: Credentials;
}

/** The cluster store of this process ($SWARMBEE_HOME). */
export function clusterStore(io: Pick<SessionIO, 'env'>): ClusterStore {
	return new ClusterStore(swarmbeeHome(io.env));
}

/** The credentials of this process: handed over, from the environment, or saved with a cluster's profile. */
export function credentialsOf(io: SessionIO): Credentials {
	if (!io.credentials) {
		const home = swarmbeeHome(io.env);
		io.credentials = new Credentials(io.env, cluster => savedToken(home, cluster));
	}
	return io.credentials;
}

/** The token the wizard saved with a cluster's profile, when the user asked it to (0600, `tokens/NAME`). */
function savedToken(home: string, cluster: string): string | undefined {
	return loadToken(home, cluster);
}

/** What a command needs of the cluster beyond its files. */
type Need =
	/** The provider's API (status, scale, down): its credential is looked for, and asked for in a terminal. */
	| 'provider'
	/** SSH to the nodes: the cluster's key exists. */
	| 'ssh'
	/** The database: SSH, and a database deployed (backup, restore, tunnel). */
	| 'database';

export interface OpenOptions {
	/** Take the cluster's lock for this command line (commands that change the cluster). */
	lock?: string;
	needs?: Need[];
	/** The command's own words, for what it cannot do: `back up`, `tunnel to`. */
	verb?: string;
}

/**
 * A cluster that exists, for a command that works on it: its spec and
 * journal as saved. One that does not exist, was never built, or lacks what
 * the command needs is an InputError saying what to do, before anything is
 * contacted.
 */
export async function openCluster(name: string, io: SessionIO, options: OpenOptions = {}): Promise<ClusterSession> {
	const store = clusterStore(io);
	const {spec, journal, privateKey} = store.loadCluster(name);
	const needs = new Set(options.needs ?? []);
	const verb = options.verb ?? 'work on';
	if ((needs.has('ssh') || needs.has('database')) && !privateKey) {
		throw new InputError(`${name} has no SSH key yet, so swarmbee cannot ${verb} it`, {
			nextSteps: [`build it first: swarmbee up ${name}`],
		});
	}
	if (needs.has('database') && (!journal.database || journal.state === 'down')) {
		throw new InputError(`${name} has no database to ${verb}`, {nextSteps: [`create it first: swarmbee up ${name}`]});
	}
	const session = new ClusterSession(
		store,
		spec,
		spec,
		new JournalHandle(store.paths(name).journal, journal),
		credentialsOf(io),
		io.env,
	);
	if (options.lock) session.lock(options.lock);
	try {
		if (needs.has('provider')) await askForCredential(session, io);
	} catch (error) {
		await session.close();
		throw error;
	}
	return session;
}

/**
 * A run that may create the cluster (`up`) or change what it asks (`scale`,
 * `down`): the spec given, the journal there or a new one kept in memory
 * until preflight passed. The lock is taken here, before anything else.
 */
export async function clusterForRun(
	spec: ClusterSpec,
	saved: ClusterSpec | undefined,
	io: SessionIO,
	options: {lock: string},
): Promise<ClusterSession> {
	const store = clusterStore(io);
	const fresh = !store.exists(spec.name);
	const release = store.lock(spec.name, options.lock);
	let journal: JournalHandle;
	try {
		journal = store.openJournal(spec);
	} catch (error) {
		release();
		throw error;
	}
	const session = new ClusterSession(store, spec, saved, journal, credentialsOf(io), io.env, fresh);
	session.adoptLock(release);
	try {
		await askForCredential(session, io);
	} catch (error) {
		await session.close();
		throw error;
	}
	return session;
}

/**
 * What `up` would do, looked at without changing anything: the spec the
 * flags ask for over the saved one, and the journal as it is (a new one in
 * memory for a cluster never built). No lock, nothing written.
 */
export async function planSession(name: string, input: SpecInput, io: SessionIO): Promise<ClusterSession> {
	const store = clusterStore(io);
	// A bad name is reported with every other problem of the flags, by resolveSpec.
	const saved = checkName(name) ? undefined : store.loadSpec(name);
	const spec = specForRun(saved, name, input);
	const session = new ClusterSession(store, spec, saved, store.openJournal(spec), credentialsOf(io), io.env);
	await askForCredential(session, io);
	return session;
}

/**
 * In a terminal, a provider's credential that is nowhere at hand is asked
 * for (masked, checked against the API) and kept in memory for this
 * process. Without a terminal nothing is asked: the provider's first call
 * says what is missing, with the fix.
 */
async function askForCredential(session: ClusterSession, io: SessionIO): Promise<void> {
	const provider = session.spec.provider;
	const credentials = credentialsOf(io);
	if (!io.interactive || !credentials.missing(provider, session.name)) return;
	const needs = providerCredential(provider);
	if (!needs) return;
	const [{askToken}, {inquirerPrompts}, {catalogsFor}] = await Promise.all([
		import('../wizard/wizard.js'),
		import('../wizard/prompts.js'),
		import('../wizard/catalog.js'),
	]);
	const prompts = await inquirerPrompts(io.stdout);
	prompts.say(
		`${session.name} is on ${provider} and no token is at hand ($${needs.env} is not set, none was saved for it).`,
	);
	credentials.hand(provider, await askToken(prompts, catalogsFor(io.env)));
}
