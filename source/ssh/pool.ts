import {pollUntil} from '../concurrency.js';
import {CancelledError, ExternalError} from '../errors.js';
import {HostKeyMismatchError, SshConnection, type SshTarget} from './connection.js';
import type {NodeShells, WaitOptions} from './shell.js';

/**
 * Connects as soon as the node's sshd answers with the expected host key.
 * Where the host key is installed before sshd first starts (local nodes), a
 * wrong key can only mean the wrong machine: it fails at once
 * (`mismatchIsFatal`, the default). Where it is installed during first boot
 * (droplets' user_data), it keeps waiting: the image's own key is never
 * trusted, only outlasted.
 */
async function waitForSsh(target: SshTarget, options: WaitOptions = {}): Promise<SshConnection> {
	const timeoutMs = options.timeoutMs ?? 120_000;
	const deadline = Date.now() + timeoutMs;
	const polled = await pollUntil(
		async () => {
			try {
				return await SshConnection.connect(target, {
					signal: options.signal,
					timeoutMs: Math.min(10_000, Math.max(1_000, deadline - Date.now())),
				});
			} catch (error) {
				if (error instanceof CancelledError) throw error;
				if (error instanceof HostKeyMismatchError && (options.mismatchIsFatal ?? true)) throw error;
				options.onRetry?.((error as Error).message);
				return error as Error;
			}
		},
		answer => answer instanceof SshConnection,
		{intervalMs: attempt => Math.min(250 * 1.5 ** attempt, 2_000), timeoutMs, signal: options.signal},
	);
	if (polled.met) return polled.value as SshConnection;
	const last = polled.last as Error | undefined;
	if (last instanceof HostKeyMismatchError) throw last;
	throw new ExternalError(
		`${target.node} did not answer SSH at ${target.host}:${target.port} within ${Math.round(timeoutMs / 1000)} s`,
		{
			node: target.node,
			hint: last?.message,
			nextSteps: [
				'check that the machine is running (swarmbee status)',
				'run swarmbee up again: it picks up where it stopped',
			],
		},
	);
}

/**
 * One open connection per node, shared by every step of a run. Concurrent
 * callers asking for the same node wait for the same connect.
 */
export class SshPool implements NodeShells {
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

	async waitFor(node: string, options: WaitOptions = {}): Promise<SshConnection> {
		const connection = await waitForSsh(this.targetFor(node), options);
		this.open.set(node, Promise.resolve(connection));
		return connection;
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
		existing?.then(
			c => c.close(),
			() => {},
		);
	}

	closeAll(): void {
		for (const node of [...this.open.keys()]) this.drop(node);
	}
}
