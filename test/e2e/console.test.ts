import {execFileSync, spawnSync} from 'node:child_process';
import {readdirSync, readFileSync, readlinkSync} from 'node:fs';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {consoleCookie, consoleQuery, openTunnel} from './database.js';
import {cli, describeWithEngine, newHome, purge, rethinkdbImage, uniqueName} from './helpers.js';

/**
 * Issue 23, item 1: the admin console answers as admin without a password,
 * so while a tunnel is open its local port must not be every local user's.
 * On a 1+1 with the real RethinkDB 2.4.4 and the real `swarmbee tunnel`: 403
 * without the token (as another user of this machine, where the test runs as
 * root), the forward behind the guard out of that user's reach, a rebinding
 * Host refused even with the cookie, and the real console with the token.
 */

/** curl as another user of this machine (`nobody`) when the test runs as root; as this one otherwise. */
function curlAsAnotherUser(args: string[]): {status: number; out: string} {
	const asRoot = process.getuid?.() === 0;
	const result = asRoot
		? spawnSync('runuser', ['-u', 'nobody', '--', 'curl', '-sS', ...args], {encoding: 'utf8'})
		: spawnSync('curl', ['-sS', ...args], {encoding: 'utf8'});
	return {status: result.status ?? -1, out: `${result.stdout}${result.stderr}`};
}

/** The unix sockets a process listens on (/proc/net/unix, flag __SO_ACCEPTCON), by the inodes it holds. */
function unixListeners(pid: number): string[] {
	const inodes = new Set<string>();
	for (const fd of readdirSync(`/proc/${pid}/fd`)) {
		try {
			const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
			if (match) inodes.add(match[1]!);
		} catch {
			// Closed while we looked.
		}
	}
	return readFileSync('/proc/net/unix', 'utf8')
		.split('\n')
		.slice(1)
		.map(line => line.trim().split(/\s+/))
		.filter(cols => cols[3] === '00010000' && inodes.has(cols[6]!) && cols[7])
		.map(cols => cols[7]!);
}

describeWithEngine('the console behind the tunnel opens only with its token', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-console');
	let tunnel: Awaited<ReturnType<typeof openTunnel>>;

	beforeAll(async () => {
		execFileSync('curl', ['--version'], {stdio: 'ignore'});
		const image = await rethinkdbImage();
		const up = await cli(['up', name, '--workers', '1', '--rethinkdb-image', image, '--yes', '--plain'], home);
		if (up.exitCode !== 0) throw new Error(`up failed (exit ${up.exitCode}): ${up.stderr.slice(-2000)}`);
		tunnel = await openTunnel(name, home);
	}, 600_000);

	afterAll(async () => {
		await tunnel?.close();
		await cli(['down', name, '--yes', '--forget'], home);
		purge(name);
		remove();
	}, 300_000);

	it('another local user gets 403 without the token: the page, the query endpoint, a WebSocket upgrade', () => {
		const base = `http://127.0.0.1:${tunnel.adminPort}`;
		for (const args of [
			[`${base}/`],
			['-X', 'POST', `${base}/ajax/reql/open-new-connection`],
			['-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', `${base}/ajax/reql/`],
			// A guessed token is no token.
			[`${base}/?token=${'A'.repeat(32)}`],
		]) {
			const answer = curlAsAnotherUser(['-o', '/dev/null', '-w', '%{http_code}', ...args]);
			expect(answer.out, args.join(' ')).toBe('403');
		}
	});

	it('the forward behind the guard is a unix socket in a folder only this user can enter', () => {
		const sockets = unixListeners(tunnel.child.pid!).filter(socket => /swarmbee-console-/.test(socket));
		expect(sockets).toHaveLength(1);
		if (process.getuid?.() !== 0) return;
		const answer = curlAsAnotherUser([
			'--unix-socket',
			sockets[0]!,
			'-o',
			'/dev/null',
			'-w',
			'%{http_code}',
			'http://x/',
		]);
		// curl exit 7: it could not connect (permission denied on the folder).
		expect(answer.status).toBe(7);
	});

	it('with the token: a cookie for its port, the real console page and its query endpoint', async () => {
		const cookie = await consoleCookie(tunnel.consoleUrl);
		expect(cookie).toMatch(new RegExp(`^swarmbee-console-${tunnel.adminPort}=[A-Za-z0-9_-]{32}$`));
		const page = await fetch(`http://127.0.0.1:${tunnel.adminPort}/`, {headers: {cookie}});
		expect(page.status).toBe(200);
		expect(await page.text()).toContain('<title>RethinkDB Administration Console');
		// r.db('rethinkdb').table('server_status').count(), as the console's page sends it: 2 servers.
		expect(
			await consoleQuery(tunnel.adminPort, [43, [[15, [[14, ['rethinkdb']], 'server_status']]]], cookie),
		).toMatchObject({t: 1, r: [2]});
		// localhost is this machine too.
		const viaLocalhost = await fetch(`http://localhost:${tunnel.adminPort}/`, {headers: {cookie}});
		expect(viaLocalhost.status).toBe(200);
	});

	it('the cookie does not help a page whose name only resolves here (DNS rebinding) or another site', async () => {
		const cookie = await consoleCookie(tunnel.consoleUrl);
		const rebound = spawnSync(
			'curl',
			[
				'-sS',
				'-o',
				'/dev/null',
				'-w',
				'%{http_code}',
				'-H',
				`Host: rebind.example:${tunnel.adminPort}`,
				'-H',
				`Cookie: ${cookie}`,
				`http://127.0.0.1:${tunnel.adminPort}/`,
			],
			{encoding: 'utf8'},
		);
		expect(rebound.stdout).toBe('403');
		const crossSite = await fetch(`http://127.0.0.1:${tunnel.adminPort}/ajax/reql/open-new-connection`, {
			method: 'POST',
			headers: {cookie, origin: 'http://evil.example'},
		});
		expect(crossSite.status).toBe(403);
	});
});
