import net from 'node:net';
import type {Duplex} from 'node:stream';
import {InputError} from '../errors.js';

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

	private constructor(private readonly server: net.Server, private readonly open: () => Promise<Duplex>, private readonly onError: (error: Error) => void) {
		this.port = (server.address() as net.AddressInfo).port;
		server.on('connection', socket => this.accept(socket));
	}

	/** Binds `host:port` (0 for any free port); a busy port is an InputError naming it. */
	static async listen(host: string, port: number, open: () => Promise<Duplex>, onError: (error: Error) => void = () => {}): Promise<LocalForward> {
		const server = net.createServer({pauseOnConnect: true});
		await new Promise<void>((resolve, reject) => {
			server.once('error', (error: NodeJS.ErrnoException) => {
				if (error.code === 'EADDRINUSE') {
					reject(new InputError(`${host}:${port} is already in use on this machine`, {
						hint: 'another program (or another swarmbee tunnel) listens there.',
						nextSteps: [`find it with: ss -ltnp 'sport = :${port}'`, 'or choose another local port (--admin-port / --driver-port)'],
					}));
				} else {
					reject(error);
				}
			});
			server.listen(port, host, () => resolve());
		});
		return new LocalForward(server, open, onError);
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
			socket.destroy();
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
