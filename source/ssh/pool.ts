import {pause} from '../concurrency.js';
import {CancelledError, ExternalError} from '../errors.js';
import {HostKeyMismatchError, SshConnection, type SshTarget} from './connection.js';

export interface WaitForSshOptions {
	signal?: AbortSignal;
	timeoutMs?: number;
	/**
	 * Where the host key is installed before sshd first starts (local nodes),
	 * a wrong key can only mean the wrong machine: fail at once. Where it is
	 * installed during first boot (droplets' user_data), keep waiting: the
	 * image's own key is never trusted, only outlasted.
	 */
	mismatchIsFatal?: boolean;
	onRetry?: (reason: string) => void;
}

/** Connects as soon as the node's sshd answers with the expected host key. */
export async function waitForSsh(target: SshTarget, options: WaitForSshOptions = {}): Promise<SshConnection> {
	const deadline = Date.now() + (options.timeoutMs ?? 120_000);
	let delay = 250;
	let last: Error | undefined;
	while (Date.now() < deadline) {
		if (options.signal?.aborted) throw new CancelledError();
		try {
			return await SshConnection.connect(target, {signal: options.signal, timeoutMs: Math.min(10_000, Math.max(1_000, deadline - Date.now()))});
		} catch (error) {
			if (error instanceof CancelledError) throw error;
			if (error instanceof HostKeyMismatchError && (options.mismatchIsFatal ?? true)) throw error;
			last = error as Error;
			options.onRetry?.(last.message);
		}
		await pause(delay, options.signal);
		delay = Math.min(delay * 1.5, 2_000);
	}
	if (last instanceof HostKeyMismatchError) throw last;
	throw new ExternalError(`${target.node} did not answer SSH at ${target.host}:${target.port} within ${Math.round((options.timeoutMs ?? 120_000) / 1000)} s`, {
		node: target.node,
		hint: last?.message,
		nextSteps: ['check that the machine is running (swarmbee status)', 'run swarmbee up again: it picks up where it stopped'],
	});
}

/**
 * One open connection per node, shared by every step of a run. Concurrent
 * callers asking for the same node wait for the same connect.
 */
export class SshPool {
	private readonly open = new Map<string, Promise<SshConnection>>();

	constructor(private readonly targetFor: (node: string) => SshTarget) {}

	get(node: string, signal?: AbortSignal): Promise<SshConnection> {
		const existing = this.open.get(node);
		if (existing) {
			return existing.then(
				connection => (connection.isOpen ? connection : this.reconnect(node, signal)),
				() => this.reconnect(node, signal),
			);
		}
		return this.reconnect(node, signal);
	}

	/** Hands an already-open connection (e.g. from waitForSsh) to the pool. */
	adopt(node: string, connection: SshConnection): void {
		this.open.set(node, Promise.resolve(connection));
	}

	private reconnect(node: string, signal?: AbortSignal): Promise<SshConnection> {
		const connecting = SshConnection.connect(this.targetFor(node), {signal});
		this.open.set(node, connecting);
		connecting.catch(() => {
			if (this.open.get(node) === connecting) this.open.delete(node);
		});
		return connecting;
	}

	drop(node: string): void {
		const existing = this.open.get(node);
		this.open.delete(node);
		existing?.then(c => c.close(), () => {});
	}

	closeAll(): void {
		for (const node of [...this.open.keys()]) this.drop(node);
	}
}
