import r from 'rethinkdb';
import {pollUntil, withTimeout} from '../concurrency.js';
import {ExternalError} from '../errors.js';
import {tableKey, type ShardPlacement, type TableLayout, type TablePlan} from './placement.js';

/**
 * The database side of the replication policy: read every user table's
 * placement, write a plan's stages into `table_config`, and wait for each to
 * be ready while reporting the copies RethinkDB makes (its `jobs` table).
 */

interface ConfigRow {
	id: string;
	db: string;
	name: string;
	/** Missing, with `error`, when no replica of the table answers: nobody left can say where it lives. */
	shards?: Array<{primary_replica: string | null; replicas: string[]; nonvoting_replicas: string[]}>;
	error?: string;
}

interface StatusRow {
	id: string;
	shards: Array<{primary_replicas: string[]; replicas: Array<{server: string; state: string}>}> | null;
	status: {all_replicas_ready: boolean; ready_for_writes: boolean};
}

/** The servers connected to the one asked, by name. */
export async function readConnectedServers(connection: r.Connection): Promise<Set<string>> {
	const rows = (await (
		await r.db('rethinkdb').table('server_status').pluck('name').run(connection)
	).toArray()) as Array<{name: string}>;
	return new Set(rows.map(row => row.name));
}

/** The tag RethinkDB places a table made with its defaults by: only servers carrying it get new tables. */
export const DEFAULT_TAG = 'default';

/**
 * Takes the `default` tag off servers (so a table an application creates
 * with the defaults is never placed there) or puts it back. Only connected
 * servers can be changed; returns those that changed.
 */
export async function setDefaultTag(connection: r.Connection, servers: string[], on: boolean): Promise<string[]> {
	if (servers.length === 0) return [];
	const rows = (await (
		await r.db('rethinkdb').table('server_config').pluck('name', 'tags').run(connection)
	).toArray()) as Array<{name: string; tags: string[]}>;
	const changing = rows.filter(row => servers.includes(row.name) && row.tags.includes(DEFAULT_TAG) !== on);
	for (const row of changing) {
		const tags = on ? [...row.tags, DEFAULT_TAG] : row.tags.filter(t => t !== DEFAULT_TAG);
		await r.db('rethinkdb').table('server_config').filter({name: row.name}).update({tags}).run(connection);
	}
	return changing.map(row => row.name);
}

/** A table RethinkDB calls not available (a critical `table_availability` issue), with its own words. */
export interface UnavailableTable {
	db: string;
	table: string;
	description: string;
}

/** Tables with a critical `table_availability` issue now. */
export async function readUnavailableTables(connection: r.Connection): Promise<UnavailableTable[]> {
	const issues = (await (
		await r.db('rethinkdb').table('current_issues').filter({type: 'table_availability', critical: true}).run(connection)
	).toArray()) as Array<{description: string; info?: {db?: string; table?: string}}>;
	return issues
		.filter(i => i.info?.db && i.info.table)
		.map(i => ({db: i.info!.db!, table: i.info!.table!, description: i.description}));
}

/**
 * Tables that stay unavailable for `timeoutMs` (read again every second): a
 * table whose primary just moved is unavailable for a moment, not for good.
 */
export async function waitForAvailable(
	connection: r.Connection,
	signal?: AbortSignal,
	timeoutMs = 30_000,
): Promise<UnavailableTable[]> {
	const polled = await pollUntil(
		() => readUnavailableTables(connection),
		tables => tables.length === 0,
		{intervalMs: 1_000, timeoutMs, signal},
	);
	return polled.met ? [] : (polled.last ?? []);
}

/**
 * Rows of each table that can be read now (exact counts, each bounded in
 * time); a table that cannot be counted is left out.
 */
export async function countRows(connection: r.Connection, tables: TableLayout[]): Promise<Map<string, number>> {
	const counts = new Map<string, number>();
	await Promise.all(
		tables.map(async table => {
			try {
				const rows = await withTimeout(
					r.db(table.db).table(table.table).count().run(connection) as unknown as Promise<number>,
					10_000,
					() => new Error('not counted within 10 s'),
				);
				counts.set(tableKey(table), rows);
			} catch {
				// Not readable now: what was seen before stays the word on it.
			}
		}),
	);
	return counts;
}

/** Every user table's configuration and which of its replicas answer, by database then name. */
export async function readLayouts(connection: r.Connection): Promise<TableLayout[]> {
	const system = r.db('rethinkdb');
	const [configs, statuses] = await Promise.all([
		system
			.table('table_config')
			.run(connection)
			.then(c => c.toArray()) as Promise<ConfigRow[]>,
		system
			.table('table_status')
			.pluck('id', 'shards', 'status')
			.run(connection)
			.then(c => c.toArray()) as Promise<StatusRow[]>,
	]);
	const statusOf = new Map(statuses.map(s => [s.id, s]));
	return configs
		.map(config => {
			const status = statusOf.get(config.id);
			const shards = config.shards ?? [];
			return {
				id: config.id,
				db: config.db,
				table: config.name,
				shards: shards.map(s => ({
					primary: s.primary_replica,
					replicas: s.replicas,
					nonvoting: s.nonvoting_replicas ?? [],
				})),
				// A shard table_status cannot describe (the table is unavailable) has no replica known to answer.
				live: shards.map((_, i) =>
					(status?.shards?.[i]?.replicas ?? []).filter(rep => rep.state !== 'disconnected').map(rep => rep.server),
				),
				writable: status?.status.ready_for_writes ?? false,
				...(config.error ? {error: config.error} : {}),
			};
		})
		.sort((a, b) => a.db.localeCompare(b.db) || a.table.localeCompare(b.table));
}

/** How long a table that cannot take writes is watched (read again) before anything is said of it. */
export const CONFIRM_BROKEN_MS = 10_000;

/** Not writable although every replica it has answers: RethinkDB is still electing its primary (a server just came back, the table was just made). */
export function isSettling(table: TableLayout): boolean {
	return (
		!table.writable &&
		table.shards.length > 0 &&
		table.shards.every((shard, i) => shard.replicas.every(server => (table.live[i] ?? []).includes(server)))
	);
}

/**
 * Waits (up to `timeoutMs`) for tables that are settling to be writable,
 * then reads every table again: a table whose replicas all answer is never
 * taken for one that lost its majority.
 */
export async function waitForSettling(
	connection: r.Connection,
	layouts: TableLayout[],
	timeoutMs = 30_000,
): Promise<TableLayout[]> {
	const settling = layouts.filter(isSettling);
	if (settling.length === 0) return layouts;
	await Promise.all(
		settling.map(table =>
			(r.db(table.db).table(table.table) as unknown as {wait(options: object): r.Operation<unknown>})
				.wait({waitFor: 'ready_for_writes', timeout: Math.ceil(timeoutMs / 1000)})
				.run(connection)
				.catch(() => undefined),
		),
	);
	return readLayouts(connection);
}

function toConfig(shards: ShardPlacement[]) {
	return shards.map(s => ({primary_replica: s.primary, replicas: s.replicas, nonvoting_replicas: s.nonvoting}));
}

/** A copy in progress: RethinkDB backfilling a replica of `table` onto `server`. */
export interface CopyProgress {
	db: string;
	table: string;
	server: string;
	from: string[];
	/** 0..1 */
	fraction: number;
}

interface JobRow {
	type: string;
	info: {db?: string; table?: string; destination_server?: string; source_server?: string; progress?: number};
}

/** Backfills running now, per destination server (several sources of one copy are one line). */
export async function readCopies(connection: r.Connection): Promise<CopyProgress[]> {
	const jobs = (await (
		await r.db('rethinkdb').table('jobs').filter({type: 'backfill'}).run(connection)
	).toArray()) as JobRow[];
	const byTarget = new Map<string, CopyProgress>();
	for (const job of jobs) {
		const {db, table, destination_server: server, source_server: source, progress} = job.info;
		if (!db || !table || !server) continue;
		const key = `${db}.${table}>${server}`;
		const seen = byTarget.get(key) ?? {db, table, server, from: [], fraction: 1};
		if (source && !seen.from.includes(source)) seen.from.push(source);
		// progress is a fraction in 2.4 (0..1); keep the slowest source's.
		seen.fraction = Math.min(seen.fraction, Math.max(0, Math.min(1, Number(progress ?? 0))));
		byTarget.set(key, seen);
	}
	return [...byTarget.values()];
}

export interface ApplyProgress {
	table: TableLayout;
	stage: TablePlan['stages'][number]['name'];
	/** What is being copied now, with the table's document count (so progress can be said in documents). */
	copies: CopyProgress[];
	documents: number;
	/**
	 * Servers of the table's new placement that are not connected (RethinkDB
	 * says so), or whose node does not answer (`silent`: found before
	 * RethinkDB's heartbeat gives up on them): nothing moves until they are back.
	 */
	waiting?: {servers: string[]; silent?: string[]; leftMs: number};
}

/** How long a move waits for a server of the table that is not connected before it stops (it says so as it waits). */
export const DISCONNECTED_WAIT_MS = 10 * 60_000;

/**
 * Writes a plan's stages in order, each waited for until every replica is
 * ready (`all_replicas_ready`): no stage drops a replica before the copies
 * of the stage before it exist. `onProgress` hears about every copy at
 * most once a second.
 */
export async function applyPlan(connection: r.Connection, plan: TablePlan, options: ApplyOptions = {}): Promise<void> {
	const {layout} = plan;
	if (plan.stages.length === 0) return;
	const current = () => options.session?.connection ?? connection;
	const documents = (await r
		.db(layout.db)
		.table(layout.table)
		.count()
		.run(current())
		.catch(() => 0)) as number;
	for (const stage of plan.stages) {
		const result = (await r
			.db('rethinkdb')
			.table('table_config')
			.get(layout.id)
			.update({shards: toConfig(stage.shards)} as never)
			.run(current())) as unknown as {errors: number; first_error?: string};
		if (result.errors > 0) {
			throw new ExternalError(`RethinkDB refused the new placement of ${tableKey(layout)}: ${result.first_error}`, {
				nextSteps: [
					'nothing was lost: the table keeps its previous placement',
					'see the table in the admin panel: swarmbee tunnel NAME',
				],
			});
		}
		options.onProgress?.({table: layout, stage: stage.name, copies: [], documents});
		await waitUntilReady(current, plan, stage.name, documents, options);
	}
}

/**
 * The database session a move runs on, when it may reopen its connection:
 * a connection that closes while a move waits (its server restarted, its
 * SSH channel cut) is opened again and the wait goes on, the move being
 * RethinkDB's and not the connection's.
 */
export interface ReopenableSession {
	readonly connection: r.Connection;
	reconnect(): Promise<r.Connection>;
}

/** How many times in a row a wait reopens its connection before it gives up. */
const REOPENS = 5;

interface ApplyOptions {
	signal?: AbortSignal;
	timeoutMs?: number;
	/** How long to wait for a server that is not connected (default DISCONNECTED_WAIT_MS). */
	disconnectedWaitMs?: number;
	onProgress?: (progress: ApplyProgress) => void;
	/** A server's node, for the words (`workerbee_1` → `workerbee-1`). */
	nodeOf?: (server: string) => string;
	/** What picks the change up again after Ctrl-C (`swarmbee up demo`). */
	resume?: string;
	/** Of the servers given, those whose node does not answer now (asked over SSH, within seconds). */
	probe?: (servers: string[]) => Promise<string[]>;
	/** Reopened when its connection closes during a wait (without it, a closed connection ends the move). */
	session?: ReopenableSession;
}

export interface ApplyPlansOptions {
	signal?: AbortSignal;
	/** Why a plan moves its table: the words its progress lines start with. */
	why: (plan: TablePlan) => string;
	/** Says one progress line (a line is said again only when it changed). */
	say: (line: string) => void;
	/** After a plan's last stage is ready. */
	onApplied?: (plan: TablePlan) => void;
	/** What writes one plan: applyPlan (unit tests pass a scripted one, having no database). */
	apply?: typeof applyPlan;
	nodeOf?: (server: string) => string;
	resume?: string;
	disconnectedWaitMs?: number;
	probe?: (servers: string[]) => Promise<string[]>;
	session?: ReopenableSession;
}

/**
 * Applies every plan that changes its table, one table after the other
 * (`applyPlan`: each stage waited for until every replica is ready), saying
 * what it copies. Returns how many tables changed.
 */
export async function applyPlans(
	connection: r.Connection,
	plans: readonly TablePlan[],
	options: ApplyPlansOptions,
): Promise<number> {
	const apply = options.apply ?? applyPlan;
	let changed = 0;
	for (const plan of plans) {
		if (plan.stages.length === 0) continue;
		changed++;
		const why = options.why(plan);
		let said = '';
		await apply(connection, plan, {
			signal: options.signal,
			...(options.nodeOf ? {nodeOf: options.nodeOf} : {}),
			...(options.resume ? {resume: options.resume} : {}),
			...(options.disconnectedWaitMs ? {disconnectedWaitMs: options.disconnectedWaitMs} : {}),
			...(options.probe ? {probe: options.probe} : {}),
			...(options.session ? {session: options.session} : {}),
			onProgress: progress => {
				const line = describeProgress(progress, why, options);
				if (line !== said) options.say(line);
				said = line;
			},
		});
		options.onApplied?.(plan);
	}
	return changed;
}

/** How long one stage may take to be ready (a copy of a large table takes a while). */
const READY_TIMEOUT_MS = 30 * 60_000;

async function waitUntilReady(
	current: () => r.Connection,
	plan: TablePlan,
	stage: ApplyProgress['stage'],
	documents: number,
	options: ApplyOptions,
): Promise<void> {
	const {layout} = plan;
	const timeoutMs = options.timeoutMs ?? READY_TIMEOUT_MS;
	const waitMs = options.disconnectedWaitMs ?? DISCONNECTED_WAIT_MS;
	const shards = plan.stages.find(s => s.name === stage)!.shards;
	const servers = [...new Set(shards.flatMap(s => [...s.replicas, ...s.nonvoting]))];
	/** Since when a server of the placement has not been connected. */
	let awaySince: number | undefined;
	let reopened = 0;
	const polled = await pollUntil(
		async () => {
			try {
				const ready = await look(current());
				reopened = 0;
				return ready;
			} catch (error) {
				const session = options.session;
				if (!session || (error as Error).name !== 'ReqlDriverError' || reopened >= REOPENS) throw error;
				reopened++;
				await session.reconnect().catch(() => {});
				return false;
			}
		},
		ready => ready,
		{intervalMs: 1_000, timeoutMs, signal: options.signal},
	);
	async function look(connection: r.Connection): Promise<boolean> {
		const status = (await r.db('rethinkdb').table('table_status').get(layout.id).run(connection)) as unknown as {
			status: {all_replicas_ready: boolean};
		} | null;
		const ready = status?.status.all_replicas_ready === true;
		if (!ready) {
			const connected = await readConnectedServers(connection);
			const away = servers.filter(s => !connected.has(s));
			// A node stopped hard sends nothing: RethinkDB calls its server disconnected only after its
			// heartbeat gives up (about 14 s); its node not answering says so within seconds.
			const silent = options.probe ? await options.probe(servers.filter(s => connected.has(s))) : [];
			if (away.length + silent.length === 0) awaySince = undefined;
			else {
				awaySince ??= Date.now();
				const leftMs = waitMs - (Date.now() - awaySince);
				if (leftMs <= 0) throw serverAwayError(layout, [...away, ...silent], waitMs, options);
				options.onProgress?.({
					table: layout,
					stage,
					copies: [],
					documents,
					waiting: {servers: away, ...(silent.length > 0 ? {silent} : {}), leftMs},
				});
				return false;
			}
			const copies = (await readCopies(connection)).filter(c => c.db === layout.db && c.table === layout.table);
			options.onProgress?.({table: layout, stage, copies, documents});
		}
		return ready;
	}
	if (!polled.met) {
		throw new ExternalError(
			`${tableKey(layout)} did not become ready within ${Math.round(timeoutMs / 60_000)} min after its ${stage} step`,
			{
				hint: 'its data is safe: every replica it had is still in its configuration until the copies are ready',
				nextSteps: ["run the same command again: it continues from the table's current placement"],
			},
		);
	}
}

/** A move that waited its bound for a server that never came back: nothing lost, and what to do. */
function serverAwayError(layout: TableLayout, away: string[], waitMs: number, options: ApplyOptions): ExternalError {
	const nodes = away.map(s => options.nodeOf?.(s) ?? s);
	return new ExternalError(
		`${nodes.map(n => `${n}'s server`).join(', ')} ${away.length === 1 ? 'has' : 'have'} not been connected for ${Math.round(waitMs / 60_000)} min: ${tableKey(layout)} cannot finish its move without ${away.length === 1 ? 'it' : 'them'}`,
		{
			hint: `nothing is lost: ${tableKey(layout)} keeps every replica it had until the copies are ready`,
			nextSteps: [
				`start ${nodes.join(', ')} again, then ${options.resume ?? 'run the same command again'} (it repairs a stopped node and continues from the table's current placement)`,
			],
		},
	);
}

interface StatsRow {
	id: [string, string, string];
	db: string;
	table: string;
	server: string;
	storage_engine?: {disk?: {space_usage?: {data_bytes?: number; metadata_bytes?: number}}};
}

/** Bytes each table takes on one of its servers (the largest replica), by `db.table`: what a new copy needs on disk. */
export async function readTableSizes(connection: r.Connection): Promise<Map<string, number>> {
	// A handful of rows per table and server: read them all, keep the table-per-server ones.
	const rows = ((await (await r.db('rethinkdb').table('stats').run(connection)).toArray()) as StatsRow[]).filter(
		row => row.id[0] === 'table_server',
	);
	const sizes = new Map<string, number>();
	for (const row of rows) {
		const usage = row.storage_engine?.disk?.space_usage;
		const bytes = (usage?.data_bytes ?? 0) + (usage?.metadata_bytes ?? 0);
		const key = tableKey(row);
		sizes.set(key, Math.max(sizes.get(key) ?? 0, bytes));
	}
	return sizes;
}

/** Drops a table (one that is lost: RethinkDB drops it even when none of its servers answers). */
export async function dropTable(connection: r.Connection, table: {db: string; table: string}): Promise<void> {
	await r.db(table.db).tableDrop(table.table).run(connection);
}

export type EmergencyRepair = 'unsafe_rollback' | 'unsafe_rollback_or_erase';

/**
 * RethinkDB's own way out for a table that lost the majority of its
 * replicas (`reconfigure({emergency_repair})`): with `dryRun` it only says
 * what the configuration would become. Returns the shards after the repair.
 */
export async function emergencyRepair(
	connection: r.Connection,
	table: TableLayout,
	mode: EmergencyRepair,
	dryRun: boolean,
): Promise<ShardPlacement[]> {
	const result = (await (
		r.db(table.db).table(table.table) as unknown as {reconfigure(options: object): r.Operation<unknown>}
	)
		.reconfigure({emergencyRepair: mode, dryRun})
		.run(connection)) as {config_changes?: Array<{new_val?: ConfigRow}>};
	const after = result.config_changes?.[0]?.new_val;
	// RethinkDB keeps the lost replicas in the configuration as non-voting ones: the voting ones are what survived.
	return (after?.shards ?? []).map(s => ({
		primary: s.primary_replica,
		replicas: s.replicas,
		nonvoting: s.nonvoting_replicas ?? [],
	}));
}

const count = (n: number) => n.toLocaleString('en-US');

/**
 *     app.orders: moving replicas off workerbee_3: copying to workerbee_1 from workerbee_3, 62% (about 3,100 of 5,000 documents)
 *     app.orders: ready, 2 replicas on queenbee, workerbee_1
 *     app.orders: moving replicas off workerbee_3: workerbee-1's server is not connected; waiting for it (10 min more at most), or Ctrl-C and `swarmbee up demo`
 */
export function describeProgress(
	progress: ApplyProgress,
	why: string,
	words: {nodeOf?: (server: string) => string; resume?: string} = {},
): string {
	const name = tableKey(progress.table);
	if (progress.waiting) {
		const node = (s: string) => words.nodeOf?.(s) ?? s;
		const away = progress.waiting.servers.map(node);
		const silent = (progress.waiting.silent ?? []).map(node);
		const said = [
			...(away.length > 0
				? [`${away.map(n => `${n}'s server`).join(', ')} ${away.length === 1 ? 'is' : 'are'} not connected`]
				: []),
			...(silent.length > 0 ? [`${silent.join(', ')} ${silent.length === 1 ? 'does' : 'do'} not answer`] : []),
		];
		const minutes = Math.max(1, Math.ceil(progress.waiting.leftMs / 60_000));
		return `${name}: ${why}: ${said.join('; ')}; waiting for ${away.length + silent.length === 1 ? 'it' : 'them'} (${minutes} min more at most), or Ctrl-C and \`${words.resume ?? 'swarmbee up NAME'}\``;
	}
	const copies = progress.copies.map(
		c =>
			`copying to ${c.server}${c.from.length > 0 ? ` from ${c.from.join(', ')}` : ''}, ${Math.floor(c.fraction * 100)}% (about ${count(Math.round(c.fraction * progress.documents))} of ${count(progress.documents)} documents)`,
	);
	if (copies.length > 0) return `${name}: ${why}: ${copies.join('; ')}`;
	const stage =
		progress.stage === 'forget'
			? 'forgetting replicas on servers that are gone'
			: progress.stage === 'grow'
				? `copying ${count(progress.documents)} documents`
				: 'settling on its new placement';
	return `${name}: ${why}: ${stage}`;
}
