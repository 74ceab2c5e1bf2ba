import {chmodSync, existsSync, rmSync, statSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type {Duplex} from 'node:stream';
import {BugError, InputError} from '../errors.js';

/**
 * The local listener of a forward, as values: connections wait (paused) for
 * their channel, and what the far end answers goes out at once (TCP_NODELAY,
 * as OpenSSH sets on the connections its `-L` accepts) rather than behind
 * Nagle's algorithm, which would hold a reply's second write until the client
 * acknowledged its first.
 */
export const FORWARD_LISTENER_OPTIONS = {pauseOnConnect: true, noDelay: true} as const satisfies net.ServerOpts;

interface ForwardCounters {
	connections: number;
	totalConnections: number;
	bytesIn: number;
	bytesOut: number;
}

/**
 * `ssh -L`, in process: a listener on this machine whose every connection is
 * piped into a channel the caller opens (an ssh2 forwardOut to the far end).
 * The listener stays bound while the far side reconnects; connections that
 * arrive meanwhile wait for `open` to succeed or fail.
 */
export class LocalForward {
	private readonly totals = {totalConnections: 0, bytesIn: 0, bytesOut: 0};
	private readonly sockets = new Set<net.Socket>();
	/**
	 * Read once, when bound: `server.address()` is null once the server
	 * closes, and a status asked for after close (the dashboard's last
	 * frame, a tunnel's final report) must still say which port it was.
	 */
	readonly port: number;

	private constructor(
		private readonly server: net.Server,
		private readonly open: () => Promise<Duplex>,
		private readonly onError: (error: Error) => void,
		/** What a connection is told when its channel cannot be opened (nothing: it is closed at once). */
		private readonly refusal?: (error: Error) => string,
	) {
		this.port = (server.address() as net.AddressInfo).port;
		server.on('connection', socket => this.accept(socket));
	}

	/** Binds `host:port` (0 for any free port); a busy port is an InputError naming it. */
	static async listen(
		host: string,
		port: number,
		open: () => Promise<Duplex>,
		onError: (error: Error) => void = () => {},
	): Promise<LocalForward> {
		const server = net.createServer(FORWARD_LISTENER_OPTIONS);
		await new Promise<void>((resolve, reject) => {
			server.once('error', (error: NodeJS.ErrnoException) => {
				if (error.code === 'EADDRINUSE') {
					reject(
						new InputError(`${host}:${port} is already in use on this machine`, {
							hint: 'another program (or another swarmbee tunnel) listens there.',
							nextSteps: [
								`find it with: ss -ltnp 'sport = :${port}'`,
								'or choose another local port (--admin-port / --driver-port)',
							],
						}),
					);
				} else {
					reject(error);
				}
			});
			server.listen(port, host, () => resolve());
		});
		return new LocalForward(server, open, onError);
	}

	/**
	 * Listens on a unix socket instead of a TCP port: only this machine's
	 * user (and root) can connect. The socket's folder must be 0700 and the
	 * caller's own, so nobody else can reach the socket in the moment before
	 * it is made 0600 here. A socket file left by a process that is gone is
	 * replaced; one that still answers is an InputError.
	 */
	static async listenOnSocket(
		socketPath: string,
		open: () => Promise<Duplex>,
		options: {onError?: (error: Error) => void; refusal?: (error: Error) => string} = {},
	): Promise<LocalForward> {
		const folder = statSync(path.dirname(socketPath));
		if ((folder.mode & 0o077) !== 0 || (process.getuid && folder.uid !== process.getuid())) {
			throw new BugError(
				`${path.dirname(socketPath)} must be a folder of this user with mode 0700 before a socket is made in it`,
			);
		}
		if (existsSync(socketPath)) {
			if (await socketAnswers(socketPath)) {
				throw new InputError(`${socketPath} is already served by another process`, {
					nextSteps: ['stop that process first'],
				});
			}
			rmSync(socketPath, {force: true});
		}
		const server = net.createServer(FORWARD_LISTENER_OPTIONS);
		await new Promise<void>((resolve, reject) => {
			server.once('error', reject);
			server.listen(socketPath, () => resolve());
		});
		chmodSync(socketPath, 0o600);
		return new LocalForward(server, open, options.onError ?? (() => {}), options.refusal);
	}

	/** Open connections are the sockets still held; the rest are running totals. */
	get counters(): ForwardCounters {
		return {connections: this.sockets.size, ...this.totals};
	}

	private async accept(socket: net.Socket): Promise<void> {
		this.sockets.add(socket);
		this.totals.totalConnections++;
		socket.on('close', () => this.sockets.delete(socket));
		socket.on('error', () => socket.destroy());
		let channel: Duplex;
		try {
			channel = await this.open();
		} catch (error) {
			this.onError(error as Error);
			if (this.refusal && !socket.destroyed) {
				// Answer once the client has spoken (an HTTP client takes an answer before its request as stray), and
				// read all it sends: closing on unread data would reset the connection before it reads the answer.
				const answer = this.refusal(error as Error);
				socket.once('data', () => socket.end(answer));
				socket.on('data', () => {});
				socket.setTimeout(10_000, () => socket.destroy());
				socket.resume();
			} else {
				socket.destroy();
			}
			return;
		}
		if (socket.destroyed) {
			channel.destroy();
			return;
		}
		socket.on('data', (chunk: Buffer) => {
			this.totals.bytesOut += chunk.length;
		});
		channel.on('data', (chunk: Buffer) => {
			this.totals.bytesIn += chunk.length;
		});
		channel.on('error', () => socket.destroy());
		channel.on('close', () => socket.destroy());
		socket.on('close', () => channel.destroy());
		socket.pipe(channel).pipe(socket);
		socket.resume();
	}

	/** Drops every open connection (the far side went away) but keeps listening. */
	dropConnections(): void {
		for (const socket of this.sockets) socket.destroy();
	}

	/** Idempotent: a tunnel stopped twice (a key, then quitting) closes its listeners once. */
	async close(): Promise<void> {
		this.dropConnections();
		if (!this.server.listening) return;
		await new Promise<void>(resolve => this.server.close(() => resolve()));
	}
}

/** True when a process accepts connections on the unix socket at `socketPath`. */
export function socketAnswers(socketPath: string, timeoutMs = 1_000): Promise<boolean> {
	return new Promise(resolve => {
		const socket = net.connect(socketPath);
		const done = (answer: boolean) => {
			socket.destroy();
			resolve(answer);
		};
		socket.setTimeout(timeoutMs, () => done(false));
		socket.once('connect', () => done(true));
		socket.once('error', () => done(false));
	});
}
