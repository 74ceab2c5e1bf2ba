import {readFileSync} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import r from 'rethinkdb';
import {connectDriver} from '../../source/database/rethinkdb.js';
import type {ClusterStatus} from '../../source/observe/status.js';
import type {TunnelStatus} from '../../source/tunnel/types.js';
import {cli, spawnCli} from './helpers.js';

/** What the database suites share: a tunnel held by the real `swarmbee tunnel`, and waiting for the database to say so. */

export async function freePort(): Promise<number> {
	const server = net.createServer();
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	const port = (server.address() as net.AddressInfo).port;
	await new Promise(resolve => server.close(resolve));
	return port;
}

export async function status(name: string, home: string): Promise<ClusterStatus> {
	const result = await cli(['status', name, '--once', '--json'], home);
	return JSON.parse(result.stdout) as ClusterStatus;
}

export async function waitFor<T>(
	what: () => Promise<T | undefined> | T | undefined,
	timeoutMs: number,
	describe: () => string,
): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await Promise.resolve()
			.then(what)
			.catch(() => undefined);
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
		await sleep(250);
	}
}

/** Puts a table's only replica on one server, as an application may configure it (`table.config().update(…)`). */
export async function pinTable(connection: r.Connection, db: string, table: string, server: string): Promise<void> {
	await r
		.db('rethinkdb')
		.table('table_config')
		.filter({db, name: table})
		.update({shards: [{primary_replica: server, replicas: [server], nonvoting_replicas: []}]} as never)
		.run(connection);
	await r.db(db).table(table).wait().run(connection);
}

/** `swarmbee tunnel NAME --json` in the background, its state updates collected. */
export async function openTunnel(name: string, home: string) {
	const adminPort = await freePort();
	const driverPort = await freePort();
	const child = spawnCli(
		['tunnel', name, '--admin-port', String(adminPort), '--driver-port', String(driverPort), '--json'],
		home,
	);
	const updates: Array<{at: string; tunnels: TunnelStatus[]}> = [];
	let buffer = '';
	/** What the tunnel said on stderr, for a failure's message. */
	let stderr = '';
	child.stderr!.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	child.stdout!.on('data', (chunk: Buffer) => {
		buffer += chunk.toString();
		const lines = buffer.split('\n');
		buffer = lines.pop() ?? '';
		for (const line of lines) if (line.startsWith('{')) updates.push(JSON.parse(line));
	});
	const open = () => (updates.at(-1)?.tunnels.every(t => t.state === 'open') ? true : undefined);
	await waitFor(open, 60_000, () => `tunnel not open; last: ${JSON.stringify(updates.at(-1))}`);
	return {
		adminPort,
		driverPort,
		updates,
		child,
		get stderr() {
			return stderr;
		},
		async close() {
			child.kill('SIGINT');
			await child;
		},
	};
}

/** The cluster's admin password, from its 0600 file. */
export function clusterPassword(home: string, name: string): string {
	return readFileSync(path.join(home, 'clusters', name, 'keys', 'rethinkdb-admin-password'), 'utf8').trim();
}

/** A driver connection through the tunnel (the npm driver, its orphaned timer disarmed). */
export function connectThrough(tunnel: {driverPort: number}, password: string): Promise<r.Connection> {
	return connectDriver({host: '127.0.0.1', port: tunnel.driverPort, password});
}
