import {mkdtempSync, rmSync} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {
	ConsoleGuard,
	consoleCookieName,
	consoleUrl,
	cookieValue,
	guardRequest,
	newConsoleToken,
	withoutOurCookie,
} from '../../source/tunnel/console-guard.js';

const token = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0';
const rules = {port: 8080, token};
const cookie = `${consoleCookieName(8080)}=${token}`;

describe('guardRequest: who reaches the console', () => {
	it('refuses a request without the token or its cookie', () => {
		expect(guardRequest({method: 'GET', url: '/', headers: {host: '127.0.0.1:8080'}}, rules)).toEqual({
			allow: false,
			reason: 'no console token',
		});
		expect(
			guardRequest({method: 'POST', url: '/ajax/reql/open-new-connection', headers: {host: '127.0.0.1:8080'}}, rules)
				.allow,
		).toBe(false);
	});

	it('logs a browser in with the token: a cookie for this port (HttpOnly, SameSite=Strict) and the same address without the token', () => {
		expect(guardRequest({method: 'GET', url: `/?token=${token}`, headers: {host: '127.0.0.1:8080'}}, rules)).toEqual({
			allow: 'login',
			location: '/',
			setCookie: `swarmbee-console-8080=${token}; HttpOnly; SameSite=Strict; Path=/`,
		});
		expect(
			guardRequest({method: 'GET', url: `/#tables?x=1&token=${token}`, headers: {host: 'localhost:8080'}}, rules),
		).toMatchObject({allow: false});
		expect(
			guardRequest({method: 'GET', url: `/index.html?x=1&token=${token}`, headers: {host: 'localhost:8080'}}, rules),
		).toMatchObject({allow: 'login', location: '/index.html?x=1'});
		// Never a redirect to another host.
		expect(
			guardRequest({method: 'GET', url: `//evil.example//x?token=${token}`, headers: {host: 'localhost:8080'}}, rules),
		).toMatchObject({allow: 'login', location: '/x'});
	});

	it('refuses a wrong token, a token of another length, and a token sent with a POST', () => {
		const wrong = `${token.slice(0, -1)}A`;
		for (const url of [`/?token=${wrong}`, `/?token=${token}x`, '/?token=', '/?token'])
			expect(guardRequest({method: 'GET', url, headers: {host: '127.0.0.1:8080'}}, rules).allow).toBe(false);
		expect(
			guardRequest({method: 'POST', url: `/?token=${token}`, headers: {host: '127.0.0.1:8080'}}, rules).allow,
		).toBe(false);
	});

	it('lets the cookie through on 127.0.0.1 and localhost at this port, and only its own port’s cookie', () => {
		for (const host of ['127.0.0.1:8080', 'localhost:8080', 'LOCALHOST:8080'])
			expect(
				guardRequest({method: 'POST', url: '/ajax/reql/', headers: {host, cookie: `a=b; ${cookie}; c=d`}}, rules),
			).toEqual({allow: true});
		expect(
			guardRequest(
				{method: 'GET', url: '/', headers: {host: '127.0.0.1:8080', cookie: `${consoleCookieName(8081)}=${token}`}},
				rules,
			).allow,
		).toBe(false);
	});

	it('refuses a foreign Host (DNS rebinding) and a foreign Origin even with the right cookie', () => {
		for (const host of [undefined, 'evil.example:8080', '127.0.0.1:8081', '127.0.0.1', '127.0.0.1.nip.io:8080'])
			expect(guardRequest({method: 'GET', url: '/', headers: {host, cookie}}, rules)).toMatchObject({allow: false});
		expect(
			guardRequest(
				{method: 'POST', url: '/', headers: {host: '127.0.0.1:8080', cookie, origin: 'http://evil.example'}},
				rules,
			),
		).toEqual({allow: false, reason: 'the request comes from another site'});
		expect(
			guardRequest(
				{method: 'POST', url: '/', headers: {host: '127.0.0.1:8080', cookie, origin: 'http://localhost:8080'}},
				rules,
			),
		).toEqual({allow: true});
	});

	it('cookies: one read by name, ours taken out of what the console is sent', () => {
		expect(cookieValue(`a=1; ${cookie}; b=2`, consoleCookieName(8080))).toBe(token);
		expect(cookieValue('a=1', consoleCookieName(8080))).toBeUndefined();
		expect(withoutOurCookie(`a=1; ${cookie}; b=2`, 8080)).toBe('a=1; b=2');
		expect(withoutOurCookie(cookie, 8080)).toBeUndefined();
	});

	it('tokens are new every time, 192 bits, URL-safe; the URL carries one', () => {
		const a = newConsoleToken();
		expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
		expect(newConsoleToken()).not.toBe(a);
		expect(consoleUrl(39_123, a)).toBe(`http://127.0.0.1:39123/?token=${a}`);
	});
});

/** Sends one raw HTTP request and returns the whole answer (status line, headers, body). */
function raw(port: number, request: string): Promise<string> {
	return new Promise((resolve, reject) => {
		const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
		let answer = '';
		socket.on('data', chunk => {
			answer += chunk.toString();
		});
		socket.on('end', () => resolve(answer));
		socket.on('error', reject);
	});
}

describe('ConsoleGuard: the console’s local port', () => {
	let folder: string;
	let upstream: http.Server;
	let guard: ConsoleGuard;
	const seen: Array<{method?: string; url?: string; cookie?: string; body: string}> = [];

	beforeAll(async () => {
		// Stands in for the forward's unix socket: an HTTP server that says what reached it, answers a long poll
		// late, and echoes on an upgraded connection, as a console behind it would.
		folder = mkdtempSync(path.join(tmpdir(), 'swarmbee-guard-test-'));
		upstream = http.createServer((request, response) => {
			let body = '';
			request.on('data', chunk => {
				body += chunk;
			});
			request.on('end', () => {
				seen.push({method: request.method, url: request.url, cookie: request.headers.cookie, body});
				const answer = () => response.end(`console saw ${request.method} ${request.url}`);
				if (request.url?.startsWith('/ajax/reql/')) setTimeout(answer, 300);
				else answer();
			});
		});
		upstream.on('upgrade', (_request, socket: net.Socket) => {
			socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
			socket.on('data', chunk => socket.write(`echo ${chunk}`));
			// An HTTP server's sockets stay half-open by default: close when the guard's side does.
			socket.on('end', () => socket.end());
		});
		await new Promise<void>(resolve => upstream.listen(path.join(folder, 'console.sock'), resolve));
		guard = await ConsoleGuard.listen({host: '127.0.0.1', port: 0, upstream: path.join(folder, 'console.sock'), token});
	});

	afterAll(async () => {
		await guard.close();
		await new Promise(resolve => upstream.close(resolve));
		rmSync(folder, {recursive: true, force: true});
	});

	it('403 without the token, and the console never hears of it', async () => {
		const before = seen.length;
		const answer = await fetch(`http://127.0.0.1:${guard.port}/`);
		expect(answer.status).toBe(403);
		expect(await answer.text()).toContain('swarmbee refuses this request');
		expect(seen.length).toBe(before);
		expect(guard.counters.refused).toBeGreaterThanOrEqual(1);
	});

	it('the token logs in: 302 with the cookie, then the console answers, a long poll included, without our cookie', async () => {
		const login = await fetch(consoleUrl(guard.port, token), {redirect: 'manual'});
		expect(login.status).toBe(302);
		expect(login.headers.get('location')).toBe('/');
		const setCookie = login.headers.get('set-cookie')!;
		expect(setCookie).toBe(`${consoleCookieName(guard.port)}=${token}; HttpOnly; SameSite=Strict; Path=/`);
		const jar = `theme=dark; ${setCookie.split(';')[0]}`;
		const page = await fetch(`http://127.0.0.1:${guard.port}/`, {headers: {cookie: jar}});
		expect(page.status).toBe(200);
		expect(await page.text()).toBe('console saw GET /');
		const poll = await fetch(`http://127.0.0.1:${guard.port}/ajax/reql/?conn_id=1`, {
			method: 'POST',
			headers: {cookie: jar},
			body: 'query',
		});
		expect(await poll.text()).toBe('console saw POST /ajax/reql/?conn_id=1');
		expect(seen.at(-1)).toEqual({method: 'POST', url: '/ajax/reql/?conn_id=1', cookie: 'theme=dark', body: 'query'});
	});

	it('a foreign Host is refused even with the cookie (DNS rebinding)', async () => {
		const answer = await raw(
			guard.port,
			`GET / HTTP/1.1\r\nhost: rebind.example:${guard.port}\r\ncookie: ${consoleCookieName(guard.port)}=${token}\r\nconnection: close\r\n\r\n`,
		);
		expect(answer).toMatch(/^HTTP\/1\.1 403 /);
	});

	it('a WebSocket upgrade: 403 without the cookie, through to the console with it', async () => {
		const upgrade = (extra: string) =>
			`GET /ws HTTP/1.1\r\nhost: 127.0.0.1:${guard.port}\r\nconnection: Upgrade\r\nupgrade: websocket\r\n${extra}\r\n`;
		expect(await raw(guard.port, upgrade(''))).toMatch(/^HTTP\/1\.1 403 Forbidden/);
		const echoed = await new Promise<string>((resolve, reject) => {
			const socket = net.connect(guard.port, '127.0.0.1', () =>
				socket.write(upgrade(`cookie: ${consoleCookieName(guard.port)}=${token}\r\n`)),
			);
			let answer = '';
			socket.on('data', chunk => {
				answer += chunk.toString();
				if (answer.includes('\r\n\r\n') && !answer.includes('echo')) socket.write('ping');
				if (answer.includes('echo ping')) {
					socket.destroy();
					resolve(answer);
				}
			});
			socket.on('error', reject);
		});
		expect(echoed).toMatch(/^HTTP\/1\.1 101 /);
		expect(echoed).toContain('echo ping');
	});
});

describe('ConsoleGuard in front of a server that answers once per connection', () => {
	it("requests one after the other all get through, though the server closes each connection late and without saying so (RethinkDB's web server does)", async () => {
		const folder = mkdtempSync(path.join(tmpdir(), 'swarmbee-guard-once-'));
		// Like RethinkDB 2.4.4 behind the tunnel: HTTP/1.1, no `connection: close`, the connection closed after its
		// one answer, the close arriving a while later (it crosses the SSH tunnel); anything sent meanwhile is dropped.
		const once = net.createServer(socket => {
			socket.once('data', () => {
				socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n\r\nok');
				setTimeout(() => socket.destroy(), 40);
			});
			socket.on('error', () => {});
		});
		const upstream = path.join(folder, 'console.sock');
		await new Promise<void>(resolve => once.listen(upstream, resolve));
		const guard = await ConsoleGuard.listen({host: '127.0.0.1', port: 0, upstream, token});
		try {
			const jar = `${consoleCookieName(guard.port)}=${token}`;
			const statuses: number[] = [];
			for (let i = 0; i < 5; i++) {
				const answer = await fetch(`http://127.0.0.1:${guard.port}/ajax/reql/?conn_id=${i}`, {
					method: 'POST',
					headers: {cookie: jar},
					body: 'query',
				});
				await answer.text();
				statuses.push(answer.status);
			}
			expect(statuses).toEqual([200, 200, 200, 200, 200]);
		} finally {
			await guard.close();
			await new Promise(resolve => once.close(resolve));
			rmSync(folder, {recursive: true, force: true});
		}
	});
});
