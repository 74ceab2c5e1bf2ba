/**
 * swarmbee's example app: a small HTTP service that keeps rows in its own
 * RethinkDB database, with the user and password swarmbee made for it.
 *
 * What swarmbee gives every service of an app (swarmbee deploy):
 *   RETHINKDB_HOST           the database server on this task's own node (rdb-<node>)
 *   RETHINKDB_HOSTS          every server, for failing over
 *   RETHINKDB_PORT           28015
 *   RETHINKDB_DB             the app's database (its user may read, write and create tables there only)
 *   RETHINKDB_USER           the app's user
 *   RETHINKDB_PASSWORD_FILE  /run/secrets/rethinkdb_password
 *   RETHINKDB_CA_FILE        the cluster CA, once the database speaks TLS
 *
 * Routes:
 *   GET  /healthz      200 once the database is reachable and the table ready; 503 while stopping
 *   GET  /whoami       which task answered, and the app's version
 *   POST /items        {"text": "..."} → 201 {"id": "..."} (written with durability hard)
 *   GET  /items        the newest 20 rows
 *   GET  /items/ID     one row
 *   GET  /key-id       a fingerprint of the session_key secret (never the key)
 *   GET  /sign?text=…  an HMAC of text with session_key
 *
 * Stopping (Swarm sends SIGTERM after taking the task out of the service's
 * DNS): it goes on answering for DRAIN_SECONDS, so a client that looked the
 * name up just before still gets an answer, then closes its listener, lets
 * requests in flight finish, and exits. The stack's stop_grace_period must
 * be longer than that.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const r = require('rethinkdb');

const env = process.env;
const PORT = Number(env.PORT || 8000);
const TABLE = 'items';
const VERSION = env.APP_VERSION || '1';
const DRAIN_MS = Number(env.DRAIN_SECONDS || 5) * 1000;
const HOSTS = [
	...new Set([env.RETHINKDB_HOST, ...(env.RETHINKDB_HOSTS || '').split(',')].filter(host => host?.trim())),
];
const KEY_FILE = env.SESSION_KEY_FILE || '/run/secrets/session_key';

let connection;
let connecting;
let tableReady = false;
let draining = false;

function log(message) {
	process.stdout.write(`${new Date().toISOString()} ${message}\n`);
}

/** One connection, to the first server that answers: this node's own first. */
async function connect() {
	const password = fs.readFileSync(env.RETHINKDB_PASSWORD_FILE, 'utf8').trim();
	const ssl = env.RETHINKDB_CA_FILE ? {ca: fs.readFileSync(env.RETHINKDB_CA_FILE)} : undefined;
	let last;
	for (const host of HOSTS) {
		try {
			const opened = await r.connect({
				host,
				port: Number(env.RETHINKDB_PORT || 28015),
				db: env.RETHINKDB_DB,
				user: env.RETHINKDB_USER,
				password,
				timeout: 5,
				...(ssl ? {ssl} : {}),
			});
			opened.on('close', () => {
				if (connection === opened) connection = undefined;
			});
			opened.on('error', () => {});
			log(`connected to ${host} as ${env.RETHINKDB_USER}`);
			return opened;
		} catch (error) {
			last = error;
		}
	}
	throw last || new Error('no RETHINKDB_HOST given');
}

function database() {
	if (connection?.open) return Promise.resolve(connection);
	connecting ??= connect().then(
		opened => {
			connection = opened;
			connecting = undefined;
			return opened;
		},
		error => {
			connecting = undefined;
			throw error;
		},
	);
	return connecting;
}

/** Runs a query, once more on a new connection if the one it had broke. */
async function query(build) {
	try {
		return await build().run(await database());
	} catch (error) {
		if (!(error instanceof r.Error.ReqlDriverError)) throw error;
		connection = undefined;
		return build().run(await database());
	}
}

/**
 * The table, created by the first replica only (TASK_SLOT 1): RethinkDB
 * can make two tables of one name when two servers create it at the same
 * moment. The others wait until it is there.
 */
async function ensureTable() {
	for (;;) {
		try {
			const tables = await query(() => r.tableList());
			if (!tables.includes(TABLE) && (env.TASK_SLOT || '1') === '1') {
				await query(() => r.tableCreate(TABLE)).catch(error => {
					if (!/already exists/.test(error.message)) throw error;
				});
			}
			if (tables.includes(TABLE) || (env.TASK_SLOT || '1') === '1') {
				await query(() => r.table(TABLE).wait());
				tableReady = true;
				log(`table ${env.RETHINKDB_DB}.${TABLE} ready`);
				return;
			}
		} catch (error) {
			log(`waiting for the database: ${error.message}`);
		}
		await new Promise(resolve => setTimeout(resolve, 1000));
	}
}

function send(response, status, body) {
	const text = JSON.stringify(body);
	response.writeHead(status, {
		'content-type': 'application/json',
		'content-length': Buffer.byteLength(text),
		...(draining ? {connection: 'close'} : {}),
	});
	response.end(text);
}

function readBody(request) {
	return new Promise((resolve, reject) => {
		let text = '';
		request.setEncoding('utf8');
		request.on('data', chunk => {
			text += chunk;
			if (text.length > 64 * 1024) reject(new Error('body too large'));
		});
		request.on('end', () => resolve(text));
		request.on('error', reject);
	});
}

function sessionKey() {
	return fs.readFileSync(KEY_FILE);
}

async function handle(request, response) {
	const url = new URL(request.url, 'http://app');
	const route = `${request.method} ${url.pathname}`;
	if (route === 'GET /healthz') {
		const ok = tableReady && !draining && Boolean(connection?.open);
		return send(response, ok ? 200 : 503, {ok, draining});
	}
	if (route === 'GET /whoami') return send(response, 200, {host: os.hostname(), version: VERSION});
	if (route === 'GET /key-id') {
		const keyId = crypto.createHash('sha256').update(sessionKey()).digest('hex').slice(0, 12);
		return send(response, 200, {keyId, host: os.hostname(), version: VERSION});
	}
	if (route === 'GET /sign') {
		const text = url.searchParams.get('text') || '';
		const signature = crypto.createHmac('sha256', sessionKey()).update(text).digest('hex');
		return send(response, 200, {text, signature});
	}
	if (route === 'POST /items') {
		let text;
		try {
			text = String(JSON.parse((await readBody(request)) || '{}').text || '');
		} catch {
			return send(response, 400, {error: 'send JSON: {"text": "..."}'});
		}
		if (text === '') return send(response, 400, {error: 'text is empty'});
		const result = await query(() =>
			r.table(TABLE).insert({text, at: r.now(), by: os.hostname(), version: VERSION}, {durability: 'hard'}),
		);
		return send(response, 201, {id: result.generated_keys[0]});
	}
	if (route === 'GET /items') {
		const cursor = await query(() => r.table(TABLE).orderBy(r.desc('at')).limit(20));
		return send(response, 200, await cursor.toArray());
	}
	if (request.method === 'GET' && url.pathname.startsWith('/items/')) {
		const row = await query(() => r.table(TABLE).get(decodeURIComponent(url.pathname.slice('/items/'.length))));
		return row ? send(response, 200, row) : send(response, 404, {error: 'no such item'});
	}
	return send(response, 404, {error: `no route ${route}`});
}

const server = http.createServer((request, response) => {
	handle(request, response).catch(error => {
		log(`${request.method} ${request.url}: ${error.message}`);
		if (!response.headersSent) send(response, 500, {error: error.message});
	});
});
server.keepAliveTimeout = 5000;

process.on('SIGTERM', () => {
	if (draining) return;
	draining = true;
	log(`SIGTERM: answering ${DRAIN_MS / 1000} s more, then stopping`);
	setTimeout(() => {
		server.close(() => {
			log('stopped');
			connection?.close().catch(() => {});
			process.exit(0);
		});
		server.closeIdleConnections();
	}, DRAIN_MS);
});

server.listen(PORT, () => {
	log(`hello ${VERSION} listening on :${PORT}`);
	ensureTable();
});
