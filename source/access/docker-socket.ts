import {spawn} from 'node:child_process';
import {chmodSync, closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs';
import http from 'node:http';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {execaSync} from 'execa';
import {explainUnreachable} from './node-session.js';
import {connectToManager} from '../nodes/targets.js';
import {pause, withTimeout} from '../concurrency.js';
import {BugError, CancelledError, defined, errorInfo, ExternalError, InputError, type ErrorInfo} from '../errors.js';
import {checkStateFolder, openStateLog, readStateFile, writeFileAtomic} from '../files.js';
import {childEnvironment, redact} from '../redact.js';
import {LocalForward} from '../ssh/forward.js';
import type {SshConnection} from '../ssh/connection.js';
import type {SshPool} from '../ssh/pool.js';
import type {Journal} from '../store/journal.js';

/**
 * The manager's Docker socket, reached from this machine through a unix
 * socket that a small background process (the helper) forwards over
 * swarmbee's SSH: what `swarmbee env` points the docker CLI at. The
 * manager's socket is never published on a port; here only this user can
 * connect (0600 socket in a 0700 folder), and every SSH connection checks
 * the host key swarmbee installed.
 *
 *     clusters/<name>/docker/         0700
 *       docker.sock                   0600, the socket DOCKER_HOST names
 *       helper.json                   the helper's pid and socket
 *       helper.log                    0600, what the helper had to say
 */
export interface DockerSocketFiles {
	dir: string;
	socket: string;
	state: string;
	log: string;
}

interface HelperState {
	pid: number;
	cluster: string;
	socket: string;
	startedAt: string;
}

/** The manager's Docker socket, where Debian's docker.io (and Docker's own packages) put it. */
export const MANAGER_SOCKET = '/var/run/docker.sock';
/** Where a node's sshd refuses socket forwarding: the docker CLI on the node bridges its stdio to the socket (as docker's ssh:// does). */
const DIAL_STDIO = 'docker system dial-stdio';
/** The process the helper runs as (built next to this file). */
const HELPER = fileURLToPath(new URL('../docker-socket-helper.js', import.meta.url));
/** sun_path holds 108 bytes on Linux and 104 on macOS, the terminating NUL included. */
const SOCKET_PATH_LIMIT = 100;

export function dockerSocketFiles(clusterDir: string): DockerSocketFiles {
	const dir = path.join(clusterDir, 'docker');
	return {
		dir,
		socket: path.join(dir, 'docker.sock'),
		state: path.join(dir, 'helper.json'),
		log: path.join(dir, 'helper.log'),
	};
}

/** `unix:///…/docker.sock`, as DOCKER_HOST and a docker context want it. */
export function dockerHostUrl(socket: string): string {
	return `unix://${socket}`;
}

/**
 * A folder of this user's alone (0700), made if missing. A link in its
 * place, or something else than a folder, is refused (the socket would be
 * made wherever it points); one looser than 0700 is tightened.
 */
function privateFolder(dir: string): void {
	checkStateFolder(dir);
	mkdirSync(dir, {recursive: true, mode: 0o700});
	checkStateFolder(dir);
	chmodSync(dir, 0o700);
}

/**
 * Where the socket goes: in the state folder, unless that path is too long
 * for a unix socket (a deep SWARMBEE_HOME, a long name on macOS); then in a
 * fresh 0700 folder of the temporary directory (mkdtemp: its name cannot be
 * guessed or taken first), remembered in helper.json.
 */
function socketPathFor(files: DockerSocketFiles): string {
	if (Buffer.byteLength(files.socket) <= SOCKET_PATH_LIMIT) return files.socket;
	return path.join(mkdtempSync(path.join(tmpdir(), 'swarmbee-')), 'docker.sock');
}

/** Where a helper may have made its socket: the state folder's, or a fresh folder of its own in the temporary directory. */
function isSocketPath(files: DockerSocketFiles, socket: unknown): socket is string {
	if (typeof socket !== 'string') return false;
	if (socket === files.socket) return true;
	return (
		path.basename(socket) === 'docker.sock' &&
		path.dirname(path.dirname(socket)) === tmpdir() &&
		/^swarmbee-[A-Za-z0-9]{6}$/.test(path.basename(path.dirname(socket)))
	);
}

/**
 * helper.json as the helper wrote it, or undefined. It is checked before
 * anything in it is used: a pid, this cluster's name, and a socket where a
 * helper makes one. A file edited to name another process or another path
 * is not believed (the helper is then found by its arguments, and no file
 * it names is removed).
 */
function readState(files: DockerSocketFiles, cluster: string): HelperState | undefined {
	let state: Partial<HelperState>;
	try {
		state = JSON.parse(readStateFile(files.state) ?? 'null') as Partial<HelperState>;
	} catch {
		return undefined;
	}
	if (
		!state ||
		typeof state !== 'object' ||
		!Number.isSafeInteger(state.pid) ||
		(state.pid as number) <= 1 ||
		state.cluster !== cluster ||
		!isSocketPath(files, state.socket)
	)
		return undefined;
	return state as HelperState;
}

/**
 * The arguments of a running process, or undefined when none has that pid
 * (a zombie has none either: it has stopped, only its exit is unread).
 */
function argumentsOf(pid: number): string[] | undefined {
	try {
		process.kill(pid, 0);
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
	}
	const proc = `/proc/${pid}/cmdline`;
	if (existsSync(proc)) {
		const args = readFileSync(proc, 'utf8').split('\0').filter(Boolean);
		return args.length > 0 ? args : undefined;
	}
	// No /proc (macOS): ps, whose one line of arguments is split on spaces.
	const ps = execaSync('ps', ['-o', 'args=', '-p', String(pid)], {reject: false});
	return ps.exitCode === 0 && String(ps.stdout).trim() ? String(ps.stdout).trim().split(/\s+/) : undefined;
}

/** The helper's own arguments: `node docker-socket-helper.js HOME NAME`. */
function helperOf(args: readonly string[] | undefined, home: string, cluster: string): boolean {
	return args !== undefined && args.at(-3) === HELPER && args.at(-2) === home && args.at(-1) === cluster;
}

/** Whether `pid` is this cluster's helper (not another process that got the pid of one long gone). */
function isHelper(state: HelperState, home: string): boolean {
	return helperOf(argumentsOf(state.pid), home, state.cluster);
}

/**
 * Every running helper of this cluster, found by its arguments rather than
 * by helper.json (which may be gone, stale or edited): /proc where there is
 * one, else `ps`.
 */
function runningHelpers(home: string, cluster: string): number[] {
	const found: number[] = [];
	if (existsSync('/proc/self/cmdline')) {
		for (const entry of readdirSync('/proc')) {
			if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
			try {
				const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
				if (helperOf(args, home, cluster)) found.push(Number(entry));
			} catch {
				// Gone while we looked, or not ours to read.
			}
		}
		return found;
	}
	const ps = execaSync('ps', ['-axo', 'pid=,args='], {reject: false});
	for (const line of String(ps.stdout).split('\n')) {
		const [pid, ...args] = line.trim().split(/\s+/);
		if (pid && helperOf(args, home, cluster) && Number(pid) !== process.pid) found.push(Number(pid));
	}
	return found;
}

/** HOME and NAME of a cluster's folder, `HOME/clusters/NAME`, as the helper was started with them. */
function homeAndName(clusterDir: string): {home: string; name: string} {
	return {home: path.dirname(path.dirname(clusterDir)), name: path.basename(clusterDir)};
}

/** Removes a socket, and its folder when that was a temporary one of its own. */
function removeSocket(files: DockerSocketFiles, socket: string): void {
	if (!isSocketPath(files, socket)) return;
	rmSync(socket, {force: true});
	const folder = path.dirname(socket);
	if (folder !== files.dir) rmSync(folder, {recursive: true, force: true});
}

/** Removes what a helper that is gone left: helper.json and its socket. */
function removeLeftovers(files: DockerSocketFiles, state: HelperState | undefined): void {
	removeSocket(files, files.socket);
	if (state?.socket) removeSocket(files, state.socket);
	rmSync(files.state, {force: true});
}

/**
 * Asks the Docker engine behind `socket` for `/_ping`: the whole way (socket,
 * helper, SSH, the manager's dockerd) answers, or the error says which part
 * to look at.
 */
export function pingDocker(socket: string, timeoutMs = 15_000): Promise<void> {
	return new Promise((resolve, reject) => {
		const request = http.get({socketPath: socket, path: '/_ping', timeout: timeoutMs}, response => {
			response.resume();
			if (response.statusCode === 200) resolve();
			else reject(new ExternalError(`the manager's Docker answered /_ping with HTTP ${response.statusCode}`));
		});
		request.on('timeout', () => request.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)));
		request.on('error', error =>
			reject(new ExternalError(`the manager's Docker did not answer through ${socket}: ${error.message}`)),
		);
	});
}

/**
 * What the docker CLI is answered when the manager cannot be reached: an
 * API error, which it shows as `Error response from daemon: swarmbee: …`
 * (a closed connection would read "connection reset by peer").
 */
export function dockerErrorResponse(error: Error): string {
	const info = errorInfo(error);
	const body = JSON.stringify({
		message: redact(
			`swarmbee: ${info.message}${info.nextSteps.length > 0 ? ` (try: ${info.nextSteps.join('; ')})` : ''}`,
		),
	});
	return `HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** An error the helper sent over IPC, as the class it was. */
function errorFrom(info: ErrorInfo, logFile: string): Error {
	const details = {
		...(info.hint ? {hint: info.hint} : {}),
		nextSteps: info.nextSteps,
		...(info.node ? {node: info.node} : {}),
		logFile,
	};
	if (info.kind === 'input') return new InputError(info.message, details);
	if (info.kind === 'cancelled') return new CancelledError(info.message, details);
	if (info.kind === 'bug') return new BugError(info.message, details);
	return new ExternalError(info.message, details);
}

type HelperMessage = {type: 'ready'; socket: string} | {type: 'failed'; error: ErrorInfo};

/**
 * Makes sure this cluster's helper runs and answers, and returns its socket.
 * A helper already running is kept when Docker answers through it; one that
 * does not (or a stale helper.json) is replaced. A new helper connects to a
 * manager first: a node that is down, or a host key swarmbee did not
 * install, is this call's error, and no helper is left behind.
 */
export async function startDockerSocket(options: {
	home: string;
	name: string;
	clusterDir: string;
}): Promise<{socket: string; pid: number; reused: boolean}> {
	const files = dockerSocketFiles(options.clusterDir);
	const state = readState(files, options.name);
	if (state && isHelper(state, options.home)) {
		try {
			await pingDocker(state.socket, 5_000);
			return {socket: state.socket, pid: state.pid, reused: true};
		} catch {
			// Stopped below, with any other helper of this cluster.
		}
	}
	// A helper helper.json does not vouch for (gone, stale, edited) is stopped, not left serving beside a new one.
	await stopDockerSocket(options.clusterDir);
	privateFolder(files.dir);
	// The log of this helper's run alone (the last one's is of no use once it is gone); never written through a link.
	const log = openStateLog(files.log);
	// Its own session (detached), no terminal, stdout nowhere: `$(swarmbee env demo)` returns at once and a closed terminal does not take it down.
	const child = spawn(process.execPath, [HELPER, options.home, options.name], {
		detached: true,
		stdio: ['ignore', 'ignore', log, 'ipc'],
		env: childEnvironment(process.env),
	});
	closeSync(log);
	const answer = await new Promise<HelperMessage>(resolve => {
		const timer = setTimeout(() => {
			child.kill('SIGTERM');
			resolve({
				type: 'failed',
				error: {
					kind: 'external',
					message: 'the Docker socket helper was not ready within 45 s',
					nextSteps: [`see ${files.log}`],
				},
			});
		}, 45_000);
		child.once('message', message => {
			clearTimeout(timer);
			resolve(message as HelperMessage);
		});
		child.once('exit', code => {
			clearTimeout(timer);
			resolve({
				type: 'failed',
				error: {
					kind: 'external',
					message: `the Docker socket helper stopped (exit ${code}) before it was ready`,
					nextSteps: [`see ${files.log}`],
				},
			});
		});
	});
	child.removeAllListeners();
	if (answer.type === 'failed') {
		if (child.exitCode === null) child.kill('SIGTERM');
		throw errorFrom(answer.error, files.log);
	}
	if (child.connected) child.disconnect();
	child.unref();
	try {
		await pingDocker(answer.socket);
	} catch (error) {
		await stopDockerSocket(options.clusterDir);
		throw error;
	}
	return {
		socket: answer.socket,
		pid: defined(child.pid, 'the Docker socket helper answered without a process id'),
		reused: false,
	};
}

/**
 * Stops this cluster's helper, if one runs, and removes its socket: nothing
 * of it is left. The helper is found by its arguments (`node
 * docker-socket-helper.js HOME NAME`) as well as by helper.json, so an
 * edited or missing helper.json leaves none running; only a process that
 * is this cluster's helper is signalled, whatever pid the file names.
 */
export async function stopDockerSocket(clusterDir: string): Promise<{stopped: number | undefined}> {
	const files = dockerSocketFiles(clusterDir);
	const {home, name} = homeAndName(clusterDir);
	const state = readState(files, name);
	const helpers = new Set(runningHelpers(home, name));
	if (state && isHelper(state, home)) helpers.add(state.pid);
	await Promise.all(
		[...helpers].map(async pid => {
			try {
				process.kill(pid, 'SIGTERM');
			} catch {
				return;
			}
			for (let waited = 0; helperOf(argumentsOf(pid), home, name); waited += 50) {
				if (waited >= 5_000) {
					try {
						process.kill(pid, 'SIGKILL');
					} catch {
						// Gone just now.
					}
					break;
				}
				await pause(50);
			}
		}),
	);
	removeLeftovers(files, state);
	return {stopped: state && helpers.has(state.pid) ? state.pid : [...helpers][0]};
}

/**
 * The helper's work (its process: source/docker-socket-helper.ts): connect to a
 * manager, listen on the socket, say ready, then forward every connection
 * to the manager's Docker socket until SIGTERM (`env --unset`) or until the
 * cluster is gone (`down`). Each connection goes to the first manager that
 * answers, through a pool that reconnects, always with the pinned host key.
 */
export async function serveDockerSocket(options: {
	/** The cluster's session (opened by the helper's entry): its journal, and its SSH pool, which reconnects. */
	cluster: {
		name: string;
		paths: {dir: string};
		journal: {readonly value: Readonly<Journal>};
		ssh: SshPool;
		/** Whether the cluster is gone (down, forgotten): the helper then stops. */
		gone(): boolean;
	};
	onReady: (socket: string) => void;
	log: (line: string) => void;
}): Promise<void> {
	const {cluster} = options;
	const journal = cluster.journal.value;
	const files = dockerSocketFiles(cluster.paths.dir);
	const pool = cluster.ssh;
	// The docker CLI opens several connections per command: they wait for one connect together, and a manager
	// that just failed is not waited for again for 10 s (each would wait out its own SSH timeout).
	let failed: {at: number; error: unknown} | undefined;
	let connecting: ReturnType<typeof connectToManager<SshConnection>> | undefined;
	const openManagerSocket = async () => {
		if (failed && Date.now() - failed.at < 10_000) throw failed.error;
		try {
			connecting ??= connectToManager(journal, pool).finally(() => {
				connecting = undefined;
			});
			const {manager, shell} = await connecting;
			// A connection kept from before that the manager's going made silent answers nothing, and keepalives
			// take 15 s to tell: a channel not open within 5 s drops it.
			const channel = await withTimeout(shell.forwardOutToSocket(MANAGER_SOCKET, DIAL_STDIO), 5_000, () => {
				pool.drop(manager);
				return new ExternalError(`${manager} did not open its Docker socket within 5 s over SSH`, {
					node: manager,
					nextSteps: [`is the machine running? swarmbee status ${cluster.name} --once`],
				});
			});
			failed = undefined;
			return channel;
		} catch (error) {
			failed = {at: Date.now(), error: explainUnreachable(error, cluster.name)};
			throw failed.error;
		}
	};
	let forward: LocalForward | undefined;
	let socket: string | undefined;
	try {
		(await openManagerSocket()).destroy();
		socket = socketPathFor(files);
		privateFolder(path.dirname(socket));
		forward = await LocalForward.listenOnSocket(socket, openManagerSocket, {
			onError: error => options.log(`a connection could not reach the manager's Docker: ${redact(error.message)}`),
			refusal: error => dockerErrorResponse(error),
		});
		writeFileAtomic(
			files.state,
			`${JSON.stringify({pid: process.pid, cluster: cluster.name, socket, startedAt: new Date().toISOString()} satisfies HelperState)}\n`,
		);
		options.onReady(socket);
		options.log(`serving ${socket} for ${cluster.name}`);
		await new Promise<void>(resolve => {
			const stop = (why: string) => {
				options.log(why);
				clearInterval(watch);
				resolve();
			};
			for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const)
				process.once(signal, () => stop(`${signal}: stopping`));
			// After `down` (or `down --forget`) there is no swarm left to reach.
			// A state folder that can no longer be trusted (a link, loose modes, a damaged journal) stops it too, saying why.
			const watch = setInterval(() => {
				try {
					if (cluster.gone()) stop(`${cluster.name} is down: stopping`);
				} catch (error) {
					stop(`${cluster.name}'s state cannot be read (${errorInfo(error).message}): stopping`);
				}
			}, 5_000);
		});
	} finally {
		// Only what this helper made goes: a socket another helper serves stays.
		// forward is only ever made after socket is set.
		if (forward && socket !== undefined) {
			await forward.close();
			removeSocket(files, socket);
		} else if (socket && socket !== files.socket) {
			removeSocket(files, socket);
		}
		if (readState(files, cluster.name)?.pid === process.pid) rmSync(files.state, {force: true});
	}
}
