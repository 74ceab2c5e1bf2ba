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
export async function openTunnel(name: string, home: string, server?: string) {
	const adminPort = await freePort();
	const driverPort = await freePort();
	const child = spawnCli(
		[
			'tunnel',
			name,
			'--admin-port',
			String(adminPort),
			'--driver-port',
			String(driverPort),
			...(server ? ['--server', server] : []),
			'--json',
		],
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
		/** The console's address with its token, as the tunnel said it. */
		get consoleUrl() {
			const url = updates.at(-1)?.tunnels.find(t => t.name === 'admin')?.url;
			if (!url) throw new Error(`the tunnel said no console URL: ${JSON.stringify(updates.at(-1))}`);
			return url;
		},
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

/**
 * Logs in to the console's guard with the token in its URL, as a browser
 * does: the cookie (`name=value`) every later request to the console carries.
 */
export async function consoleCookie(url: string): Promise<string> {
	const login = await fetch(url, {redirect: 'manual'});
	const cookie = login.headers.get('set-cookie');
	if (login.status !== 302 || !cookie) throw new Error(`the console's guard answered ${login.status} to its own URL`);
	return cookie.split(';')[0]!;
}

/** One ReQL query through the admin console's own HTTP endpoint, as the console's page sends it. */
export async function consoleQuery(
	adminPort: number,
	term: unknown,
	cookie: string,
): Promise<{t: number; r: unknown[]}> {
	const base = `http://127.0.0.1:${adminPort}/ajax/reql/`;
	const headers = {cookie};
	const opened = await fetch(`${base}open-new-connection?cacheBuster=${Math.random()}`, {method: 'POST', headers});
	if (opened.status !== 200) throw new Error(`the console answered ${opened.status}: ${await opened.text()}`);
	const id = await opened.text();
	try {
		const query = Buffer.from(JSON.stringify([1, term, {}]));
		const token = Buffer.alloc(8);
		token.writeUInt32LE(1, 0);
		const response = await fetch(`${base}?conn_id=${id}`, {
			method: 'POST',
			headers,
			body: Buffer.concat([token, query]),
		});
		const body = Buffer.from(await response.arrayBuffer());
		return JSON.parse(body.subarray(12).toString()) as {t: number; r: unknown[]};
	} finally {
		await fetch(`${base}close-connection?conn_id=${id}`, {method: 'POST', headers});
	}
}
