import {execOnEveryNode, nodePrefixes, openShell, UNREACHABLE, worstExit} from '../access/node-session.js';
import {defined, errorInfo, InputError} from '../errors.js';
import {formatError} from '../render/format.js';
import {handleInterrupts, reportError, terminalOf, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import type {CommandArgs} from './args.js';

/** `swarmbee ssh`'s command line, checked: which cluster, which node, what to run. */
export interface SshRequest {
	name: string;
	/** Absent: the first manager. */
	node?: string;
	/** The command line for the node's shell; absent: the login shell. */
	command?: string;
	all: boolean;
	/** true: always a pseudo-terminal (-t); false: never (-T); absent: when this is a terminal. */
	pty?: boolean;
}

/**
 * Reads `ssh NAME [NODE] [-- COMMAND...]`. The words after `--` are joined
 * with spaces into one line for the node's shell, as ssh does, so
 * `-- 'docker ps | head -3'` pipes on the node.
 */
export function parseSshArgs(
	values: CommandArgs['values'],
	positionals: string[],
	afterDoubleDash: string[] | undefined,
): SshRequest {
	const words = afterDoubleDash ?? [];
	const before = positionals.slice(0, positionals.length - words.length);
	const example = 'e.g. swarmbee ssh demo workerbee-1 -- htop';
	if (before.length === 0) throw new InputError('ssh needs a cluster name', {nextSteps: [example]});
	if (before.length > 2) {
		throw new InputError(`ssh takes a cluster name and at most one node before the command, got ${before.join(' ')}`, {
			nextSteps: [
				`put the command after --: swarmbee ssh ${before.slice(0, 2).join(' ')} -- ${before.slice(2).join(' ')}`,
			],
		});
	}
	const [name, node] = before as [string, string | undefined];
	const all = Boolean(values.all);
	if (values.tty && values['no-tty'])
		throw new InputError('--tty and --no-tty contradict each other', {
			nextSteps: ['choose one (neither: a pseudo-terminal when this is a terminal)'],
		});
	const command = words.length > 0 ? words.join(' ') : undefined;
	if (all) {
		if (node !== undefined)
			throw new InputError(`--all runs on every node; it takes no node (got ${node})`, {
				nextSteps: [`swarmbee ssh ${name} --all -- hostname`, `or one node: swarmbee ssh ${name} ${node} -- hostname`],
			});
		if (command === undefined)
			throw new InputError('--all needs a command after --', {
				nextSteps: [`e.g. swarmbee ssh ${name} --all -- uptime`],
			});
		if (values.tty)
			throw new InputError("--all runs without a terminal: the nodes' output is interleaved line by line", {
				nextSteps: ['drop --tty, or pick one node for an interactive program'],
			});
	}
	return {
		name,
		...(node !== undefined ? {node} : {}),
		...(command !== undefined ? {command} : {}),
		all,
		...(values.tty ? {pty: true} : values['no-tty'] ? {pty: false} : {}),
	};
}

export async function run({values, positionals, afterDoubleDash}: CommandArgs, io: CommandIO): Promise<number> {
	const request = parseSshArgs(values, positionals, afterDoubleDash);
	const session = await openCluster(request.name, io, {needs: ['ssh'], verb: 'open a shell on'});
	const journal = session.journal.value;
	const controller = new AbortController();
	// With a pseudo-terminal Ctrl-C is a key for the remote program; this owner hears SIGTERM (and Ctrl-C without one).
	const release = handleInterrupts(controller, io, () => {});
	try {
		if (request.all) {
			const prefix = nodePrefixes(journal.nodes.map(n => n.name));
			const outcomes = await execOnEveryNode({
				cluster: session,
				command: defined(request.command, 'parseSshArgs let --all through without a command'),
				signal: controller.signal,
				onLine: (node, stream, line) => (stream === 'stdout' ? io.stdout : io.stderr).write(`${prefix(node)}${line}\n`),
			});
			for (const outcome of outcomes) {
				if (outcome.error)
					io.stderr.write(
						formatError(errorInfo(outcome.error))
							.map(line => `${prefix(outcome.node)}${line}\n`)
							.join(''),
					);
			}
			return worstExit(outcomes.map(o => o.code));
		}
		return await openShell({
			cluster: session,
			...(request.node !== undefined ? {node: request.node} : {}),
			...(request.command !== undefined ? {command: request.command} : {}),
			...(request.pty !== undefined ? {pty: request.pty} : {}),
			terminal: terminalOf(io),
			env: io.env,
			signal: controller.signal,
		});
	} catch (error) {
		if (error instanceof InputError) throw error;
		// The remote command's status is ours; swarmbee failing to run it is 255, as with ssh.
		reportError(error, io, false);
		return controller.signal.aborted ? 130 : UNREACHABLE;
	} finally {
		release();
		await session.close();
	}
}
