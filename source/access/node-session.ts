import {eachLimited, withItems} from '../concurrency.js';
import {CancelledError, ExternalError, toSwarmbeeError, type SwarmbeeError} from '../errors.js';
import {type SshConnection, SshConnectError} from '../ssh/connection.js';
import {attachTerminal, isTerminal, ptyRequest, type Terminal} from '../ssh/terminal.js';
import type {Journal} from '../store/journal.js';
import {nodeOrManager} from '../nodes/targets.js';

/** What `ssh` exits with when it could not run the command at all (ssh's own convention). */
export const UNREACHABLE = 255;

/**
 * A node that did not answer SSH, with the two checks worth making; any
 * other error (a host key swarmbee did not install among them) as it is.
 */
export function explainUnreachable(error: unknown, cluster: string): unknown {
	if (!(error instanceof SshConnectError)) return error;
	return new ExternalError(error.message, {
		...(error.node ? {node: error.node} : {}),
		...(error.hint ? {hint: error.hint} : {}),
		nextSteps: [
			`is the machine running? swarmbee status ${cluster} --once`,
			`swarmbee up ${cluster} starts what is stopped and repairs the rest`,
		],
	});
}

/**
 * What reaching a node takes (the cluster session): its journal, and a
 * connection of the node's own, made as every swarmbee connection is (the
 * cluster key, only the host key swarmbee installed).
 */
export interface NodeReach {
	journal: {readonly value: Readonly<Journal>};
	connect(node: string, signal?: AbortSignal): Promise<SshConnection>;
}

/** A connection to a node; one that does not answer is said with the two checks worth making. */
export async function connectToNode(cluster: NodeReach, node: string, signal?: AbortSignal): Promise<SshConnection> {
	try {
		return await cluster.connect(node, signal);
	} catch (error) {
		throw explainUnreachable(error, cluster.journal.value.cluster);
	}
}

export interface OpenShellOptions {
	cluster: NodeReach;
	/** Default: the first manager. */
	node?: string;
	/** A command line for the node's shell (as ssh sends it); none: the login shell. */
	command?: string;
	terminal: Terminal;
	/** Where TERM comes from. */
	env: NodeJS.ProcessEnv;
	/** A pseudo-terminal on the node: by default when `terminal` is one (as `ssh -t` would be wanted). */
	pty?: boolean;
	/** Ends the session from here. */
	signal?: AbortSignal;
}

/**
 * `swarmbee ssh NAME [NODE] [-- COMMAND]`: a session on a node wired to a
 * terminal until it ends; resolves with the remote exit status. With a
 * pseudo-terminal the terminal is handed over whole (raw keys, the window
 * size followed) and given back as it was, so a caller that drew on it
 * (the dashboard) stops drawing and reading keys before, and redraws after.
 * Throws when the node cannot be reached (with the fix), never half-opens.
 */
export async function openShell(options: OpenShellOptions): Promise<number> {
	const node = nodeOrManager(options.cluster.journal.value, options.node);
	const connection = await connectToNode(options.cluster, node, options.signal);
	try {
		const pty = options.pty ?? isTerminal(options.terminal);
		const channel = await connection.openSession(
			options.command,
			pty ? ptyRequest(options.terminal, options.env) : undefined,
		);
		return await attachTerminal(channel, options.terminal, {pty, signal: options.signal});
	} finally {
		connection.close();
	}
}

/**
 * The prefix of each node's lines in `ssh --all` (as `docker compose logs`
 * marks its services), padded so the lines start in one column:
 *
 *     queenbee    | queenbee
 *     workerbee-1 | workerbee-1
 */
export function nodePrefixes(nodes: readonly string[]): (node: string) => string {
	const width = Math.max(0, ...nodes.map(n => n.length));
	return node => `${node.padEnd(width)} | `;
}

export interface NodeOutcome {
	node: string;
	/** The command's exit status; UNREACHABLE when it could not run. */
	code: number;
	/** Why it could not run. */
	error?: SwarmbeeError;
}

/**
 * One command on every node at once (Kamal's `server exec`), each line
 * handed over with its node and stream as it comes. Every node finishes;
 * one that cannot be reached is an outcome, not an exception.
 */
export async function execOnEveryNode(options: {
	cluster: NodeReach;
	command: string;
	onLine: (node: string, stream: 'stdout' | 'stderr', line: string) => void;
	signal?: AbortSignal;
}): Promise<NodeOutcome[]> {
	const nodes = options.cluster.journal.value.nodes.filter(n => n.state !== 'deleting').map(n => n.name);
	const settled = await eachLimited(nodes, 16, async node => {
		const connection = await connectToNode(options.cluster, node, options.signal);
		try {
			return (
				await connection.exec(options.command, {
					capture: false,
					signal: options.signal,
					onStdout: line => options.onLine(node, 'stdout', line),
					onStderr: line => options.onLine(node, 'stderr', line),
				})
			).code;
		} finally {
			connection.close();
		}
	});
	if (options.signal?.aborted) throw new CancelledError();
	return withItems(nodes, settled).map(([node, result]) =>
		result.status === 'fulfilled'
			? {node, code: result.value}
			: {node, code: UNREACHABLE, error: toSwarmbeeError(result.reason)},
	);
}

/** The exit status of several: the worst one (the highest, so 255 for a node that could not be reached). */
export function worstExit(codes: readonly number[]): number {
	return Math.max(0, ...codes);
}
