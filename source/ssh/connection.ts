import net from 'node:net';
import {constants} from 'node:os';
import type {Duplex} from 'node:stream';
import ssh2 from 'ssh2';
import {CancelledError, ExternalError} from '../errors.js';
import {fingerprint, fingerprintOfBlob, publicKeyBlob} from './keys.js';

export interface SshTarget {
	/** The node's name, for messages. */
	node: string;
	host: string;
	port: number;
	username: string;
	/** The cluster's private key (OpenSSH text). */
	privateKey: string;
	/** The node's host key as swarmbee knows it: the only key accepted … */
	hostKey: string;
	/** … but for the one a rotation under way pinned. */
	nextHostKey?: string;
}

/** The node answered with a host key that is not the one swarmbee installed. */
export class HostKeyMismatchError extends ExternalError {
	constructor(target: SshTarget, offered: string) {
		super(
			`${target.node} (${target.host}:${target.port}) offered host key ${offered}, but swarmbee installed ${fingerprint(target.hostKey)}`,
			{
				node: target.node,
				hint: "swarmbee refuses to connect: another machine may be answering at that address, or the node's host key was replaced.",
				nextSteps: [
					`check the node: is ${target.host} really ${target.node}?`,
					`if you replaced the node yourself, remove it (swarmbee down, or delete the machine) and run swarmbee up again to recreate it with a fresh, known key`,
				],
			},
		);
	}
}

/**
 * The TCP socket under an SSH connection, as values. `noDelay` (TCP_NODELAY)
 * is what keeps a forward at OpenSSH's latency: a driver writes one query in
 * several small writes (the npm RethinkDB driver: token, length, body), each
 * becomes its own SSH packet, and with Nagle's algorithm on, the second one
 * waits for the node to acknowledge the first, which Linux delays by 40 ms.
 * Measured through `swarmbee tunnel`: 43 ms per trivial query with Nagle,
 * 0.9 ms without (docs/tunnel.md).
 */
export function sshSocketOptions(target: Pick<SshTarget, 'host' | 'port'>): net.NetConnectOpts {
	return {host: target.host, port: target.port, noDelay: true};
}

/** The node did not answer SSH, or refused the cluster key (not a host key mismatch: that one is HostKeyMismatchError). */
export class SshConnectError extends ExternalError {}

export interface ExecOptions {
	onStdout?: (line: string) => void;
	onStderr?: (line: string) => void;
	/** Written to the command's stdin, then stdin is closed. */
	stdin?: string | Buffer | NodeJS.ReadableStream;
	signal?: AbortSignal;
	/** Keep the output in the result (default true); off for long streams. */
	capture?: boolean;
}

/** The pseudo-terminal a session asks for: the local terminal's type and size. */
export interface PtyRequest {
	term: string;
	rows: number;
	cols: number;
}

export interface ExecResult {
	code: number;
	stdout: string;
	stderr: string;
}

const CAPTURE_LIMIT = 4 * 1024 * 1024;

/** Calls `onLine` for each complete line of a chunked stream. */
export function lineSplitter(onLine: (line: string) => void): {
	push: (chunk: Buffer | string) => void;
	flush: () => void;
} {
	let rest = '';
	return {
		push(chunk) {
			rest += chunk.toString();
			const lines = rest.split(/\r?\n/);
			rest = lines.pop() ?? '';
			for (const line of lines) onLine(line);
		},
		flush() {
			if (rest) onLine(rest);
			rest = '';
		},
	};
}

/**
 * A remote exit as a shell reports it: the status, or 128 + the signal's
 * number (`TERM` or `SIGTERM`, as ssh2 names it, → 143).
 */
export function exitStatus(code: number | null | undefined, signalName: string | undefined): number {
	if (typeof code === 'number') return code;
	if (signalName) {
		const number = (constants.signals as Record<string, number | undefined>)[
			signalName.startsWith('SIG') ? signalName : `SIG${signalName}`
		];
		return 128 + (number ?? 0);
	}
	// Closed without an exit status: the connection broke (ssh says 255 then too).
	return 255;
}

/**
 * One authenticated SSH connection to a node, verified against the host key
 * swarmbee generated. Reused for many commands; closed by its pool.
 */
export class SshConnection {
	private closed = false;

	/** The host key this node proved itself with (one of the target's). */
	readonly hostKey: string;

	private constructor(
		readonly target: SshTarget,
		private readonly client: ssh2.Client,
		matched: string,
	) {
		this.hostKey = matched;
		client.on('close', () => {
			this.closed = true;
		});
		client.on('error', () => {
			this.closed = true;
		});
	}

	get isOpen(): boolean {
		return !this.closed;
	}

	static connect(target: SshTarget, options: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<SshConnection> {
		const accepted = [target.hostKey, ...(target.nextHostKey ? [target.nextHostKey] : [])].map(key => ({
			key,
			blob: publicKeyBlob(key),
		}));
		let matched = target.hostKey;
		return new Promise((resolve, reject) => {
			if (options.signal?.aborted) {
				reject(new CancelledError());
				return;
			}
			const client = new ssh2.Client();
			let offered: string | undefined;
			let settled = false;
			const onAbort = () => {
				client.end();
				finish(new CancelledError());
			};
			const finish = (error?: Error) => {
				if (settled) return;
				settled = true;
				options.signal?.removeEventListener('abort', onAbort);
				if (error) {
					client.removeAllListeners('ready');
					client.on('error', () => {});
					client.end();
					reject(error);
				} else {
					resolve(new SshConnection(target, client, matched));
				}
			};
			options.signal?.addEventListener('abort', onAbort, {once: true});
			client.on('ready', () => finish());
			client.on('error', (error: Error & {level?: string; code?: string}) => {
				if (offered) {
					finish(new HostKeyMismatchError(target, offered));
					return;
				}
				finish(
					new SshConnectError(`SSH to ${target.node} (${target.host}:${target.port}) failed: ${error.message}`, {
						node: target.node,
						cause: error,
						hint: error.level === 'client-authentication' ? 'the node did not accept the cluster key' : undefined,
					}),
				);
			});
			client.connect({
				// Our own socket, so that its options are ours (ssh2 would make one with Nagle on).
				sock: net.connect(sshSocketOptions(target)),
				host: target.host,
				port: target.port,
				username: target.username,
				privateKey: target.privateKey,
				readyTimeout: options.timeoutMs ?? 10_000,
				keepaliveInterval: 5_000,
				keepaliveCountMax: 3,
				// Ask for the one algorithm whose key we installed, then compare
				// the whole key: no trust on first use, ever.
				algorithms: {serverHostKey: ['ssh-ed25519']},
				hostVerifier: (key: Buffer) => {
					const known = accepted.find(a => key.equals(a.blob));
					if (known) {
						matched = known.key;
						return true;
					}
					offered = fingerprintOfBlob(key);
					return false;
				},
			});
		});
	}

	/** Runs a command; resolves with its exit code (a non-zero code is not an error here). */
	exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
		const capture = options.capture ?? true;
		return new Promise((resolve, reject) => {
			if (options.signal?.aborted) {
				reject(new CancelledError());
				return;
			}
			this.client.exec(command, (error, stream) => {
				if (error) {
					reject(
						new ExternalError(`could not run a command on ${this.target.node}: ${error.message}`, {
							node: this.target.node,
							cause: error,
						}),
					);
					return;
				}
				let stdout = '';
				let stderr = '';
				const out = lineSplitter(line => options.onStdout?.(line));
				const err = lineSplitter(line => options.onStderr?.(line));
				const onAbort = () => {
					stream.signal?.('INT');
					stream.close();
				};
				options.signal?.addEventListener('abort', onAbort, {once: true});
				stream.on('data', (chunk: Buffer) => {
					if (capture && stdout.length < CAPTURE_LIMIT) stdout += chunk.toString();
					out.push(chunk);
				});
				stream.stderr.on('data', (chunk: Buffer) => {
					if (capture && stderr.length < CAPTURE_LIMIT) stderr += chunk.toString();
					err.push(chunk);
				});
				stream.on('close', (code: number | null, signalName?: string) => {
					options.signal?.removeEventListener('abort', onAbort);
					out.flush();
					err.flush();
					if (options.signal?.aborted) {
						reject(new CancelledError());
						return;
					}
					if (code === null || code === undefined) {
						if (!this.isOpen) {
							reject(
								new ExternalError(`the SSH connection to ${this.target.node} closed while a command ran`, {
									node: this.target.node,
								}),
							);
							return;
						}
						resolve({code: exitStatus(null, signalName), stdout, stderr});
						return;
					}
					resolve({code, stdout, stderr});
				});
				const input = options.stdin;
				if (input === undefined) {
					stream.end();
				} else if (typeof input === 'string' || Buffer.isBuffer(input)) {
					stream.end(input);
				} else {
					input.on('error', (e: Error) => stream.emit('error', e));
					input.pipe(stream);
				}
			});
		});
	}

	/** Like exec, but a non-zero exit becomes an error carrying the output's tail. */
	async run(command: string, options: ExecOptions = {}): Promise<string> {
		const result = await this.exec(command, options);
		if (result.code !== 0) throw commandFailed(this.target.node, command, result);
		return result.stdout;
	}

	/** Writes a file on the node over SFTP. */
	upload(remotePath: string, contents: string | Buffer, mode = 0o644): Promise<void> {
		return new Promise((resolve, reject) => {
			this.client.sftp((error, sftp) => {
				if (error) {
					reject(new ExternalError(`SFTP to ${this.target.node} failed: ${error.message}`, {node: this.target.node}));
					return;
				}
				sftp.writeFile(remotePath, contents, {mode}, writeError => {
					sftp.end();
					if (writeError)
						reject(
							new ExternalError(`could not write ${remotePath} on ${this.target.node}: ${writeError.message}`, {
								node: this.target.node,
							}),
						);
					else resolve();
				});
			});
		});
	}

	/**
	 * A session channel for a person at a terminal (`ssh -t`): the login
	 * shell, or one command line the node's shell runs, with a pseudo-terminal
	 * or without one. The caller wires the channel to its terminal
	 * (`attachTerminal`); its `close` event carries the remote exit status.
	 */
	openSession(command: string | undefined, pty: PtyRequest | undefined): Promise<ssh2.ClientChannel> {
		return new Promise((resolve, reject) => {
			const opened = (error: Error | undefined, channel: ssh2.ClientChannel) => {
				if (error)
					reject(
						new ExternalError(`could not open a session on ${this.target.node}: ${error.message}`, {
							node: this.target.node,
							cause: error,
						}),
					);
				else resolve(channel);
			};
			const window = pty ? {term: pty.term, rows: pty.rows, cols: pty.cols} : undefined;
			if (command === undefined) this.client.shell(window ?? false, opened);
			else this.client.exec(command, window ? {pty: window} : {}, opened);
		});
	}

	/**
	 * A stream to a unix socket on the node (`ssh -L local:/remote.sock`,
	 * OpenSSH's direct-streamlocal channel). Where the node's sshd refuses
	 * such channels, `fallback` names a command whose stdin and stdout are
	 * the socket (`docker system dial-stdio`, as docker's own ssh:// does).
	 */
	forwardOutToSocket(socketPath: string, fallback?: string): Promise<Duplex> {
		return new Promise((resolve, reject) => {
			this.client.openssh_forwardOutStreamLocal(socketPath, (error, stream) => {
				if (!error) {
					resolve(stream);
					return;
				}
				if (fallback === undefined) {
					reject(
						new ExternalError(`${this.target.node} could not open ${socketPath}: ${error.message}`, {
							node: this.target.node,
						}),
					);
					return;
				}
				this.client.exec(fallback, (execError, channel) => {
					if (execError)
						reject(
							new ExternalError(
								`${this.target.node} could not open ${socketPath} (${error.message}) nor run ${fallback}: ${execError.message}`,
								{node: this.target.node},
							),
						);
					else resolve(channel);
				});
			});
		});
	}

	/** A TCP stream to `host:port` as seen from the node (ssh -L's channel). */
	forwardOut(host: string, port: number, source = {host: '127.0.0.1', port: 0}): Promise<Duplex> {
		return new Promise((resolve, reject) => {
			this.client.forwardOut(source.host, source.port, host, port, (error, stream) => {
				if (error)
					reject(
						new ExternalError(`${this.target.node} could not open ${host}:${port}: ${error.message}`, {
							node: this.target.node,
						}),
					);
				else resolve(stream);
			});
		});
	}

	/**
	 * Calls `listener` once when the connection closes; returns what takes it
	 * back. A pooled connection outlives its users: each one that listens
	 * takes its listener back when done, or they pile up on the client.
	 */
	onClose(listener: () => void): () => void {
		this.client.once('close', listener);
		return () => {
			this.client.removeListener('close', listener);
		};
	}

	close(): void {
		this.closed = true;
		this.client.end();
	}
}

export function commandFailed(node: string, command: string, result: ExecResult): ExternalError {
	const tail = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-5).join('\n');
	const shown = command.length > 120 ? `${command.slice(0, 117)}...` : command;
	return new ExternalError(`\`${shown}\` failed on ${node} (exit ${result.code})${tail ? `: ${tail}` : ''}`, {node});
}
