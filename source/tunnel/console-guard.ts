import {randomBytes, timingSafeEqual} from 'node:crypto';
import http from 'node:http';
import type net from 'node:net';
import {InputError} from '../errors.js';

/**
 * The admin console runs every query as admin without asking for a
 * password, and a tunnel's port on 127.0.0.1 is open to every user of the
 * machine. So swarmbee serves that port itself and lets a request through
 * to the console only with a secret: the token in the URL it prints (once;
 * it then becomes a cookie) or that cookie, as Jupyter does. Everything else
 * gets 403: other users, other sites in the same browser (the cookie is
 * SameSite=Strict), and a hostile name that resolves to 127.0.0.1 (DNS
 * rebinding: the Host header must be 127.0.0.1 or localhost at this port).
 */

/** A new console token: 192 random bits, URL-safe. */
export function newConsoleToken(): string {
	return randomBytes(24).toString('base64url');
}

/**
 * The cookie's name carries the port: a browser sends a cookie for
 * 127.0.0.1 to every port of it, so two tunnels (two clusters) would
 * otherwise overwrite each other's.
 */
export function consoleCookieName(port: number): string {
	return `swarmbee-console-${port}`;
}

/** The address a browser opens: the console's, with its token. */
export function consoleUrl(port: number, token: string): string {
	return `http://127.0.0.1:${port}/?token=${token}`;
}

/** What the guard decides about one request (or WebSocket upgrade). */
export type GuardVerdict =
	| {allow: true}
	/** The token was right: set the cookie and send the browser to the same address without the token. */
	| {allow: 'login'; location: string; setCookie: string}
	| {allow: false; reason: string};

export interface GuardRequest {
	method?: string | undefined;
	url?: string | undefined;
	headers: http.IncomingHttpHeaders;
}

function sameSecret(given: string | undefined, token: string): boolean {
	if (given === undefined) return false;
	const a = Buffer.from(given);
	const b = Buffer.from(token);
	return a.length === b.length && timingSafeEqual(a, b);
}

/** The value of one cookie in a Cookie header, if it is there. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
	for (const part of (header ?? '').split(';')) {
		const at = part.indexOf('=');
		if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
	}
	return undefined;
}

/** The Host (and Origin) values a browser sends for this port; nothing else is ours. */
function ourHosts(port: number): string[] {
	return [`127.0.0.1:${port}`, `localhost:${port}`, ...(port === 80 ? ['127.0.0.1', 'localhost'] : [])];
}

/**
 * The guard as a pure function: a request passes with the right cookie,
 * logs in with the right token in its query (GET or HEAD), and is refused
 * otherwise, and always when its Host or Origin is not this machine at this
 * port.
 */
export function guardRequest(request: GuardRequest, rules: {port: number; token: string}): GuardVerdict {
	const hosts = ourHosts(rules.port);
	const host = request.headers.host?.toLowerCase();
	if (!host || !hosts.includes(host))
		return {allow: false, reason: `the Host header is not 127.0.0.1:${rules.port} or localhost:${rules.port}`};
	const origin = request.headers.origin;
	if (origin !== undefined && !hosts.some(h => origin.toLowerCase() === `http://${h}`))
		return {allow: false, reason: 'the request comes from another site'};
	if (sameSecret(cookieValue(request.headers.cookie, consoleCookieName(rules.port)), rules.token)) return {allow: true};
	const url = new URL(request.url ?? '/', `http://${host}`);
	const method = request.method ?? 'GET';
	if ((method === 'GET' || method === 'HEAD') && sameSecret(url.searchParams.get('token') ?? undefined, rules.token)) {
		url.searchParams.delete('token');
		return {
			allow: 'login',
			// One leading slash: `//host/…` would send the browser to another host.
			location: `/${url.pathname.replace(/^\/+/, '')}${url.search}`,
			setCookie: `${consoleCookieName(rules.port)}=${rules.token}; HttpOnly; SameSite=Strict; Path=/`,
		};
	}
	return {allow: false, reason: 'no console token'};
}

/** The Cookie header without our cookie: the console has no use for it. */
export function withoutOurCookie(header: string | undefined, port: number): string | undefined {
	if (header === undefined) return undefined;
	const name = consoleCookieName(port);
	const kept = header
		.split(';')
		.map(part => part.trim())
		.filter(part => part !== '' && part.slice(0, part.indexOf('=')).trim() !== name);
	return kept.length > 0 ? kept.join('; ') : undefined;
}

const REFUSED = `swarmbee refuses this request: the RethinkDB console behind this port acts as the database's admin.
Open it with the address \`swarmbee tunnel\` (or the dashboard) printed: it carries the token.
`;

interface GuardCounters {
	connections: number;
	totalConnections: number;
	refused: number;
}

interface GuardOptions {
	host: string;
	/** 0 for any free port. */
	port: number;
	/** The unix socket where the tunnel's forward to the console listens, in a folder only this user can enter. */
	upstream: string;
	token: string;
	onError?: (error: Error) => void;
}

type Proxy = import('http-proxy-3').ProxyServer;

/**
 * The console's local port: an HTTP server that checks every request and
 * WebSocket upgrade with `guardRequest` and proxies the ones that pass to
 * the forward's unix socket (http-proxy-3 does the proxying).
 */
export class ConsoleGuard {
	readonly port: number;
	private readonly sockets = new Set<net.Socket>();
	private readonly totals = {totalConnections: 0, refused: 0};
	/**
	 * A connection (an SSH channel) per request: RethinkDB's web server closes
	 * each connection after its answer without saying `Connection: close`, so
	 * a kept-alive one could be handed the next request while its close was
	 * still on the way through the tunnel, and that request failed (502).
	 */
	private readonly agent = new http.Agent({keepAlive: false, maxSockets: 16});

	private constructor(
		private readonly server: http.Server,
		proxy: Proxy,
		private readonly options: GuardOptions,
	) {
		this.port = (server.address() as net.AddressInfo).port;
		server.on('connection', socket => {
			this.sockets.add(socket);
			this.totals.totalConnections++;
			socket.on('close', () => this.sockets.delete(socket));
		});
		server.on('request', (request, response) => {
			const verdict = guardRequest(request, {port: this.port, token: options.token});
			if (verdict.allow === false) {
				this.totals.refused++;
				response.writeHead(403, {'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store'});
				response.end(REFUSED);
			} else if (verdict.allow === 'login') {
				response.writeHead(302, {
					location: verdict.location,
					'set-cookie': verdict.setCookie,
					'cache-control': 'no-store',
					'referrer-policy': 'no-referrer',
				});
				response.end();
			} else {
				proxy.web(request, response, {agent: this.agent});
			}
		});
		server.on('upgrade', (request: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
			socket.on('error', () => socket.destroy());
			if (guardRequest(request, {port: this.port, token: options.token}).allow !== true) {
				this.totals.refused++;
				socket.end(
					`HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(REFUSED)}\r\nconnection: close\r\n\r\n${REFUSED}`,
				);
				return;
			}
			proxy.ws(request, socket, head);
		});
		proxy.on('proxyReq', (proxyRequest: http.ClientRequest) => {
			const cookie = withoutOurCookie(proxyRequest.getHeader('cookie') as string | undefined, this.port);
			if (cookie === undefined) proxyRequest.removeHeader('cookie');
			else proxyRequest.setHeader('cookie', cookie);
		});
		proxy.on('proxyReqWs', (proxyRequest: http.ClientRequest) => {
			const cookie = withoutOurCookie(proxyRequest.getHeader('cookie') as string | undefined, this.port);
			if (cookie === undefined) proxyRequest.removeHeader('cookie');
			else proxyRequest.setHeader('cookie', cookie);
		});
		proxy.on('error', (error, _request, response) => {
			this.options.onError?.(error);
			if (response instanceof http.ServerResponse) {
				if (!response.headersSent)
					response.writeHead(502, {'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store'});
				response.end('swarmbee: the tunnel to the console is not open right now; it reconnects by itself.\n');
			} else {
				response.destroy();
			}
		});
	}

	/** Binds `host:port`; a busy port is an InputError naming it, as LocalForward's is. */
	static async listen(options: GuardOptions): Promise<ConsoleGuard> {
		const {createProxyServer} = await import('http-proxy-3');
		const proxy = createProxyServer({
			target: {socketPath: options.upstream, host: 'localhost', port: 80},
			ws: true,
			xfwd: false,
		});
		const server = http.createServer({noDelay: true});
		await new Promise<void>((resolve, reject) => {
			server.once('error', (error: NodeJS.ErrnoException) => {
				if (error.code === 'EADDRINUSE')
					reject(
						new InputError(`${options.host}:${options.port} is already in use on this machine`, {
							hint: 'another program (or another swarmbee tunnel) listens there.',
							nextSteps: [
								`find it with: ss -ltnp 'sport = :${options.port}'`,
								'or choose another local port (--admin-port / --driver-port)',
							],
						}),
					);
				else reject(error);
			});
			server.listen(options.port, options.host, () => resolve());
		});
		return new ConsoleGuard(server, proxy, options);
	}

	/** Browser connections open now and since the start, and requests refused. */
	get counters(): GuardCounters {
		return {connections: this.sockets.size, ...this.totals};
	}

	/** The forward dropped its channels: drop the browsers' connections too, so they ask again. */
	dropConnections(): void {
		for (const socket of this.sockets) socket.destroy();
		this.agent.destroy();
	}

	/** Idempotent. */
	async close(): Promise<void> {
		this.dropConnections();
		if (!this.server.listening) return;
		await new Promise<void>(resolve => this.server.close(() => resolve()));
	}
}
