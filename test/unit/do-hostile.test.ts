import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http';
import type {AddressInfo} from 'node:net';
import {afterEach, describe, expect, it} from 'vitest';
import {errorInfo} from '../../source/errors.js';
import {packageVersion} from '../../source/paths.js';
import {
	DigitalOceanClient,
	MAX_PAGES,
	parseRetryAfter,
	UnreadableAnswerError,
} from '../../source/providers/digitalocean/api.js';
import {DigitalOceanProvider} from '../../source/providers/digitalocean/provider.js';
import type {ProviderContext} from '../../source/providers/types.js';
import {formatError} from '../../source/render/format.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {planNodes, resolveSpec} from '../../source/spec.js';
import {startEmulator, type Emulator} from '../emulator/server.js';

/**
 * A fake DigitalOcean API on 127.0.0.1 that answers what the real one never
 * should (issue 23, item 6; issue 28, item 4): swarmbee must neither crash,
 * nor loop, nor follow it elsewhere, nor show its control characters.
 */
const servers: Server[] = [];
let emulator: Emulator | undefined;
afterEach(async () => {
	for (const server of servers.splice(0)) {
		server.closeAllConnections();
		await new Promise(resolve => server.close(resolve));
	}
	await emulator?.close();
	emulator = undefined;
});

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

async function fakeApi(handler: Handler): Promise<{url: string; seen: Array<{url: string; agent?: string}>}> {
	const seen: Array<{url: string; agent?: string}> = [];
	const server = createServer((req, res) => {
		seen.push({url: req.url ?? '', agent: req.headers['user-agent']});
		handler(req, res, new URL(req.url ?? '/', 'http://127.0.0.1'));
	});
	servers.push(server);
	await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
	return {url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen};
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
	res.writeHead(status, {'content-type': 'application/json', 'x-request-id': 'req-1234', ...headers});
	res.end(typeof body === 'string' ? body : JSON.stringify(body));
}

const token = 'dop_v1_0123456789abcdef0123456789abcdef';
const client = (baseUrl: string, extra = {}) =>
	new DigitalOceanClient({token, baseUrl, sleep: async () => {}, retries: 2, ...extra});

const size = (slug: string) => ({
	slug,
	memory: 1024,
	vcpus: 1,
	disk: 25,
	transfer: 1,
	price_monthly: 6,
	price_hourly: 0.009,
	regions: ['nyc3'],
	available: true,
	description: 'Basic',
});

async function failure(call: Promise<unknown>): Promise<Error> {
	const outcome = await call.then(
		() => undefined,
		(error: unknown) => error,
	);
	if (!(outcome instanceof Error)) throw new Error(`expected an error, got ${String(outcome)}`);
	return outcome;
}

describe('hostile or broken answers', () => {
	it('an endless links.pages.next that repeats a page stops at once, as an answer swarmbee cannot read', async () => {
		const api = await fakeApi((_req, res, url) =>
			json(res, 200, {
				sizes: [size(`s${url.searchParams.get('page') ?? 1}`)],
				links: {pages: {next: 'http://127.0.0.1/v2/sizes?page=2'}},
				meta: {total: 2},
			}),
		);
		const error = await failure(client(api.url).sizes());
		expect(error).toBeInstanceOf(UnreadableAnswerError);
		expect(error.message).toContain('the API answered something swarmbee cannot read');
		expect(error.message).toContain('does not move forward');
		expect(api.seen).toHaveLength(2);
	});

	it(`a list that never ends stops after ${MAX_PAGES} pages`, async () => {
		const api = await fakeApi((_req, res, url) => {
			const page = Number(url.searchParams.get('page') ?? 1);
			json(res, 200, {sizes: [size(`s${page}`)], links: {pages: {next: `/v2/sizes?page=${page + 1}`}}});
		});
		const error = await failure(client(api.url).sizes());
		expect(error.message).toContain(`goes on past ${MAX_PAGES} pages`);
		expect(api.seen).toHaveLength(MAX_PAGES);
	});

	it('a page of 300,000 items is refused without a stack overflow', async () => {
		const many = JSON.stringify({sizes: Array.from({length: 300_000}, () => 1), links: {}, meta: {total: 300_000}});
		const api = await fakeApi((_req, res) => json(res, 200, many));
		const error = await failure(client(api.url).sizes());
		expect(error).toBeInstanceOf(UnreadableAnswerError);
		expect(error.message).toContain('holds 300000 items, more than the 200 asked for');
	});

	it.each([
		['wrong types', JSON.stringify({account: {droplet_limit: '25', email: 'a@b', uuid: 'u', status: 'active'}})],
		['null', 'null'],
		['an HTML page', '<html><body>502 Bad Gateway</body></html>'],
		['a truncated body', '{"account": {"droplet_limit": 25, "ema'],
		['a missing object', '{}'],
	])('%s with 200 says the API answered something swarmbee cannot read, with the request id', async (_what, body) => {
		const api = await fakeApi((_req, res) => json(res, 200, body));
		const error = await failure(client(api.url).account());
		expect(error).toBeInstanceOf(UnreadableAnswerError);
		expect(error.message).toMatch(
			/^DigitalOcean API: GET \/v2\/account: the API answered something swarmbee cannot read \(.+\) \(request req-1234\)$/,
		);
		expect(error.message).not.toMatch(/TypeError|SyntaxError|Cannot read properties/);
	});

	it('refuses a redirect to another origin, and never asks there', async () => {
		const elsewhere = await fakeApi((_req, res) => json(res, 200, {account: {}}));
		const api = await fakeApi((_req, res) => {
			res.writeHead(302, {location: `${elsewhere.url}/v2/account`});
			res.end();
		});
		const error = await failure(client(api.url).account());
		expect(error.message).toContain('a redirect (302), which swarmbee refuses to follow');
		expect(elsewhere.seen).toEqual([]);
	});

	it('strips ANSI escapes and CR LF from API strings, in answers and in errors', async () => {
		const api = await fakeApi((req, res) => {
			if (req.url?.startsWith('/v2/account'))
				json(res, 422, {id: 'unprocessable_entity', message: 'bad\u001b[2J\r\nFAKE: all fine\u0007'});
			else json(res, 200, {sizes: [{...size('s1'), description: 'Basic\u001b]0;owned\u0007\r\nline'}], links: {}});
		});
		const [listed] = await client(api.url).sizes();
		expect(listed!.description).toBe('Basic ]0;owned   line');
		const error = await failure(client(api.url).account());
		const shown = formatError(errorInfo(error)).join('\n');
		expect(shown).toContain('bad [2J  FAKE: all fine');
		// biome-ignore lint/suspicious/noControlCharactersInRegex: looking for them
		expect(shown).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
	});

	it('refuses a VPC range that is no range (999.0.0.0/99)', async () => {
		const api = await fakeApi((_req, res) =>
			json(res, 200, {
				vpcs: [{id: 'v1', name: 'default-nyc3', region: 'nyc3', ip_range: '999.0.0.0/99', default: true}],
				links: {},
			}),
		);
		const error = await failure(client(api.url).vpcs());
		expect(error).toBeInstanceOf(UnreadableAnswerError);
		expect(error.message).toContain('"999.0.0.0/99", which is no IPv4 range');
	});

	it('says the cause of a connection failure: nothing listening on [::1], https to a plain http server', async () => {
		// A port that was free a moment ago: nothing listens there now.
		const probe = createServer();
		await new Promise<void>(resolve => probe.listen(0, '::1', resolve));
		const port = (probe.address() as AddressInfo).port;
		await new Promise(resolve => probe.close(resolve));
		const refused = await failure(client(`http://[::1]:${port}`).account());
		expect(refused).toMatchObject({status: 0});
		expect(refused.message).toContain('the connection was refused (nothing listens there) (ECONNREFUSED)');
		const plain = await fakeApi((_req, res) => json(res, 200, {}));
		const tls = await failure(client(plain.url.replace('http:', 'https:')).account());
		expect(tls.message).toMatch(/TLS/);
		expect(tls.message).not.toContain('fetch failed');
	});

	it('refuses an API URL with credentials, never printing them', () => {
		let said = '';
		try {
			client('https://user:s3cret@api.example.com');
		} catch (error) {
			said = formatError(errorInfo(error)).join('\n');
		}
		expect(said).toContain('carries a user name or password');
		expect(said).not.toContain('s3cret');
		expect(said).not.toContain('user:');
	});
});

describe('retries as godo does them', () => {
	it('honours Retry-After on a 503, in seconds and as an HTTP-date', async () => {
		const waits: number[] = [];
		emulator = await startEmulator({
			bootDelayMs: 0,
			faults: {serverErrorEvery: 2, serverErrorStatus: 503, serverErrorRetryAfterSeconds: 7},
		});
		const c = new DigitalOceanClient({
			token: emulator.token,
			baseUrl: emulator.url,
			sleep: async ms => {
				waits.push(ms);
			},
		});
		await c.account();
		await c.account();
		expect(emulator.requests.map(r => r.status)).toEqual([200, 503, 200]);
		emulator.options.faults.serverErrorRetryAfterForm = 'http-date';
		await c.account();
		await c.account();
		expect(waits[0]).toBe(7_000);
		// An HTTP-date has whole seconds: 6 to 8 s from now.
		expect(waits[1]).toBeGreaterThan(5_000);
		expect(waits[1]).toBeLessThanOrEqual(8_000);
		expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T07:27:00Z'))).toBe(60_000);
		expect(parseRetryAfter('soon', 0)).toBeUndefined();
	});

	it(`sends User-Agent swarmbee/${packageVersion()}`, async () => {
		const api = await fakeApi((_req, res) => json(res, 404, {id: 'not_found', message: 'no'}));
		await client(api.url).image('x');
		expect(api.seen[0]!.agent).toBe(`swarmbee/${packageVersion()}`);
	});

	it('a reboot answered 500 after it happened is found in the droplet actions and waited for, not asked twice', async () => {
		emulator = await startEmulator({bootDelayMs: 0, actionMs: 300});
		const provider = new DigitalOceanProvider({
			token: emulator.token,
			apiUrl: emulator.url,
			timing: {pollEarlyMs: 30, pollLateMs: 30, pollSwitchAfterMs: 0, settleMs: 50},
			client: {sleep: async () => {}},
		});
		const spec = resolveSpec({name: 'unit-reboot', provider: 'digitalocean', workers: 1, database: 'none'});
		const key = generateKeyPair('k');
		const ctx: ProviderContext = {spec, owner: 'o', sshPublicKey: key.publicKey};
		const {infra} = await provider.ensureInfra(ctx);
		const [made] = await provider.createMachines(
			ctx,
			planNodes(spec)
				.slice(0, 1)
				.map(n => ({...n, hostKey: generateKeyPair(n.name), authorizedKey: key.publicKey})),
			infra,
			() => {},
		);
		emulator.options.faults = {
			...emulator.options.faults,
			serverErrorEvery: 1,
			serverErrorWhen: 'after',
			serverErrorOnly: '^POST /v2/droplets/\\d+/actions$',
		};
		await provider.rebootMachine(ctx, made!.machine!);
		expect(emulator.count({method: 'POST', path: /\/actions$/})).toBe(1);
		expect([...emulator.actions.values()].filter(a => a.type === 'reboot')).toHaveLength(1);
		expect(emulator.count({method: 'GET', path: /^\/v2\/droplets\/\d+\/actions$/})).toBe(1);
	});
});
