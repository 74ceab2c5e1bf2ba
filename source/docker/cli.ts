import {readFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {Writable} from 'node:stream';
import {execa} from 'execa';
import {CancelledError, defined, ExternalError} from '../errors.js';
import {childEnvironment} from '../redact.js';
import {lineSplitter} from '../ssh/connection.js';

export interface DockerRunOptions {
	signal?: AbortSignal;
	/** Fed to the command's stdin. */
	input?: string | Buffer | NodeJS.ReadableStream;
	/** Called with each line the command prints (stdout and stderr). */
	onLine?: (line: string) => void;
	/** Extra environment, e.g. DOCKER_BUILDKIT. */
	env?: Record<string, string>;
	/** Where the command's stdout goes instead of being kept (`docker save`'s archive); ended when the command ends. */
	stdoutTo?: Writable;
	timeoutMs?: number;
}

/** A docker CLI command that exited non-zero. */
export class DockerCommandError extends ExternalError {
	constructor(
		readonly args: string[],
		readonly stderr: string,
		readonly exitCode: number | undefined,
	) {
		const last = stderr.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
		super(`docker ${args.slice(0, 3).join(' ')} failed${last ? `: ${last}` : ''}`);
	}
}

const NO_ENGINE =
	/Cannot connect to the Docker daemon|Is the docker daemon running|error during connect|no such host|connection refused|permission denied while trying to connect/i;

/** The engine is not there (or not ours to use): the first thing a new user may hit. */
export class NoEngineError extends ExternalError {
	constructor(detail: string) {
		super('no Docker engine is reachable', {
			hint: detail,
			nextSteps: [
				'start Docker (e.g. `sudo systemctl start docker`, or open Docker Desktop)',
				'or point DOCKER_HOST at a running engine, then run the same command again',
				'check with: docker version',
			],
		});
	}
}

/** A DOCKER_HOST that `swarmbee env` printed: a cluster manager's engine, reached through a local socket. */
const CLUSTER_SOCKET = /^unix:\/\/.*\/clusters\/[^/]+\/docker\/docker\.sock$/;
/** The docker context `swarmbee env --context` makes. */
const CLUSTER_CONTEXT = /^swarmbee-/;

/**
 * The environment that reaches this machine's engine. `eval "$(swarmbee env demo)"`
 * points the user's docker CLI at a cluster's manager; swarmbee's own docker
 * commands (the local provider's nodes, image builds, side-loading) must not
 * follow it there: `swarmbee down demo` in that shell would look for demo's
 * nodes inside demo's manager. A DOCKER_HOST or DOCKER_CONTEXT that swarmbee
 * made is left out; a current context of swarmbee's (`docker context use
 * swarmbee-demo`) is overridden by the default one. Any other engine the user
 * chose is theirs and kept.
 */
export function engineEnvironment(
	env: Record<string, string | undefined>,
	currentContext: () => string | undefined = () => currentDockerContext(env),
): Record<string, string | undefined> {
	const out = {...env};
	if (out['DOCKER_HOST'] && CLUSTER_SOCKET.test(out['DOCKER_HOST'])) delete out['DOCKER_HOST'];
	if (out['DOCKER_CONTEXT'] && CLUSTER_CONTEXT.test(out['DOCKER_CONTEXT'])) delete out['DOCKER_CONTEXT'];
	if (!out['DOCKER_HOST'] && !out['DOCKER_CONTEXT'] && CLUSTER_CONTEXT.test(currentContext() ?? ''))
		out['DOCKER_CONTEXT'] = 'default';
	return out;
}

/** The docker CLI's current context from its config file (`docker context use`), if any. */
function currentDockerContext(env: Record<string, string | undefined>): string | undefined {
	const dir = env['DOCKER_CONFIG'] || path.join(env['HOME'] || os.homedir(), '.docker');
	try {
		const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as {currentContext?: unknown};
		return typeof config.currentContext === 'string' ? config.currentContext : undefined;
	} catch {
		return undefined;
	}
}

/** What steps and image code use of the engine: a test's recorder extends DockerCli and answers `run`. */
export type DockerEngine = Pick<DockerCli, 'run' | 'jsonLines' | 'inspect' | 'imageId' | 'serverVersion'>;

/**
 * The local Docker engine, through its CLI. Used by the local provider and to
 * build and side-load images; arguments are always arrays, never a shell line.
 */
export class DockerCli {
	constructor(private readonly baseEnv: Record<string, string | undefined> = {}) {}

	/** The docker CLI's current context, read from its config file once per engine, not before every command. */
	private context?: {name: string | undefined};
	private currentContext(): string | undefined {
		this.context ??= {name: currentDockerContext(process.env)};
		return this.context.name;
	}

	async run(args: string[], options: DockerRunOptions = {}): Promise<string> {
		if (options.signal?.aborted) throw new CancelledError();
		const subprocess = execa('docker', args, {
			reject: false,
			cancelSignal: options.signal,
			forceKillAfterDelay: 5_000,
			// Built whole, not merged into ours by execa: the token stays with swarmbee.
			extendEnv: false,
			env: childEnvironment(
				engineEnvironment(process.env, () => this.currentContext()),
				{
					...this.baseEnv,
					...options.env,
				},
			),
			...(options.input === undefined
				? {stdin: 'ignore' as const}
				: typeof options.input === 'string' || Buffer.isBuffer(options.input)
					? {input: options.input}
					: {stdin: 'pipe' as const}),
			// Piped into the stream (ended with the command), never kept: an image archive is hundreds of MB.
			...(options.stdoutTo === undefined
				? {}
				: {stdout: ['pipe', options.stdoutTo] as ['pipe', Writable], buffer: {stdout: false}}),
			timeout: options.timeoutMs,
			stripFinalNewline: true,
			maxBuffer: 512 * 1024 * 1024,
		});
		if (options.input && typeof options.input !== 'string' && !Buffer.isBuffer(options.input)) {
			// stdin is 'pipe' for a stream input (above), so execa made one.
			options.input.pipe(defined(subprocess.stdin, 'docker was started without a stdin pipe for its input'));
		}
		if (options.onLine) {
			const out = lineSplitter(options.onLine);
			const err = lineSplitter(options.onLine);
			subprocess.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
			subprocess.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
			subprocess.once('exit', () => {
				out.flush();
				err.flush();
			});
		}
		const result = await subprocess;
		if (result.isCanceled || options.signal?.aborted) throw new CancelledError();
		if ((result as {code?: string}).code === 'ENOENT') {
			throw new ExternalError('the docker command is not installed', {
				hint: 'swarmbee drives your Docker engine through its CLI.',
				nextSteps: [
					'install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, then run this again',
				],
			});
		}
		if (result.timedOut)
			throw new ExternalError(
				`docker ${args.slice(0, 2).join(' ')} did not finish within ${Math.round((options.timeoutMs ?? 0) / 1000)} s`,
			);
		if (result.exitCode !== 0) {
			const stderr = String(result.stderr ?? '');
			// "Error response from daemon" means the engine answered: a pull that cannot
			// resolve its registry ("no such host") is not a missing engine.
			if (NO_ENGINE.test(stderr) && !/Error response from daemon/i.test(stderr))
				throw new NoEngineError(stderr.trim().split('\n')[0] ?? '');
			throw new DockerCommandError(args, stderr, result.exitCode);
		}
		return String(result.stdout ?? '');
	}

	/** Runs a command that prints one JSON document per line (`--format '{{json .}}'`). */
	async jsonLines<T>(args: string[], options: DockerRunOptions = {}): Promise<T[]> {
		const out = await this.run(args, options);
		return out
			.split('\n')
			.filter(line => line.trim())
			.map(line => JSON.parse(line) as T);
	}

	async inspect<T>(
		kind: 'container' | 'network' | 'volume' | 'image',
		ids: string[],
		options: DockerRunOptions = {},
	): Promise<T[]> {
		if (ids.length === 0) return [];
		return JSON.parse(await this.run([kind, 'inspect', ...ids], options)) as T[];
	}

	/** The id of an image on this engine, or undefined when it is not here. */
	async imageId(image: string, options: DockerRunOptions = {}): Promise<string | undefined> {
		try {
			const [found] = await this.inspect<{Id: string}>('image', [image], options);
			return found?.Id;
		} catch (error) {
			if (error instanceof DockerCommandError) return undefined;
			throw error;
		}
	}

	/** The server's version, or NoEngineError. */
	async serverVersion(signal?: AbortSignal): Promise<string> {
		return (await this.run(['version', '--format', '{{.Server.Version}}'], {signal, timeoutMs: 20_000})).trim();
	}
}
