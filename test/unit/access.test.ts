import {execFileSync, spawn} from 'node:child_process';
import {once} from 'node:events';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {PassThrough} from 'node:stream';
import type ssh2 from 'ssh2';
import {describe, expect, it} from 'vitest';
import {
	lastLines,
	nodeLogCommand,
	resolveLogTargets,
	serviceLogsCommand,
	untilChannelCloses,
} from '../../source/access/logs.js';
import {nodePrefixes, worstExit} from '../../source/access/node-session.js';
import {nodeOrManager} from '../../source/nodes/targets.js';
import {contextName, evalHint, parseEnvArgs, shellKind, shellLines} from '../../source/commands/env.js';
import {parseLogsArgs} from '../../source/commands/logs.js';
import {parseSshArgs} from '../../source/commands/ssh.js';
import {InputError} from '../../source/errors.js';
import {main} from '../../source/main.js';
import {exitStatus} from '../../source/ssh/connection.js';
import {attachTerminal} from '../../source/ssh/terminal.js';
import type {Journal} from '../../source/store/journal.js';
import {eventually} from './eventually.js';

function journal(nodes: string[], database = true): Journal {
	return {
		version: 1,
		cluster: 'demo',
		owner: 'o',
		provider: 'local',
		state: 'ready',
		createdAt: '',
		updatedAt: '',
		steps: {},
		nodes: nodes.map((name, index) => ({
			name,
			index,
			role: index === 0 ? 'manager' : 'worker',
			state: 'running',
			ssh: {host: '10.0.0.1', port: 22, user: 'root'},
			hostKey: {publicKey: 'k', fingerprint: 'f'},
		})),
		...(database ? {database: {image: 'i', stackHash: 'h', secret: 's', deployedAt: ''}} : {}),
	};
}

/** What InputError a call throws (its message and fixes), or fails the test. */
function refusal(call: () => unknown): {message: string; nextSteps: string[]} {
	try {
		call();
	} catch (error) {
		expect(error).toBeInstanceOf(InputError);
		return {message: (error as InputError).message, nextSteps: (error as InputError).nextSteps};
	}
	throw new Error('expected an InputError');
}

describe('ssh arguments', () => {
	// main hands over every positional, and separately what came after `--`.
	const parse = (values: Record<string, boolean>, before: string[], after?: string[]) =>
		parseSshArgs(values, [...before, ...(after ?? [])], after);

	it("NAME alone is the manager's shell; NODE picks another; what follows -- is one command line, as ssh joins it", () => {
		expect(parse({}, ['demo'])).toEqual({name: 'demo', all: false});
		expect(parse({}, ['demo', 'workerbee-2'], ['htop'])).toEqual({
			name: 'demo',
			node: 'workerbee-2',
			command: 'htop',
			all: false,
		});
		expect(parse({}, ['demo'], ['docker', 'ps', '|', 'head', '-3'])).toEqual({
			name: 'demo',
			command: 'docker ps | head -3',
			all: false,
		});
		expect(parse({}, ['demo', 'queenbee'], [])).toEqual({name: 'demo', node: 'queenbee', all: false});
	});

	it('-t forces a pseudo-terminal and -T refuses one; both at once is an error', () => {
		expect(parse({tty: true}, ['demo'], ['top']).pty).toBe(true);
		expect(parse({'no-tty': true}, ['demo'], ['top']).pty).toBe(false);
		expect(parse({}, ['demo'], ['top'])).not.toHaveProperty('pty');
		expect(refusal(() => parse({tty: true, 'no-tty': true}, ['demo'])).message).toBe(
			'--tty and --no-tty contradict each other',
		);
	});

	it('--all wants a command, no node and no terminal', () => {
		expect(parse({all: true}, ['demo'], ['uptime'])).toEqual({name: 'demo', command: 'uptime', all: true});
		expect(refusal(() => parse({all: true}, ['demo']))).toEqual({
			message: '--all needs a command after --',
			nextSteps: ['e.g. swarmbee ssh demo --all -- uptime'],
		});
		expect(refusal(() => parse({all: true}, ['demo', 'queenbee'], ['ls'])).message).toBe(
			'--all runs on every node; it takes no node (got queenbee)',
		);
		expect(refusal(() => parse({all: true, tty: true}, ['demo'], ['ls'])).message).toContain(
			'--all runs without a terminal',
		);
	});

	it('a command without -- is refused with the line that works', () => {
		expect(refusal(() => parse({}, ['demo', 'queenbee', 'ls', '/tmp']))).toEqual({
			message: 'ssh takes a cluster name and at most one node before the command, got demo queenbee ls /tmp',
			nextSteps: ['put the command after --: swarmbee ssh demo queenbee -- ls /tmp'],
		});
		expect(refusal(() => parse({}, [], ['hostname'])).message).toBe('ssh needs a cluster name');
	});

	it("main keeps what follows -- apart: a --json there is the remote tool's, and an option there is no option of swarmbee", async () => {
		const home = mkdtempSync(path.join(tmpdir(), 'swarmbee-unit-'));
		try {
			const out: string[] = [];
			const err: string[] = [];
			const io = {
				stdout: {write: (s: string) => out.push(s)},
				stderr: {write: (s: string) => err.push(s)},
				interactive: false,
				env: {SWARMBEE_HOME: home},
			} as never;
			expect(await main(['ssh', 'demo', '--', 'tool', '--json', '-x'], io)).toBe(2);
			expect(out).toEqual([]);
			expect(err.join('')).toContain(`there is no cluster named demo in ${home}`);
			expect(await main(['ssh', 'demo', 'queenbee', '-x'], io)).toBe(2);
			expect(err.join('')).toContain("Unknown option '-x'");
		} finally {
			rmSync(home, {recursive: true, force: true});
		}
	});
});

describe('node names and exit statuses', () => {
	it('no node is the first manager; an unknown one lists those there are', () => {
		expect(nodeOrManager(journal(['queenbee', 'workerbee-1']), undefined)).toBe('queenbee');
		expect(nodeOrManager(journal(['queenbee', 'workerbee-1']), 'workerbee-1')).toBe('workerbee-1');
		expect(refusal(() => nodeOrManager(journal(['queenbee', 'workerbee-1']), 'workerbee-9'))).toEqual({
			message: 'cluster demo has no node workerbee-9',
			nextSteps: ['choose one of: queenbee, workerbee-1'],
		});
	});

	it('--all prefixes every line with its node, padded to one column', () => {
		const prefix = nodePrefixes(['queenbee', 'workerbee-1', 'workerbee-10']);
		expect(['queenbee', 'workerbee-1', 'workerbee-10'].map(n => `${prefix(n)}up`)).toEqual([
			'queenbee     | up',
			'workerbee-1  | up',
			'workerbee-10 | up',
		]);
	});

	it('the exit status of several is the worst; a signal is 128 + its number; no status at all is 255', () => {
		expect(worstExit([0, 0])).toBe(0);
		expect(worstExit([0, 1, 0])).toBe(1);
		expect(worstExit([1, 255, 2])).toBe(255);
		expect(worstExit([])).toBe(0);
		expect(exitStatus(0, undefined)).toBe(0);
		expect(exitStatus(7, undefined)).toBe(7);
		expect(exitStatus(null, 'TERM')).toBe(143);
		expect(exitStatus(null, 'KILL')).toBe(137);
		expect(exitStatus(undefined, undefined)).toBe(255);
	});
});

describe('attachTerminal', () => {
	/**
	 * A session channel as ssh2 1.x delivers one: a readable whose `exit`
	 * event is emitted as the server's exit-status arrives (listeners or not),
	 * and whose `close` comes after the output has been read, with the status.
	 */
	function channel() {
		// emitClose off as in ssh2's Channel: its only close is the one the protocol sends.
		const stream = new PassThrough({emitClose: false}) as PassThrough & {
			stderr: PassThrough;
			signal: () => void;
			setWindow: () => void;
			close: () => void;
		};
		stream.stderr = new PassThrough();
		stream.signal = () => {};
		stream.setWindow = () => {};
		stream.close = () => {};
		return stream;
	}
	const terminal = () => ({stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough()});

	it('the exit status of a command that ended before the session was attached (ssh demo -- false)', async () => {
		const session = channel();
		session.write('last words\n');
		// The command ended while the session was still being handed over: its exit event had no listener.
		session.emit('exit', 1);
		session.end();
		session.once('end', () => setImmediate(() => session.emit('close', 1)));
		const local = terminal();
		const output: string[] = [];
		local.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
		const code = await attachTerminal(session as unknown as ssh2.ClientChannel, local, {pty: false});
		expect(code).toBe(1);
		expect(output.join('')).toBe('last words\n');
	});

	it('a signal is 128 + its number, named as ssh2 names it; a close without any status is 255', async () => {
		for (const [args, expected] of [
			[[null, 'SIGTERM'], 143],
			[[], 255],
		] as const) {
			const session = channel();
			session.end();
			session.once('end', () => setImmediate(() => session.emit('close', ...args)));
			expect(await attachTerminal(session as unknown as ssh2.ClientChannel, terminal(), {pty: false})).toBe(expected);
		}
		expect(exitStatus(null, 'SIGKILL')).toBe(137);
	});
});

describe('env lines', () => {
	const socket = '/home/me/.config/swarmbee-nodejs/clusters/demo/docker/docker.sock';
	const set = {DOCKER_HOST: `unix://${socket}`, SWARMBEE_CLUSTER: 'demo'};

	it('POSIX shells: export and unset, values quoted only when they must be', () => {
		expect(
			shellLines('posix', {
				set,
				comments: ['Run this command to configure your shell:', evalHint('posix', 'env demo')],
			}),
		).toBe(
			[
				`export DOCKER_HOST=unix://${socket}`,
				'export SWARMBEE_CLUSTER=demo',
				'# Run this command to configure your shell:',
				'# eval "$(swarmbee env demo)"',
				'',
			].join('\n'),
		);
		expect(shellLines('posix', {unset: ['DOCKER_HOST', 'SWARMBEE_CLUSTER']})).toBe(
			'unset DOCKER_HOST SWARMBEE_CLUSTER\n',
		);
		expect(shellLines('posix', {set: {DOCKER_HOST: "unix:///home/o'neil/my files/docker.sock"}})).toBe(
			"export DOCKER_HOST='unix:///home/o'\\''neil/my files/docker.sock'\n",
		);
	});

	it("fish: set -gx and set -e, single quotes with \\ and ' escaped", () => {
		expect(
			shellLines('fish', {set, unset: ['DOCKER_CONTEXT'], comments: [evalHint('fish', 'env demo --shell fish')]}),
		).toBe(
			[
				'set -e DOCKER_CONTEXT;',
				`set -gx DOCKER_HOST 'unix://${socket}';`,
				"set -gx SWARMBEE_CLUSTER 'demo';",
				'# swarmbee env demo --shell fish | source',
				'',
			].join('\n'),
		);
		expect(shellLines('fish', {set: {X: "it's a \\ path"}})).toBe("set -gx X 'it\\'s a \\\\ path';\n");
	});

	it('PowerShell: $Env: and Remove-Item, single quotes doubled', () => {
		expect(
			shellLines('powershell', {
				set,
				unset: ['DOCKER_CONTEXT'],
				comments: [evalHint('powershell', 'env demo --shell powershell')],
			}),
		).toBe(
			[
				'Remove-Item Env:\\DOCKER_CONTEXT -ErrorAction SilentlyContinue',
				`$Env:DOCKER_HOST = 'unix://${socket}'`,
				"$Env:SWARMBEE_CLUSTER = 'demo'",
				'# & swarmbee env demo --shell powershell | Invoke-Expression',
				'',
			].join('\n'),
		);
		expect(shellLines('powershell', {set: {X: "o'neil"}})).toBe("$Env:X = 'o''neil'\n");
	});

	it('the lines really do set the variable in sh, however odd the path', () => {
		const value = "unix:///tmp/a b/'quoted' $HOME `x`/docker.sock";
		const printed = execFileSync(
			'sh',
			['-c', `eval "$1"; printf %s "$DOCKER_HOST"`, 'sh', shellLines('posix', {set: {DOCKER_HOST: value}})],
			{encoding: 'utf8'},
		);
		expect(printed).toBe(value);
	});

	it('--shell names a shell (fish from $SHELL when not given); another is refused with the choices', () => {
		expect(shellKind(undefined, {SHELL: '/bin/bash'})).toBe('posix');
		expect(shellKind(undefined, {SHELL: '/usr/bin/fish'})).toBe('fish');
		expect(shellKind(undefined, {})).toBe('posix');
		expect(shellKind('zsh', {SHELL: '/usr/bin/fish'})).toBe('posix');
		expect(shellKind('pwsh', {})).toBe('powershell');
		expect(refusal(() => shellKind('tcsh', {}))).toEqual({
			message: '--shell tcsh is not a shell swarmbee writes for',
			nextSteps: ['choose bash, zsh, sh, fish or powershell'],
		});
	});

	it('env NAME; --unset finds the cluster in SWARMBEE_CLUSTER, which env set', () => {
		expect(parseEnvArgs({}, ['demo'], {})).toEqual({name: 'demo', unset: false, context: false, shell: 'posix'});
		expect(parseEnvArgs({unset: true}, [], {SWARMBEE_CLUSTER: 'demo'})).toMatchObject({name: 'demo', unset: true});
		expect(refusal(() => parseEnvArgs({}, [], {SWARMBEE_CLUSTER: 'demo'})).message).toBe('env needs a cluster name');
		expect(refusal(() => parseEnvArgs({}, ['a', 'b'], {})).message).toBe('env takes one cluster name, got 2: a b');
		expect(contextName('demo')).toBe('swarmbee-demo');
	});
});

describe('logs', () => {
	it('a node, a database server by its short or full name, or every server', () => {
		const j = journal(['queenbee', 'workerbee-1']);
		expect(resolveLogTargets(j, 'workerbee-1')).toEqual([{kind: 'node', node: 'workerbee-1'}]);
		expect(resolveLogTargets(j, 'rdb-queenbee')).toEqual([{kind: 'service', service: 'swarmbee_rdb-queenbee'}]);
		expect(resolveLogTargets(j, 'swarmbee_rdb-workerbee-1')).toEqual([
			{kind: 'service', service: 'swarmbee_rdb-workerbee-1'},
		]);
		expect(resolveLogTargets(j, undefined)).toEqual([
			{kind: 'service', service: 'swarmbee_rdb-queenbee'},
			{kind: 'service', service: 'swarmbee_rdb-workerbee-1'},
		]);
	});

	it('an unknown name lists the nodes and servers; a cluster without a database wants a node', () => {
		expect(refusal(() => resolveLogTargets(journal(['queenbee', 'workerbee-1']), 'rdb-workerbee-2'))).toEqual({
			message: 'demo has no node or database server named rdb-workerbee-2',
			nextSteps: ['nodes: queenbee, workerbee-1', 'database servers: rdb-queenbee, rdb-workerbee-1'],
		});
		expect(refusal(() => resolveLogTargets(journal(['queenbee'], false), 'rdb-queenbee')).nextSteps).toEqual([
			'nodes: queenbee',
		]);
		expect(refusal(() => resolveLogTargets(journal(['queenbee'], false), undefined)).message).toBe(
			"demo runs no database servers; say which node's log to show",
		);
	});

	it('--lines is a count or all (100 by default); --follow follows', () => {
		expect(parseLogsArgs({}, ['demo', 'rdb-queenbee'])).toEqual({
			name: 'demo',
			target: 'rdb-queenbee',
			follow: false,
			lines: 100,
		});
		expect(parseLogsArgs({follow: true, lines: '20'}, ['demo'])).toEqual({name: 'demo', follow: true, lines: 20});
		expect(parseLogsArgs({lines: 'all'}, ['demo']).lines).toBe('all');
		for (const bad of ['0', '-3', 'many', '1.5', '1000001'])
			expect(refusal(() => parseLogsArgs({lines: bad}, ['demo'])).message).toBe(
				`--lines ${bad} is not a number of lines swarmbee can ask for`,
			);
		expect(refusal(() => parseLogsArgs({}, ['demo', 'a', 'b'])).message).toBe(
			'logs takes a cluster name and one server or node, got demo a b',
		);
	});

	it("the commands: docker service logs on a manager; the journal, else syslog, else the daemons' files on a node", () => {
		expect(serviceLogsCommand('swarmbee_rdb-queenbee', {lines: 100, follow: false})).toBe(
			'docker service logs --tail 100 swarmbee_rdb-queenbee',
		);
		expect(serviceLogsCommand('swarmbee_rdb-queenbee', {lines: 'all', follow: true})).toBe(
			'docker service logs --tail all --follow swarmbee_rdb-queenbee',
		);
		const follow = nodeLogCommand({lines: 50, follow: true});
		expect(follow).toContain('exec journalctl --no-pager --output=short-iso -n 50 --follow');
		expect(follow).toContain('exec tail -v -n 50 -F "$f"');
		expect(nodeLogCommand({lines: 'all', follow: false})).toContain(
			'exec journalctl --no-pager --output=short-iso -n all\n',
		);
		expect(nodeLogCommand({lines: 'all', follow: false})).toContain('exec tail -v -n +1 "$@"');
	});

	it('the node log script picks the first source there is, in a real sh', () => {
		const root = mkdtempSync(path.join(tmpdir(), 'swarmbee-logs-'));
		try {
			// The script reads absolute paths; run it with them pointed into a scratch folder.
			const script = nodeLogCommand({lines: 2, follow: false})
				.replaceAll('/var/log/', `${root}/`)
				.replaceAll('/run/systemd/system', `${root}/no-systemd`);
			writeFileSync(path.join(root, 'docker.log'), 'a\nb\nc\n');
			writeFileSync(path.join(root, 'fail2ban.log'), 'x\n');
			// Empty: nothing to show, so no header for it.
			writeFileSync(path.join(root, 'auth.log'), '');
			expect(execFileSync('sh', ['-c', script], {encoding: 'utf8'})).toBe(
				`==> ${root}/docker.log <==\nb\nc\n\n==> ${root}/fail2ban.log <==\nx\n`,
			);
			writeFileSync(path.join(root, 'syslog'), 's1\ns2\ns3\n');
			expect(execFileSync('sh', ['-c', script], {encoding: 'utf8'})).toBe(`==> ${root}/syslog <==\ns2\ns3\n`);
		} finally {
			rmSync(root, {recursive: true, force: true});
		}
	});

	it('a follow stops when the channel closes (its stdin ends), the whole command with it; a command that ends says its status', async () => {
		// Its own process group, as sshd makes it: `kill 0` must stop this and nothing of the test's.
		const follow = spawn('sh', ['-c', untilChannelCloses('sleep 30 & wait')], {
			detached: true,
			stdio: ['pipe', 'ignore', 'ignore'],
		});
		await new Promise(resolve => setTimeout(resolve, 200));
		const started = Date.now();
		follow.stdin.end();
		const [code, signal] = await once(follow, 'exit');
		expect({code, signal}).toEqual({code: null, signal: 'SIGTERM'});
		expect(Date.now() - started).toBeLessThan(5_000);
		// The sleep went too (once init has reaped what kill 0 stopped, the group is empty).
		await eventually(() => expect(() => process.kill(-follow.pid!, 0)).toThrow(), 5_000);

		const done = spawn('sh', ['-c', untilChannelCloses('exit 3')], {
			detached: true,
			stdio: ['pipe', 'ignore', 'ignore'],
		});
		expect((await once(done, 'exit'))[0]).toBe(3);
		done.stdin.end();
	});

	it('the tail of a local log', () => {
		expect(lastLines('a\nb\nc\n', 2)).toEqual(['b', 'c']);
		expect(lastLines('a\nb\nc', 5)).toEqual(['a', 'b', 'c']);
		expect(lastLines('a\nb\n', 'all')).toEqual(['a', 'b']);
	});
});
