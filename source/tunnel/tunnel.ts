import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import type {Duplex} from 'node:stream';
import {setTimeout as sleep} from 'node:timers/promises';
import type {ServerLocation} from '../database/rethinkdb.js';
import {ExternalError, InputError} from '../errors.js';
import {LocalForward} from '../ssh/forward.js';
import {HostKeyMismatchError, type SshConnection} from '../ssh/connection.js';
import {ConsoleGuard, consoleUrl, newConsoleToken} from './console-guard.js';
import type {TunnelState, TunnelStatus} from './types.js';

interface ForwardSpec {
	/** `admin` or `driver`. */
	name: string;
	localHost: string;
	localPort: number;
	/** The port on the database task (8080 admin, 28015 driver). */
	remotePort: number;
	/**
	 * The local port is only a default nobody asked for: when something else
	 * holds it, any free port will do (and the status says which), rather than
	 * a dashboard whose tunnel cannot open.
	 */
	anyPortIfBusy?: boolean;
	/**
	 * The admin console: it answers as admin without a password, so its
	 * local port is swarmbee's guard (a token in the URL, then a cookie)
	 * in front of a forward that listens on a private unix socket.
	 */
	guarded?: boolean;
}

/** What a forward's local end is, plain (LocalForward) or guarded (ConsoleGuard before one). */
interface Listener {
	readonly port: number;
	readonly counters: {
		connections: number;
		totalConnections: number;
		bytesIn: number;
		bytesOut: number;
		refused?: number;
	};
	dropConnections(): void;
	close(): Promise<void>;
}

/**
 * The console's guard on `host:port`, in front of a LocalForward on a unix
 * socket in a new 0700 folder (so nobody else can go around the guard).
 */
async function listenGuarded(input: {
	host: string;
	port: number;
	token: string;
	open: () => Promise<Duplex>;
	onError: (error: Error) => void;
}): Promise<Listener> {
	const folder = mkdtempSync(path.join(tmpdir(), 'swarmbee-console-'));
	let forward: LocalForward | undefined;
	try {
		forward = await LocalForward.listenOnSocket(path.join(folder, 'console.sock'), input.open, {
			onError: input.onError,
		});
		const guard = await ConsoleGuard.listen({
			host: input.host,
			port: input.port,
			upstream: path.join(folder, 'console.sock'),
			token: input.token,
		});
		const inner = forward;
		return {
			port: guard.port,
			get counters() {
				const {bytesIn, bytesOut} = inner.counters;
				return {...guard.counters, bytesIn, bytesOut};
			},
			dropConnections: () => inner.dropConnections(),
			async close() {
				await guard.close();
				await inner.close();
				rmSync(folder, {recursive: true, force: true});
			},
		};
	} catch (error) {
		await forward?.close();
		rmSync(folder, {recursive: true, force: true});
		throw error;
	}
}

interface TunnelOptions {
	forwards: ForwardSpec[];
	/** Where the target runs now: asked again on every (re)connect, since tasks move. */
	locate: () => Promise<ServerLocation>;
	/** An open SSH connection to a node. */
	connect: (node: string) => Promise<SshConnection>;
	onChange?: (statuses: TunnelStatus[]) => void;
	/** Reconnect backoff: first wait and cap, in ms. */
	backoff?: {initialMs: number; maxMs: number};
	/** How long a new local connection waits for a reconnect before it is refused. */
	holdMs?: number;
}

/**
 * `docker-machine ssh -L`, grown up: local listeners for the admin panel and
 * the driver port, carried over one SSH connection to the node that runs the
 * first database server, to the task's address on that node. A small state
 * machine, connecting → open → reconnecting → closed: when SSH drops or the
 * task moves, it finds the task again and reconnects with backoff, while the
 * local ports stay bound.
 */
export class Tunnel {
	private state: TunnelState = 'connecting';
	private since = new Date().toISOString();
	private lastError?: string;
	private location?: ServerLocation;
	private connection?: SshConnection;
	/** Takes back the close listener this tunnel put on `connection` (a pooled client outlives it). */
	private forgetClose?: () => void;
	private readonly listeners = new Map<string, Listener>();
	/** The console's secret for this tunnel's life: a new tunnel, a new token. */
	private readonly token = newConsoleToken();
	private waiters: Array<() => void> = [];
	private stopped = false;
	private reconnecting?: Promise<void>;
	private fail!: (error: Error) => void;
	/**
	 * Settles with the error that ended the tunnel for good: a node that
	 * answers with a host key swarmbee did not install is refused, not
	 * retried, so whoever holds the tunnel can stop and say why.
	 */
	readonly failed = new Promise<Error>(resolve => {
		this.fail = resolve;
	});

	constructor(private readonly options: TunnelOptions) {}

	/** Binds every local port first (a busy one fails here, before any SSH), then connects. */
	async start(): Promise<void> {
		for (const forward of this.options.forwards) {
			try {
				const listen = (port: number): Promise<Listener> =>
					forward.guarded
						? listenGuarded({
								host: forward.localHost,
								port,
								token: this.token,
								open: () => this.channel(forward),
								onError: error => this.channelFailed(error),
							})
						: LocalForward.listen(
								forward.localHost,
								port,
								() => this.channel(forward),
								error => this.channelFailed(error),
							);
				const listener = await listen(forward.localPort).catch(error => {
					if (forward.anyPortIfBusy && error instanceof InputError) return listen(0);
					throw error;
				});
				// Stopped while binding (the key pressed again): nothing may stay bound.
				if (this.stopped) {
					await listener.close();
					return;
				}
				this.listeners.set(forward.name, listener);
			} catch (error) {
				await this.stop();
				throw error;
			}
		}
		this.notify();
		this.reconnect();
	}

	get current(): TunnelState {
		return this.state;
	}

	statuses(): TunnelStatus[] {
		return this.options.forwards.map(forward => {
			const listener = this.listeners.get(forward.name);
			return {
				name: forward.name,
				state: this.state,
				local: {
					host: forward.localHost,
					port: listener?.port ?? forward.localPort,
					...(listener && listener.port !== forward.localPort && forward.localPort !== 0
						? {busy: forward.localPort}
						: {}),
				},
				target: {
					...(this.location ? {node: this.location.host, address: this.location.address} : {}),
					port: forward.remotePort,
				},
				connections: listener?.counters.connections ?? 0,
				totalConnections: listener?.counters.totalConnections ?? 0,
				bytesIn: listener?.counters.bytesIn ?? 0,
				bytesOut: listener?.counters.bytesOut ?? 0,
				...(forward.guarded && listener
					? {url: consoleUrl(listener.port, this.token), refused: listener.counters.refused ?? 0}
					: {}),
				...(this.lastError ? {lastError: this.lastError} : {}),
				since: this.since,
			};
		});
	}

	/** Resolves once the tunnel is open (or rejects after `timeoutMs`). */
	waitOpen(timeoutMs: number): Promise<void> {
		if (this.state === 'open') return Promise.resolve();
		return new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				this.waiters = this.waiters.filter(w => w !== done);
				reject(
					new ExternalError(`the tunnel is not open (${this.state}${this.lastError ? `: ${this.lastError}` : ''})`),
				);
			}, timeoutMs);
			const done = () => {
				clearTimeout(timer);
				resolve();
			};
			this.waiters.push(done);
		});
	}

	/** Idempotent; statuses() still answers afterwards (with the ports it had). */
	async stop(): Promise<void> {
		this.stopped = true;
		this.setState('closed');
		const connection = this.connection;
		this.holdConnection(undefined);
		connection?.close();
		await Promise.all([...this.listeners.values()].map(l => l.close()));
	}

	private setState(state: TunnelState, error?: string): void {
		if (error !== undefined) this.lastError = error;
		if (this.state === state && error === undefined) return;
		if (this.state !== state) this.since = new Date().toISOString();
		this.state = state;
		if (state === 'open') {
			for (const waiter of this.waiters.splice(0)) waiter();
		}
		this.notify();
	}

	/** The one place `connection` changes: the listener put on the previous one goes with it. */
	private holdConnection(connection: SshConnection | undefined): void {
		this.forgetClose?.();
		this.forgetClose = undefined;
		this.connection = connection;
	}

	private notify(): void {
		this.options.onChange?.(this.statuses());
	}

	/** One reconnect loop at a time; every trigger joins the running one. */
	private reconnect(): void {
		if (this.stopped || this.reconnecting) return;
		this.reconnecting = this.connectLoop().finally(() => {
			this.reconnecting = undefined;
		});
	}

	private async connectLoop(): Promise<void> {
		const {initialMs, maxMs} = this.options.backoff ?? {initialMs: 250, maxMs: 5_000};
		let delay = initialMs;
		if (this.state === 'open') this.setState('reconnecting');
		while (!this.stopped) {
			try {
				const location = await this.options.locate();
				// Stopped meanwhile: the caller may have closed its pool already, so no new connection now.
				if (this.stopped) return;
				const connection = await this.options.connect(location.host);
				if (this.stopped) {
					// Nobody else holds it once stopped (a pool's get hands out a new one for a closed one).
					connection.close();
					return;
				}
				this.location = location;
				this.holdConnection(connection);
				this.forgetClose = connection.onClose(() => {
					if (this.connection !== connection || this.stopped) return;
					for (const listener of this.listeners.values()) listener.dropConnections();
					this.setState('reconnecting', 'the SSH connection closed');
					this.reconnect();
				});
				this.setState('open');
				return;
			} catch (error) {
				// Stopped meanwhile: the state stays `closed`.
				if (this.stopped) return;
				if (error instanceof HostKeyMismatchError) {
					// Said while the listeners still stand (their ports are part of the status).
					this.lastError = error.message;
					await this.stop();
					this.fail(error);
					return;
				}
				this.setState(this.state === 'connecting' ? 'connecting' : 'reconnecting', (error as Error).message);
			}
			await sleep(delay);
			delay = Math.min(maxMs, delay * 2);
		}
	}

	private async channel(forward: ForwardSpec): Promise<Duplex> {
		if (this.state !== 'open') await this.waitOpen(this.options.holdMs ?? 10_000);
		const {connection, location} = this;
		if (!connection || !location) throw new ExternalError('the tunnel has no connection');
		return connection.forwardOut(location.address, forward.remotePort);
	}

	/** A channel could not open: the task may have moved. Find it again. */
	private channelFailed(error: Error): void {
		if (this.stopped || this.state !== 'open') return;
		this.lastError = error.message;
		// The connection is the tunnel's own: one that cannot open channels is closed, not left open.
		const connection = this.connection;
		this.holdConnection(undefined);
		connection?.close();
		this.setState('reconnecting', error.message);
		this.reconnect();
	}
}
