import {once} from 'node:events';
import {existsSync, readdirSync, statSync} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {parseTaskAddress} from '../../source/database/rethinkdb.js';
import {InputError} from '../../source/errors.js';
import {LocalForward} from '../../source/ssh/forward.js';
import {HostKeyMismatchError, type SshConnection} from '../../source/ssh/connection.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {createTunnelControl} from '../../source/tunnel/cluster-tunnel.js';
import {Tunnel} from '../../source/tunnel/tunnel.js';
import type {TunnelStatus} from '../../source/tunnel/types.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
	for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A TCP server that answers each line with "echo: <line>". */
async function echoServer(): Promise<number> {
	const server = net.createServer(socket => socket.on('data', chunk => socket.write(`echo: ${chunk}`)));
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	cleanups.push(() => new Promise(resolve => server.close(resolve)));
	return (server.address() as net.AddressInfo).port;
}

function request(port: number, text: string): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
		socket.once('data', chunk => {
			resolve(chunk.toString());
			socket.destroy();
		});
		socket.once('error', reject);
	});
}

/** Stands in for an SSH connection: forwardOut dials the echo server; `drop()` plays a lost connection. */
function fakeConnection(echoPort: number) {
	const listeners: Array<() => void> = [];
	const connection = {
		forwardOut: async () => net.connect(echoPort, '127.0.0.1'),
		onClose: (listener: () => void) => {
			listeners.push(listener);
			return () => {
				const at = listeners.indexOf(listener);
				if (at >= 0) listeners.splice(at, 1);
			};
		},
		close: () => {},
	};
	return {
		connection: connection as unknown as SshConnection,
		drop: () => {
			for (const l of listeners) l();
		},
	};
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error('condition not met in time');
		await new Promise(resolve => setTimeout(resolve, 10));
	}
}

describe('LocalForward', () => {
	it('pipes each local connection into a channel and counts bytes', async () => {
		const echo = await echoServer();
		const forward = await LocalForward.listen('127.0.0.1', 0, async () => net.connect(echo, '127.0.0.1'));
		cleanups.push(() => forward.close());
		expect(await request(forward.port, 'hello')).toBe('echo: hello');
		await until(() => forward.counters.connections === 0);
		expect(forward.counters).toMatchObject({totalConnections: 1, bytesOut: 5, bytesIn: 11});
	});

	it('says which port is busy and how to find out who holds it', async () => {
		const holder = net.createServer();
		await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', resolve));
		cleanups.push(() => new Promise(resolve => holder.close(resolve)));
		const port = (holder.address() as net.AddressInfo).port;
		const error = await LocalForward.listen('127.0.0.1', port, async () => net.connect(1)).catch(e => e);
		expect(error).toBeInstanceOf(InputError);
		expect(error.message).toBe(`127.0.0.1:${port} is already in use on this machine`);
	});
});

describe('Tunnel', () => {
	it('goes connecting → open, and reconnecting → open when SSH drops, finding the task again', async () => {
		const echo = await echoServer();
		const states: TunnelStatus[][] = [];
		let located = 0;
		let current = fakeConnection(echo);
		const tunnel = new Tunnel({
			forwards: [{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080}],
			locate: async () => ({
				server: 'queenbee',
				host: located++ === 0 ? 'queenbee' : 'workerbee-1',
				address: '172.18.0.4',
			}),
			connect: async () => current.connection,
			onChange: statuses => states.push(statuses),
			backoff: {initialMs: 10, maxMs: 50},
		});
		cleanups.push(() => tunnel.stop());
		await tunnel.start();
		await tunnel.waitOpen(2_000);
		const port = tunnel.statuses()[0]!.local.port;
		expect(await request(port, 'one')).toBe('echo: one');
		expect(tunnel.statuses()[0]!.target).toEqual({node: 'queenbee', address: '172.18.0.4', port: 8080});

		const dropped = current;
		current = fakeConnection(echo);
		dropped.drop();
		expect(tunnel.current).toBe('reconnecting');
		await tunnel.waitOpen(2_000);
		expect(await request(port, 'two')).toBe('echo: two');
		// The task moved: the tunnel asked where it runs now.
		expect(tunnel.statuses()[0]!.target.node).toBe('workerbee-1');
		expect(states.map(s => s[0]!.state)).toEqual(['connecting', 'open', 'reconnecting', 'open']);
		expect(tunnel.statuses()[0]!.totalConnections).toBe(2);

		await tunnel.stop();
		expect(tunnel.current).toBe('closed');
	});

	it('keeps retrying with backoff and says why', async () => {
		let attempts = 0;
		const tunnel = new Tunnel({
			forwards: [{name: 'driver', localHost: '127.0.0.1', localPort: 0, remotePort: 28015}],
			locate: async () => {
				attempts++;
				throw new Error('the database server of queenbee is not running');
			},
			connect: async () => {
				throw new Error('unreachable');
			},
			backoff: {initialMs: 5, maxMs: 20},
		});
		cleanups.push(() => tunnel.stop());
		await tunnel.start();
		await until(() => attempts >= 3);
		expect(tunnel.current).toBe('connecting');
		expect(tunnel.statuses()[0]!.lastError).toBe('the database server of queenbee is not running');
	});

	it('binds every local port before connecting: a busy one fails first', async () => {
		const holder = net.createServer();
		await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', resolve));
		cleanups.push(() => new Promise(resolve => holder.close(resolve)));
		let located = false;
		const tunnel = new Tunnel({
			forwards: [
				{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080},
				{
					name: 'driver',
					localHost: '127.0.0.1',
					localPort: (holder.address() as net.AddressInfo).port,
					remotePort: 28015,
				},
			],
			locate: async () => {
				located = true;
				throw new Error('x');
			},
			connect: async () => {
				throw new Error('x');
			},
		});
		await expect(tunnel.start()).rejects.toBeInstanceOf(InputError);
		expect(located).toBe(false);
	});
});

describe('the console behind its guard (issue 23)', () => {
	it('a guarded forward: 403 without the token, the console through it with the token; the folder of its socket is 0700 and goes with it', async () => {
		// Stands in for the console at the far end of the SSH channel.
		const console = http.createServer((request, response) => response.end(`console: ${request.method} ${request.url}`));
		await new Promise<void>(resolve => console.listen(0, '127.0.0.1', resolve));
		cleanups.push(() => new Promise(resolve => console.close(resolve)));
		const consolePort = (console.address() as net.AddressInfo).port;
		const made = new Set(readdirSync(tmpdir()).filter(name => name.startsWith('swarmbee-console-')));
		const tunnel = new Tunnel({
			forwards: [{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080, guarded: true}],
			locate: async () => ({server: 'queenbee', host: 'queenbee', address: '172.18.0.4'}),
			connect: async () => fakeConnection(consolePort).connection,
		});
		cleanups.push(() => tunnel.stop());
		await tunnel.start();
		await tunnel.waitOpen(2_000);
		const [status] = tunnel.statuses();
		const port = status!.local.port;
		expect(status!.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/\\?token=[A-Za-z0-9_-]{32}$`));
		const folders = readdirSync(tmpdir()).filter(name => name.startsWith('swarmbee-console-') && !made.has(name));
		expect(folders).toHaveLength(1);
		expect(statSync(path.join(tmpdir(), folders[0]!)).mode & 0o777).toBe(0o700);

		expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(403);
		const login = await fetch(status!.url!, {redirect: 'manual'});
		expect(login.status).toBe(302);
		const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
		const page = await fetch(`http://127.0.0.1:${port}/`, {headers: {cookie}});
		expect(await page.text()).toBe('console: GET /');
		expect(tunnel.statuses()[0]).toMatchObject({refused: 1});
		expect(tunnel.statuses()[0]!.bytesIn).toBeGreaterThan(0);

		await tunnel.stop();
		expect(existsSync(path.join(tmpdir(), folders[0]!))).toBe(false);
	});

	it('a new tunnel has a new token', async () => {
		const never = {locate: async () => new Promise<never>(() => {}), connect: async () => new Promise<never>(() => {})};
		const forwards = [{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080, guarded: true}];
		const one = new Tunnel({forwards, ...never});
		const two = new Tunnel({forwards, ...never});
		cleanups.push(
			() => one.stop(),
			() => two.stop(),
		);
		await one.start();
		await two.start();
		const token = (tunnel: Tunnel) => new URL(tunnel.statuses()[0]!.url!).searchParams.get('token');
		expect(token(one)).not.toBe(token(two));
	});
});

describe('parseTaskAddress', () => {
	it('finds the task container on docker_gwbridge', () => {
		const out =
			'fa4b75d22e67\n{"fa4b75d22e67699b":{"Name":"gateway_3bcd","IPv4Address":"172.18.0.4/16"},"ingress-sbox":{"IPv4Address":"172.18.0.2/16"}}\n';
		expect(parseTaskAddress(out)).toBe('172.18.0.4');
		expect(parseTaskAddress('')).toBeUndefined();
	});
});

describe('tunnel ports and stopping (issue 15)', () => {
	const holdPort = async () => {
		const holder = net.createServer();
		await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', resolve));
		cleanups.push(() => new Promise(resolve => holder.close(resolve)));
		return (holder.address() as net.AddressInfo).port;
	};
	const never = {locate: async () => new Promise<never>(() => {}), connect: async () => new Promise<never>(() => {})};

	it('still reports its ports after stop (the dashboard reads statuses after `t` closes it), and stops twice quietly', async () => {
		const tunnel = new Tunnel({
			forwards: [{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080}],
			...never,
		});
		await tunnel.start();
		const port = tunnel.statuses()[0]!.local.port;
		await tunnel.stop();
		expect(tunnel.statuses()[0]).toMatchObject({state: 'closed', local: {port}});
		await tunnel.stop();
		// The port is free again.
		const again = await LocalForward.listen('127.0.0.1', port, async () => net.connect(1));
		await again.close();
	});

	it('takes any free port when the default one is busy, and says which it wanted', async () => {
		const busy = await holdPort();
		const tunnel = new Tunnel({
			forwards: [{name: 'admin', localHost: '127.0.0.1', localPort: busy, remotePort: 8080, anyPortIfBusy: true}],
			...never,
		});
		cleanups.push(() => tunnel.stop());
		await tunnel.start();
		const local = tunnel.statuses()[0]!.local;
		expect(local.port).not.toBe(busy);
		expect(local.busy).toBe(busy);
	});

	it('a port the user asked for that is busy is an error with the fix, not another port', async () => {
		const busy = await holdPort();
		const tunnel = new Tunnel({
			forwards: [{name: 'admin', localHost: '127.0.0.1', localPort: busy, remotePort: 8080}],
			...never,
		});
		const error = await tunnel.start().then(
			() => undefined,
			(e: unknown) => e as InputError,
		);
		expect(error).toBeInstanceOf(InputError);
		expect(error!.nextSteps.join(' ')).toContain('--admin-port');
	});

	it('the control: closed while it opens, nothing stays bound and nothing keeps ticking', async () => {
		let release: () => void = () => {};
		const gate = new Promise<void>(resolve => (release = resolve));
		const tunnels: Tunnel[] = [];
		const control = createTunnelControl({session: {} as never}, () => {
			const tunnel = new Tunnel({
				forwards: [
					{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080},
					{name: 'driver', localHost: '127.0.0.1', localPort: 0, remotePort: 28015},
				],
				...never,
			});
			// The second bind waits until the test lets it go: the close lands in between.
			const start = tunnel.start.bind(tunnel);
			tunnel.start = async () => {
				await gate;
				await start();
			};
			tunnels.push(tunnel);
			return {tunnel};
		});
		const opening = control.open();
		await control.close();
		release();
		await opening;
		expect(tunnels[0]!.statuses().every(s => s.state === 'closed')).toBe(true);
		// Its ports are free: the bind that finished after the close was undone.
		for (const status of tunnels[0]!.statuses()) {
			if (status.local.port === 0) continue;
			const probe = await LocalForward.listen('127.0.0.1', status.local.port, async () => net.connect(1));
			await probe.close();
		}
		// Opening again works (nothing left in the way), then a clean close.
		await control.open();
		expect(control.current().length).toBe(2);
		await control.close();
		expect(control.current().every(s => s.state === 'closed')).toBe(true);
	});
});

describe('tunnel stopped mid-way, and its listeners on a pooled connection', () => {
	const forwards = [{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080}];
	const location = {server: 'queenbee', host: 'queenbee', address: '172.18.0.4'};
	/** A connection that counts the close listeners still on it (a pooled client keeps them all). */
	const countingConnection = (forwardOut: () => Promise<unknown>) => {
		const closeListeners = new Set<() => void>();
		let closed = 0;
		const connection = {
			forwardOut,
			onClose: (listener: () => void) => {
				closeListeners.add(listener);
				return () => closeListeners.delete(listener);
			},
			close: () => {
				closed++;
			},
		};
		return {connection: connection as unknown as SshConnection, closeListeners, closed: () => closed};
	};
	const settle = () => new Promise(resolve => setImmediate(resolve));

	it('stopped while it locates: it opens no connection afterwards (the caller closed its pool already)', async () => {
		let located: (l: typeof location) => void = () => {};
		let connects = 0;
		const tunnel = new Tunnel({
			forwards,
			locate: () => new Promise(resolve => (located = resolve)),
			connect: async () => {
				connects++;
				return countingConnection(async () => net.connect(1)).connection;
			},
		});
		await tunnel.start();
		await tunnel.stop();
		located(location);
		await settle();
		expect(connects).toBe(0);
		expect(tunnel.current).toBe('closed');
	});

	it('stopped while it connects: the connection it gets then is closed, not kept', async () => {
		const fake = countingConnection(async () => net.connect(1));
		let connected: ((c: SshConnection) => void) | undefined;
		const tunnel = new Tunnel({
			forwards,
			locate: async () => location,
			connect: () => new Promise(resolve => (connected = resolve)),
		});
		await tunnel.start();
		await vi.waitFor(() => expect(connected).toBeDefined());
		await tunnel.stop();
		connected!(fake.connection);
		await settle();
		expect(fake.closed()).toBe(1);
		expect(fake.closeListeners.size).toBe(0);
		expect(tunnel.current).toBe('closed');
	});

	it('a failure while stopping does not bring the state back from closed', async () => {
		let refuse: (e: Error) => void = () => {};
		const tunnel = new Tunnel({
			forwards,
			locate: () => new Promise((_, reject) => (refuse = reject)),
			connect: async () => new Promise<never>(() => {}),
		});
		await tunnel.start();
		await tunnel.stop();
		refuse(new Error('the connection closed'));
		await settle();
		expect(tunnel.current).toBe('closed');
	});

	it('reconnects over the same pooled client leave one close listener on it, none after stop', async () => {
		// Every channel fails (the task moved, say), and the pool hands back the same open client each time.
		const fake = countingConnection(async () => {
			throw new Error('open failed: connect ECONNREFUSED');
		});
		const tunnel = new Tunnel({
			forwards,
			locate: async () => location,
			connect: async () => fake.connection,
			backoff: {initialMs: 1, maxMs: 1},
		});
		cleanups.push(() => tunnel.stop());
		await tunnel.start();
		await tunnel.waitOpen(2_000);
		const port = tunnel.statuses()[0]!.local.port;
		for (let i = 0; i < 12; i++) {
			const socket = net.connect(port, '127.0.0.1');
			socket.on('error', () => {});
			await once(socket, 'close');
			await tunnel.waitOpen(2_000);
			expect(fake.closeListeners.size).toBe(1);
		}
		await tunnel.stop();
		expect(fake.closeListeners.size).toBe(0);
	});
});

describe('the control, when its tunnel stops itself (a host key swarmbee did not install)', () => {
	afterEach(() => {
		vi.useRealTimers();
	});

	it('lets go of it: the pool is closed, nothing ticks, the statuses say why, and t opens a new one', async () => {
		// Only intervals are faked: the ticker is the one timer the control owns.
		vi.useFakeTimers({toFake: ['setInterval', 'clearInterval']});
		const hostKey = generateKeyPair('queenbee').publicKey;
		const mismatch = new HostKeyMismatchError(
			{node: 'queenbee', host: '127.0.0.1', port: 2222, username: 'root', privateKey: '', hostKey},
			'SHA256:someone-else',
		);
		const made: Array<{tunnel: Tunnel}> = [];
		const control = createTunnelControl({session: {} as never}, options => {
			const tunnel = new Tunnel({
				forwards: [{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080}],
				locate: async () => ({server: 'queenbee', host: 'queenbee', address: '172.18.0.4'}),
				// The first tunnel meets the wrong key; the second one never connects.
				connect: made.length === 0 ? async () => Promise.reject(mismatch) : async () => new Promise<never>(() => {}),
				onChange: options.onChange,
			});
			made.push({tunnel});
			return {tunnel};
		});
		cleanups.push(() => control.close());
		const published: TunnelStatus[][] = [];
		control.subscribe(statuses => published.push(statuses));
		await control.open();
		await made[0]!.tunnel.failed;
		await vi.waitFor(() => expect(vi.getTimerCount()).toBe(0));
		expect(control.current().every(s => s.state === 'closed' && s.lastError === mismatch.message)).toBe(true);
		const after = published.length;
		vi.advanceTimersByTime(5_000);
		expect(published.length).toBe(after);

		await control.open();
		expect(made).toHaveLength(2);
		expect(control.current()[0]!.state).toBe('connecting');
	});

	it('a close asked for leaves no earlier error in the statuses (it is not why the tunnel is closed)', async () => {
		let attempts = 0;
		const control = createTunnelControl({session: {} as never}, options => ({
			tunnel: new Tunnel({
				forwards: [{name: 'admin', localHost: '127.0.0.1', localPort: 0, remotePort: 8080}],
				locate: async () => {
					attempts++;
					throw new Error('the database server of queenbee is not running');
				},
				connect: async () => new Promise<never>(() => {}),
				onChange: options.onChange,
				backoff: {initialMs: 1, maxMs: 5},
			}),
		}));
		await control.open();
		await vi.waitFor(() => expect(attempts).toBeGreaterThan(0));
		await vi.waitFor(() =>
			expect(control.current()[0]!.lastError).toBe('the database server of queenbee is not running'),
		);
		await control.close();
		expect(control.current()[0]!.state).toBe('closed');
		expect(control.current()[0]).not.toHaveProperty('lastError');
	});
});
