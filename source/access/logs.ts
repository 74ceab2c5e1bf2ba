import path from 'node:path';
import {PassThrough} from 'node:stream';
import {CancelledError, InputError} from '../errors.js';
import {readStateFile} from '../files.js';
import {commandFailed} from '../ssh/connection.js';
import type {NodeShells} from '../ssh/shell.js';
import {shellCommand, shq} from '../shell.js';
import type {Journal} from '../store/journal.js';
import {serviceName, stackServiceName} from '../database/stack.js';
import {explainUnreachable} from './node-session.js';
import {connectToManager} from '../nodes/targets.js';

/** How much of a log: the last N lines, or all of it. */
export type LogLines = number | 'all';

/** Whose log: a database server's (a Swarm service, asked of a manager) or a node's own. */
export type LogTarget = {kind: 'service'; service: string} | {kind: 'node'; node: string};

/**
 * `logs NAME [SERVICE|NODE]`, checked against the journal: a node's name,
 * or a database server's service (`rdb-queenbee`, or its full name
 * `swarmbee_rdb-queenbee`). Without one: every database server.
 */
export function resolveLogTargets(journal: Readonly<Journal>, target: string | undefined): LogTarget[] {
	const nodes = journal.nodes.filter(n => n.state !== 'deleting').map(n => n.name);
	const services = journal.database ? nodes.map(serviceName) : [];
	if (target === undefined) {
		if (services.length === 0) {
			throw new InputError(`${journal.cluster} runs no database servers; say which node's log to show`, {
				nextSteps: [`e.g. swarmbee logs ${journal.cluster} ${nodes[0] ?? 'queenbee'}`],
			});
		}
		return nodes.map(node => ({kind: 'service', service: stackServiceName(node)}));
	}
	if (nodes.includes(target)) return [{kind: 'node', node: target}];
	const node = nodes.find(n => target === serviceName(n) || target === stackServiceName(n));
	if (node && services.length > 0) return [{kind: 'service', service: stackServiceName(node)}];
	throw new InputError(`${journal.cluster} has no node or database server named ${target}`, {
		nextSteps: [
			`nodes: ${nodes.join(', ') || 'none yet'}`,
			...(services.length > 0 ? [`database servers: ${services.join(', ')}`] : []),
		],
	});
}

/** `docker service logs` of one service, run on a manager; each line starts with the task and its node. */
export function serviceLogsCommand(service: string, options: {lines: LogLines; follow: boolean}): string {
	return shellCommand([
		'docker',
		'service',
		'logs',
		'--tail',
		String(options.lines),
		...(options.follow ? ['--follow'] : []),
		service,
	]);
}

/**
 * Where a node keeps its log, and the command that shows it: the systemd
 * journal where systemd runs (droplets), else syslog, else the log files
 * the node's own daemons write (local nodes: no systemd, no syslog daemon).
 * Each source starts with a `==> … <==` header, as `tail` marks files.
 */
export function nodeLogCommand(options: {lines: LogLines; follow: boolean}): string {
	const lines =
		options.lines === 'all'
			? {journal: 'all', tail: '+1'}
			: {journal: String(options.lines), tail: String(options.lines)};
	const follow = options.follow ? {journal: ' --follow', tail: ' -F'} : {journal: '', tail: ''};
	const tail = `tail -v -n ${shq(lines.tail)}${follow.tail}`;
	return [
		'if [ -d /run/systemd/system ] && command -v journalctl >/dev/null 2>&1; then',
		`  echo '==> system journal (journalctl) <=='; exec journalctl --no-pager --output=short-iso -n ${shq(lines.journal)}${follow.journal}`,
		'fi',
		`for f in /var/log/syslog /var/log/messages; do [ -s "$f" ] && exec ${tail} "$f"; done`,
		'set --',
		'for f in /var/log/docker.log /var/log/fail2ban.log /var/log/auth.log /var/log/cloud-init-output.log; do [ -s "$f" ] && set -- "$@" "$f"; done',
		`[ "$#" -gt 0 ] && exec ${tail} "$@"`,
		"echo 'this node has no system journal, no syslog and no daemon log files' >&2; exit 1",
	].join('\n');
}

/**
 * `command`, stopped when the SSH channel closes (Ctrl-C here, or a
 * connection that breaks). A follow notices a closed channel only when it
 * next writes, and `docker service logs --follow` ignores the channel's
 * signal request: found by hand, a quiet log left `docker service logs`
 * running on the node after swarmbee had gone. So a watcher reads the
 * command's stdin, which sshd closes with the channel, and then stops the
 * whole command (`kill 0`: the session's process group, sshd made the
 * shell its leader). The caller keeps stdin open until then.
 */
export function untilChannelCloses(command: string): string {
	return ['exec 3<&0 </dev/null', '{ cat <&3; kill 0; } >/dev/null 2>&1 &', command].join('\n');
}

/** One line of a log as it arrives. */
export interface LogLine {
	/** `provision` (this machine's copy of the node's provisioning), `node` (its system log), or the service's name. */
	source: string;
	stream: 'stdout' | 'stderr';
	text: string;
}

/** The last `lines` lines of a text (all of them for `all`). */
export function lastLines(text: string, lines: LogLines): string[] {
	const all = text.split('\n');
	if (all.at(-1) === '') all.pop();
	return lines === 'all' ? all : all.slice(Math.max(0, all.length - lines));
}

/**
 * Reads the logs `targets` name, handing each line over as it comes: a
 * service's log from a manager; a node's provisioning log (the copy
 * swarmbee kept on this machine), then its system log from the node.
 * Without `follow` one after the other; with it, all at once until `signal`
 * aborts, and then it resolves (following ends when asked to). A log that
 * cannot be read is an error naming what failed (its lines were handed
 * over already), and stops the others.
 */
export async function readLogs(options: {
	journal: Readonly<Journal>;
	/** The folder of the cluster's per-node logs (`ClusterPaths.logsDir`). */
	logsDir: string;
	ssh: NodeShells;
	targets: LogTarget[];
	lines: LogLines;
	follow: boolean;
	onLine: (line: LogLine) => void;
	signal?: AbortSignal;
}): Promise<void> {
	const {journal, ssh, lines, onLine, follow} = options;
	const stop = new AbortController();
	const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
	const readOne = async (target: LogTarget) => {
		const source = target.kind === 'service' ? target.service : 'node';
		let node: string;
		let command: string;
		if (target.kind === 'service') {
			node = (await connectToManager(journal, ssh, signal)).manager;
			command = serviceLogsCommand(target.service, {lines, follow});
		} else {
			node = target.node;
			for (const text of provisioningLog(options.logsDir, node, lines))
				onLine({source: 'provision', stream: 'stdout', text});
			command = nodeLogCommand({lines, follow});
		}
		const result = await (await ssh.get(node, signal)).exec(follow ? untilChannelCloses(command) : command, {
			signal,
			// Held open for the watcher untilChannelCloses starts; never ended from here.
			...(follow ? {stdin: new PassThrough()} : {}),
			onStdout: text => onLine({source, stream: 'stdout', text}),
			onStderr: text => onLine({source, stream: 'stderr', text}),
		});
		if (result.code !== 0) throw commandFailed(node, command.split('\n')[0] ?? '', result);
	};
	try {
		if (follow) {
			await Promise.all(
				options.targets.map(target =>
					readOne(target).catch(error => {
						stop.abort();
						throw error;
					}),
				),
			);
		} else {
			for (const target of options.targets) await readOne(target);
		}
	} catch (error) {
		if (error instanceof CancelledError && follow && options.signal?.aborted) return;
		throw error;
	}
}

/**
 * The tail of the provisioning log swarmbee kept for a node, under a header
 * naming the file: always the one in this state folder (a path the journal
 * holds is not followed elsewhere), read as a state file (no link, no FIFO).
 */
function provisioningLog(logsDir: string, node: string, lines: LogLines): string[] {
	const file = path.join(logsDir, node, 'provision.log');
	const text = readStateFile(file);
	if (text === undefined) return [`==> no provisioning log yet (${file}) <==`];
	return [`==> provisioning log (${file}) <==`, ...lastLines(text, lines)];
}

/**
 * `swarmbee logs` as a function: resolves TARGET (a node, `rdb-NODE`, or
 * none: every server) and reads it over the session's SSH pool (pinned host
 * keys). Lines go to `onLine` as they come; with `follow`, until `signal`
 * aborts. A node that cannot be reached is said with the two checks worth
 * making.
 *
 *     await streamLogs({journal, ssh: session.ssh, logsDir: paths.logsDir, target: 'rdb-queenbee',
 *       lines: 100, follow: true, signal, onLine: line => pane.push(line.text)});
 */
export async function streamLogs(options: {
	journal: Readonly<Journal>;
	ssh: NodeShells;
	logsDir: string;
	target: string | undefined;
	lines: LogLines;
	follow: boolean;
	onLine: (line: LogLine) => void;
	signal?: AbortSignal;
}): Promise<void> {
	const {journal} = options;
	const targets = resolveLogTargets(journal, options.target);
	try {
		await readLogs({...options, targets});
	} catch (error) {
		throw explainUnreachable(error, journal.cluster);
	}
}
