import type {Duplex} from 'node:stream';
import type {ExecOptions, ExecResult} from './connection.js';

/**
 * What steps and cluster logic do on a node over SSH. SshConnection is the
 * real one; a unit test hands in a recorder that answers from a script and
 * keeps every command (test/unit/recorder.ts).
 */
export interface RemoteShell {
	/** Runs a command; resolves with its exit code (a non-zero code is not an error here). */
	exec(command: string, options?: ExecOptions): Promise<ExecResult>;
	/** Like exec, but a non-zero exit becomes an error carrying the output's tail. */
	run(command: string, options?: ExecOptions): Promise<string>;
	/** Writes a file on the node (SFTP). */
	upload(remotePath: string, contents: string | Buffer, mode?: number): Promise<void>;
	/** A TCP stream to `host:port` as seen from the node. */
	forwardOut(host: string, port: number): Promise<Duplex>;
	/** The host key the node proved itself with, as a public key line. */
	readonly hostKey: string;
}

export interface WaitOptions {
	signal?: AbortSignal;
	timeoutMs?: number;
	/** A host key other than swarmbee's fails at once (true) or means "not ready yet" (false: cloud first boot). */
	mismatchIsFatal?: boolean;
	onRetry?: (reason: string) => void;
}

/** The nodes of one cluster over SSH: one open shell per node, shared by every step of a run (SshPool). */
export interface NodeShells {
	get(node: string, signal?: AbortSignal): Promise<RemoteShell>;
	/** Waits until the node's sshd answers with the host key swarmbee installed; the connection is kept. */
	waitFor(node: string, options?: WaitOptions): Promise<RemoteShell>;
	/** Forgets a node's connection (it reboots, or leaves). */
	drop(node: string): void;
	closeAll(): void;
}
