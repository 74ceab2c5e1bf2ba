import net from 'node:net';
import ssh2 from 'ssh2';
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest';
import {SshConnection, sshSocketOptions} from '../../source/ssh/connection.js';
import {FORWARD_LISTENER_OPTIONS, LocalForward} from '../../source/ssh/forward.js';
import {generateKeyPair} from '../../source/ssh/keys.js';

/**
 * Issue 22: every round trip through `swarmbee tunnel` cost 26–43 ms against
 * 0.9 ms through `ssh -L`. The cause: the npm driver writes a query in three
 * small writes, each became an SSH packet, and the SSH connection's socket
 * had Nagle's algorithm on, so the second packet waited for the node's
 * delayed ACK (40 ms). These tests fail if a socket on the forward's path
 * loses TCP_NODELAY again, as values and on the real sockets, without timing
 * anything.
 */

/** Node's own record of whether TCP_NODELAY was asked for a socket (what `setNoDelay` and the `noDelay` option set). */
function nagleOff(socket: net.Socket): boolean {
	const key = Object.getOwnPropertySymbols(socket).find(symbol => symbol.description === 'kSetNoDelay');
	if (!key)
		throw new Error('this Node keeps no kSetNoDelay on its sockets: the test must learn the new way to read it');
	return Boolean((socket as unknown as Record<symbol, unknown>)[key]);
}

const clusterKey = generateKeyPair('cluster');
const hostKey = generateKeyPair('host');
let sshServer: ssh2.Server;
let sshPort: number;
let echoServer: net.Server;
let echoPort: number;

beforeAll(async () => {
	echoServer = net.createServer(socket => socket.on('data', chunk => socket.write(chunk)));
	await new Promise<void>(resolve => echoServer.listen(0, '127.0.0.1', resolve));
	echoPort = (echoServer.address() as net.AddressInfo).port;
	const allowed = ssh2.utils.parseKey(clusterKey.publicKey) as ssh2.ParsedKey;
	// A real SSH server in this process that opens direct-tcpip channels, as a node's sshd does for -L.
	sshServer = new ssh2.Server({hostKeys: [hostKey.privateKey]}, client => {
		client.on('error', () => {});
		client.on('authentication', ctx => {
			if (ctx.method === 'publickey' && ctx.key.data.equals(allowed.getPublicSSH())) ctx.accept();
			else ctx.reject(['publickey']);
		});
		client.on('ready', () =>
			client.on('tcpip', (accept, _reject, info) => {
				const channel = accept();
				const upstream = net.connect(info.destPort, info.destIP);
				upstream.on('error', () => channel.destroy());
				channel.pipe(upstream).pipe(channel);
			}),
		);
	});
	await new Promise<void>(resolve => sshServer.listen(0, '127.0.0.1', resolve));
	sshPort = (sshServer.address() as net.AddressInfo).port;
});

afterAll(async () => {
	await new Promise(resolve => sshServer.close(resolve));
	await new Promise(resolve => echoServer.close(resolve));
});

describe('the sockets a forward rides on have Nagle off (TCP_NODELAY)', () => {
	it('as values: the SSH connection and the local listener ask for noDelay', () => {
		expect(sshSocketOptions({host: '10.0.0.5', port: 22})).toEqual({host: '10.0.0.5', port: 22, noDelay: true});
		expect(FORWARD_LISTENER_OPTIONS).toEqual({pauseOnConnect: true, noDelay: true});
	});

	it('on the real sockets: the SSH connection and the connection the forward accepted', async () => {
		const connect = vi.spyOn(net, 'connect');
		const createServer = vi.spyOn(net, 'createServer');
		try {
			const connection = await SshConnection.connect({
				node: 'queenbee',
				host: '127.0.0.1',
				port: sshPort,
				username: 'root',
				privateKey: clusterKey.privateKey,
				hostKey: hostKey.publicKey,
			});
			const forward = await LocalForward.listen('127.0.0.1', 0, () => connection.forwardOut('127.0.0.1', echoPort));
			const listener = createServer.mock.results.at(-1)!.value as net.Server;
			const accepted: net.Socket[] = [];
			listener.on('connection', socket => accepted.push(socket));
			try {
				// Written as the driver writes a query: token, length, body, one small write each.
				const answer = await new Promise<string>((resolve, reject) => {
					const client = net.connect(forward.port, '127.0.0.1', () => {
						client.write('\u0001\u0000\u0000\u0000\u0000\u0000\u0000\u0000');
						client.write('\u0005\u0000\u0000\u0000');
						client.write('[1,0]');
					});
					let got = '';
					client.on('data', chunk => {
						got += chunk.toString('latin1');
						if (got.length >= 17) {
							client.destroy();
							resolve(got);
						}
					});
					client.on('error', reject);
				});
				expect(answer.endsWith('[1,0]')).toBe(true);
				const sshSocket = connect.mock.results
					.map(result => result.value as net.Socket)
					.find(socket => socket.remotePort === sshPort);
				expect(sshSocket, 'the SSH connection is made on a socket swarmbee opened').toBeDefined();
				expect(nagleOff(sshSocket!)).toBe(true);
				expect(accepted).toHaveLength(1);
				expect(nagleOff(accepted[0]!)).toBe(true);
			} finally {
				await forward.close();
				connection.close();
			}
		} finally {
			connect.mockRestore();
			createServer.mockRestore();
		}
	});
});
