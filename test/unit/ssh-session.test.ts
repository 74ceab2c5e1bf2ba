import {mkdirSync, mkdtempSync, rmSync, statSync} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {PassThrough} from 'node:stream';
import ssh2 from 'ssh2';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {execOnEveryNode, explainUnreachable, openShell, UNREACHABLE} from '../../source/access/node-session.js';
import {BugError} from '../../source/errors.js';
import {dockerErrorResponse} from '../../source/access/docker-socket.js';
import {HostKeyMismatchError, SshConnection, SshConnectError} from '../../source/ssh/connection.js';
import {LocalForward, socketAnswers} from '../../source/ssh/forward.js';
import {fingerprint, generateKeyPair, type KeyPair} from '../../source/ssh/keys.js';
import type {Journal} from '../../source/store/journal.js';
import {sshTarget} from '../../source/nodes/targets.js';
import type {NodeReach} from '../../source/access/node-session.js';
import {eventually} from './eventually.js';

/**
 * A real SSH server in this process (ssh2's Server), as strict as a node's
 * sshd where it matters here: the cluster key only, one host key, sessions
 * with and without a pseudo-terminal, exit statuses, window changes; no
 * socket forwarding (as an sshd with AllowStreamLocalForwarding no).
 */
interface Seen {
	pty?: {rows: number; cols: number; term: string};
	windows: Array<{rows: number; cols: number}>;
	commands: string[];
	input: string;
}

const clusterKey = generateKeyPair('cluster');
const hostKey = generateKeyPair('host');
let server: ssh2.Server;
let port: number;
const seen: Seen = {windows: [], commands: [], input: ''};

beforeAll(async () => {
	const allowed = ssh2.utils.parseKey(clusterKey.publicKey) as ssh2.ParsedKey;
	server = new ssh2.Server({hostKeys: [hostKey.privateKey]}, client => {
		// A client that refuses our host key hangs up mid-handshake: expected here.
		client.on('error', () => {});
		client.on('authentication', ctx => {
			if (ctx.method === 'publickey' && ctx.key.data.equals(allowed.getPublicSSH())) ctx.accept();
			else ctx.reject(['publickey']);
		});
		client.on('ready', () =>
			client.on('session', accept => {
				const session = accept();
				session.on('pty', (ok, _no, info) => {
					seen.pty = {rows: info.rows, cols: info.cols, term: info.term};
					ok?.();
				});
				session.on('window-change', (ok, _no, info) => {
					seen.windows.push({rows: info.rows, cols: info.cols});
					ok?.();
				});
				// The login shell: echoes what it is sent, and exits 3 at "exit".
				session.on('shell', ok => {
					const channel = ok();
					channel.write('$ ');
					channel.on('data', (chunk: Buffer) => {
						seen.input += chunk.toString();
						if (seen.input.includes('exit\r')) {
							channel.exit(3);
							channel.end();
						}
					});
				});
				session.on('exec', (ok, _no, info) => {
					seen.commands.push(info.command);
					const channel = ok();
					if (info.command === 'docker system dial-stdio') {
						// Stands in for the remote Docker socket: answers each request.
						channel.on('data', (chunk: Buffer) => channel.write(`docker got ${chunk}`));
						return;
					}
					if (info.command === 'cat') {
						channel.on('data', (chunk: Buffer) => channel.write(chunk));
						channel.on('end', () => {
							channel.exit(0);
							channel.end();
						});
						return;
					}
					const [, out, code] = /^say (\S+) (\d+)$/.exec(info.command) ?? [];
					channel.write(`${out}\nsecond line\n`);
					channel.stderr.write('on stderr\n');
					channel.exit(Number(code ?? 0));
					channel.end();
				});
			}),
		);
	});
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	port = (server.address() as net.AddressInfo).port;
});

afterAll(() => new Promise<void>(resolve => server.close(() => resolve())));

function journal(nodes: Array<{name: string; hostKey?: KeyPair; port?: number}>): Journal {
	return {
		version: 1,
		cluster: 'demo',
		owner: 'o',
		provider: 'local',
		state: 'ready',
		createdAt: '',
		updatedAt: '',
		steps: {},
		nodes: nodes.map((n, index) => ({
			name: n.name,
			index,
			role: index === 0 ? 'manager' : 'worker',
			state: 'running',
			ssh: {host: '127.0.0.1', port: n.port ?? port, user: 'root'},
			hostKey: {
				publicKey: (n.hostKey ?? hostKey).publicKey,
				fingerprint: fingerprint((n.hostKey ?? hostKey).publicKey),
			},
		})),
	};
}

/** A terminal of streams: a TTY (raw mode recorded, 30x100, resizable) or pipes. */
function fakeTerminal(tty: boolean) {
	const rawModes: boolean[] = [];
	const stdin = Object.assign(new PassThrough(), {
		isTTY: tty,
		isRaw: false,
		setRawMode(mode: boolean) {
			stdin.isRaw = mode;
			rawModes.push(mode);
		},
	});
	const stdout = Object.assign(new PassThrough(), {isTTY: tty, rows: 30, columns: 100});
	const stderr = new PassThrough();
	let out = '';
	let err = '';
	stdout.on('data', chunk => (out += chunk));
	stderr.on('data', chunk => (err += chunk));
	return {terminal: {stdin, stdout, stderr}, rawModes, out: () => out, err: () => err};
}

/** How the session reaches a node: its journal, and a connection of the node's own with the cluster key. */
function reach(j: Journal): NodeReach {
	return {
		journal: {value: j},
		connect: (node, signal) => SshConnection.connect(sshTarget(j, node, clusterKey.privateKey), {signal}),
	};
}

describe('openShell', () => {
	it('a login shell on a pseudo-terminal: raw keys in, the window size and its changes passed on, the exit status back, the terminal given back as it was', async () => {
		const {terminal, rawModes, out} = fakeTerminal(true);
		const session = openShell({
			cluster: reach(journal([{name: 'queenbee'}])),
			terminal,
			env: {TERM: 'screen-256color'},
		});
		await eventually(() => expect(out()).toContain('$ '));
		expect(seen.pty).toEqual({rows: 30, cols: 100, term: 'screen-256color'});
		expect(rawModes).toEqual([true]);
		Object.assign(terminal.stdout, {rows: 40, columns: 120});
		terminal.stdout.emit('resize');
		await eventually(() => expect(seen.windows).toEqual([{rows: 40, cols: 120}]));
		// Ctrl-C is a byte for the remote program, not a signal here.
		terminal.stdin.write('\x03');
		terminal.stdin.write('exit\r');
		expect(await session).toBe(3);
		expect(seen.input).toBe('\x03exit\r');
		expect(rawModes).toEqual([true, false]);
		expect(terminal.stdin.isPaused()).toBe(true);
	});

	it('a command without a terminal: its output on stdout and stderr, its exit status, no pseudo-terminal', async () => {
		seen.pty = undefined;
		const {terminal, rawModes, out, err} = fakeTerminal(false);
		terminal.stdin.end();
		expect(
			await openShell({
				cluster: reach(journal([{name: 'queenbee'}, {name: 'workerbee-1'}])),
				node: 'workerbee-1',
				command: 'say hello 1',
				terminal,
				env: {},
			}),
		).toBe(1);
		expect(seen.pty).toBeUndefined();
		expect(rawModes).toEqual([]);
		expect(out()).toBe('hello\nsecond line\n');
		expect(err()).toBe('on stderr\n');
		expect(seen.commands.at(-1)).toBe('say hello 1');
	});

	it("our input is the command's, up to its end (echo x | swarmbee ssh demo -- cat)", async () => {
		const {terminal, out} = fakeTerminal(false);
		terminal.stdin.end('piped in\n');
		expect(
			await openShell({
				cluster: reach(journal([{name: 'queenbee'}])),
				command: 'cat',
				terminal,
				env: {},
			}),
		).toBe(0);
		expect(out()).toBe('piped in\n');
	});

	it('refuses a node whose host key is not the one swarmbee installed, before anything runs', async () => {
		const commands = seen.commands.length;
		const {terminal} = fakeTerminal(false);
		const error = await openShell({
			cluster: reach(journal([{name: 'queenbee', hostKey: generateKeyPair('other')}])),
			command: 'say no 0',
			terminal,
			env: {},
		}).catch(e => e);
		expect(error).toBeInstanceOf(HostKeyMismatchError);
		expect(error.message).toContain(`offered host key ${fingerprint(hostKey.publicKey)}`);
		expect(seen.commands.length).toBe(commands);
	});

	it('a node that does not answer says what to check', async () => {
		const closed = net.createServer();
		await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve));
		const deadPort = (closed.address() as net.AddressInfo).port;
		await new Promise(resolve => closed.close(resolve));
		const {terminal} = fakeTerminal(false);
		const error = await openShell({
			cluster: reach(journal([{name: 'queenbee', port: deadPort}])),
			terminal,
			env: {},
		}).catch(e => e);
		expect(error.message).toContain(`SSH to queenbee (127.0.0.1:${deadPort}) failed`);
		expect(error.nextSteps).toEqual([
			'is the machine running? swarmbee status demo --once',
			'swarmbee up demo starts what is stopped and repairs the rest',
		]);
	});
});

describe('execOnEveryNode', () => {
	it('runs on every node at once, each line with its node and stream; a node that cannot be reached is an outcome, not an exception', async () => {
		const lines: string[] = [];
		const outcomes = await execOnEveryNode({
			cluster: reach(
				journal([
					{name: 'queenbee'},
					{name: 'workerbee-1'},
					{name: 'workerbee-2', hostKey: generateKeyPair('impostor')},
				]),
			),
			command: 'say up 0',
			onLine: (node, stream, line) => lines.push(`${node} ${stream} ${line}`),
		});
		expect(outcomes.map(o => [o.node, o.code])).toEqual([
			['queenbee', 0],
			['workerbee-1', 0],
			['workerbee-2', UNREACHABLE],
		]);
		expect(outcomes[2]!.error).toBeInstanceOf(HostKeyMismatchError);
		expect(lines.sort()).toEqual([
			'queenbee stderr on stderr',
			'queenbee stdout second line',
			'queenbee stdout up',
			'workerbee-1 stderr on stderr',
			'workerbee-1 stdout second line',
			'workerbee-1 stdout up',
		]);
	});
});

describe("the manager's Docker socket over SSH", () => {
	const folder = mkdtempSync(path.join(tmpdir(), 'swarmbee-socket-'));
	afterAll(() => rmSync(folder, {recursive: true, force: true}));

	it('where sshd refuses socket forwarding, docker system dial-stdio carries the bytes; the local socket is 0600', async () => {
		const connection = await SshConnection.connect({
			node: 'queenbee',
			host: '127.0.0.1',
			port,
			username: 'root',
			privateKey: clusterKey.privateKey,
			hostKey: hostKey.publicKey,
		});
		try {
			const socket = path.join(folder, 'docker.sock');
			const forward = await LocalForward.listenOnSocket(socket, () =>
				connection.forwardOutToSocket('/var/run/docker.sock', 'docker system dial-stdio'),
			);
			try {
				expect(statSync(socket).mode & 0o777).toBe(0o600);
				const answer = await new Promise<string>((resolve, reject) => {
					const client = net.connect(socket, () => client.write('GET /_ping'));
					client.once('data', chunk => {
						resolve(chunk.toString());
						client.destroy();
					});
					client.once('error', reject);
				});
				expect(answer).toBe('docker got GET /_ping');
				expect(seen.commands).toContain('docker system dial-stdio');
				// A second server on the same socket is refused while the first answers.
				await expect(LocalForward.listenOnSocket(socket, () => connection.forwardOutToSocket('/x'))).rejects.toThrow(
					`${socket} is already served by another process`,
				);
			} finally {
				await forward.close();
			}
			expect(await socketAnswers(socket)).toBe(false);
		} finally {
			connection.close();
		}
	});

	it('when the manager cannot be reached, the docker CLI is answered with an API error that says why (not a reset connection)', async () => {
		const socket = path.join(folder, 'refusing.sock');
		const forward = await LocalForward.listenOnSocket(
			socket,
			async () => {
				throw new SshConnectError('SSH to queenbee (10.0.0.1:22) failed: Timed out while waiting for handshake', {
					node: 'queenbee',
				});
			},
			{refusal: error => dockerErrorResponse(explainUnreachable(error, 'demo') as Error)},
		);
		try {
			const {status, body} = await new Promise<{status: number; body: string}>((resolve, reject) => {
				http
					.get({socketPath: socket, path: '/v1.41/nodes'}, response => {
						let body = '';
						response.on('data', chunk => (body += chunk));
						response.on('end', () => resolve({status: response.statusCode!, body}));
					})
					.on('error', reject);
			});
			expect(status).toBe(502);
			// The docker CLI prints it as: Error response from daemon: swarmbee: SSH to queenbee …
			expect(JSON.parse(body)).toEqual({
				message:
					'swarmbee: SSH to queenbee (10.0.0.1:22) failed: Timed out while waiting for handshake (try: is the machine running? swarmbee status demo --once; swarmbee up demo starts what is stopped and repairs the rest)',
			});
		} finally {
			await forward.close();
		}
	});

	it('refuses to make a socket in a folder others may enter', async () => {
		const open = path.join(folder, 'open');
		mkdirSync(open, {mode: 0o755});
		await expect(
			LocalForward.listenOnSocket(path.join(open, 'docker.sock'), async () => new PassThrough()),
		).rejects.toBeInstanceOf(BugError);
	});
});
