import r from 'rethinkdb';
import {pollUntil} from '../concurrency.js';
import {CancelledError, ExternalError, InputError, isAbort} from '../errors.js';
import {counted} from '../render/format.js';
import {tableKey, type ShardPlacement, type TableLayout} from './placement.js';
import type {NodeShells} from '../ssh/shell.js';
import type {Journal} from '../store/journal.js';
import {databaseNodes, openDatabase, type DatabaseSession} from './rethinkdb.js';
import {serverName} from './stack.js';
import {readLayouts} from './tables.js';

/**
 * Changing RethinkDB's servers one at a time while every table stays
 * available: the primitive under `node restart|stop`, `upgrade` and
 * `certs rotate`. For each server, in order:
 *
 *     1. check   refused, before anything changes, when a table would stop
 *                answering without it: its only replica is there, or the
 *                majority of its voting replicas would be gone (another
 *                server is down already). The refusal names each table and
 *                what to do. Every server of the roll is checked up front,
 *                and each again right before its turn.
 *     2. move    the primaries it holds go to another voting replica that
 *                answers (table_config, as `reconfigure` would write it),
 *                waited for until each table is ready on its new primary:
 *                the server then serves no write, so stopping it fails none.
 *     3. change  the caller's callback: restart its node, update its
 *                service's image or secrets, stop it.
 *     4. back    waited for: the server connected again, with the same
 *                server id (its data kept), and every table ready (its
 *                replicas caught up). A `stop` waits only until every table
 *                accepts writes without it.
 *
 * Then the next server. At the end the primaries moved in step 2 go back
 * where they were, so the placement is the one the roll found.
 *
 * Ctrl-C: a change that has begun is finished (the server is brought back
 * and waited for) before the roll stops, so no server is left half-changed;
 * a second Ctrl-C quits at once and the next run's recovery brings it back.
 *
 * The database is reached through `RollingDatabase`, four reads and one
 * write of RethinkDB's system tables, so a unit test runs the real
 * decisions against a scripted database (test/unit/rolling.test.ts).
 */

/** One user table's readiness as `table_status` says it. */
export interface TableReadiness {
	id: string;
	db: string;
	table: string;
	/** `ready_for_writes`: a majority of every shard's voting replicas answers and a primary serves. */
	writable: boolean;
	/** `all_replicas_ready`: every replica is caught up. */
	ready: boolean;
	/** Per shard, the servers acting as its primary now. */
	primaries: string[][];
	/** Servers with a replica of it that answers but is not caught up yet (backfilling, transitioning, …). */
	behind: string[];
	/** Servers with a replica of it that does not answer. */
	away: string[];
}

/** What the roll asks of the database. `rollingDatabase(session)` is the real one. */
export interface RollingDatabase {
	/** Every user table's configuration and which replicas answer (`readLayouts`). */
	layouts(): Promise<TableLayout[]>;
	/** Connected servers, by name, with their server ids (`server_status`). */
	servers(): Promise<Map<string, string>>;
	/** Every user table's readiness. */
	readiness(): Promise<TableReadiness[]>;
	/** Writes new primaries (one per shard) into a table's `table_config`, its replicas unchanged. */
	setPrimaries(table: TableLayout, primaries: string[]): Promise<void>;
	/** RethinkDB's critical `current_issues`, in its own words (a roll is not done while there is one). */
	criticalIssues(): Promise<string[]>;
	/** The server the roll's own queries go to (never one being changed). */
	readonly via: string;
}

/** Why taking one server away would make a table unavailable, and what to do. */
export interface ServerRefusal {
	table: string;
	server: string;
	why: string;
	fix: string;
}

/** A primary moved off a server before its change, to be put back at the end. */
export interface MovedPrimary {
	tableId: string;
	table: string;
	shard: number;
	from: string;
	to: string;
}

/** Where a roll is with one node: the journal keeps it, so a run cut off can say and resume. */
export type RollingStage = 'checked' | 'primaries-moved' | 'changing' | 'back';

function voting(shard: ShardPlacement): string[] {
	return shard.replicas.filter(s => !shard.nonvoting.includes(s));
}

/**
 * What would stop answering if `server` went away now (pure, tested as a
 * value): for each shard it votes in, while it answers, the voting replicas
 * that would still answer must be a majority. A table whose replica there is
 * already away loses nothing more (that is how `start` brings one back).
 */
export function refusalsForServer(
	tables: readonly TableLayout[],
	server: string,
	connected: ReadonlySet<string>,
	policy: {cluster: string; replicas: number; verb: string},
): ServerRefusal[] {
	const out: ServerRefusal[] = [];
	for (const table of tables) {
		const key = tableKey(table);
		for (const [index, shard] of table.shards.entries()) {
			const votes = voting(shard);
			const live = new Set((table.live[index] ?? []).filter(s => connected.has(s)));
			if (!votes.includes(server) || !live.has(server)) continue;
			const remaining = votes.filter(s => s !== server && live.has(s));
			if (remaining.length * 2 > votes.length) continue;
			const shardName = table.shards.length > 1 ? ` (shard ${index + 1})` : '';
			if (votes.length === 1) {
				out.push({
					table: key,
					server,
					why: `${key}${shardName} has its only replica on ${server}: it would be unavailable while ${server} ${policy.verb}`,
					fix:
						policy.replicas < 3
							? `give every table 3 replicas first: swarmbee up ${policy.cluster} --replicas 3 (the tables step copies them, no downtime)`
							: `place ${key} by the replication policy first (${policy.replicas} replicas): swarmbee up ${policy.cluster}`,
				});
			} else {
				const away = votes.filter(s => s !== server && !live.has(s));
				out.push({
					table: key,
					server,
					why: `${key}${shardName} would keep ${remaining.length} of its ${votes.length} voting replicas while ${server} ${policy.verb}${away.length > 0 ? ` (${away.join(', ')} ${away.length === 1 ? 'does' : 'do'} not answer now)` : ''}: not a majority, so it would stop taking writes`,
					fix:
						away.length > 0
							? `bring ${away.join(', ')} back first: swarmbee up ${policy.cluster} (or swarmbee node ${policy.cluster} start NODE)`
							: `give it more replicas first: swarmbee up ${policy.cluster} --replicas ${Math.max(3, votes.length + 1)}`,
				});
			}
		}
	}
	return out;
}

/**
 * The new primary for each shard `server` leads: another voting replica
 * that answers, the first in `prefer` (servers the roll is done with, so a
 * primary moves once), else the one leading fewest shards. Pure.
 */
export function primariesOff(
	tables: readonly TableLayout[],
	server: string,
	connected: ReadonlySet<string>,
	prefer: readonly string[] = [],
): Array<{table: TableLayout; primaries: string[]; moved: MovedPrimary[]}> {
	const load = new Map<string, number>();
	for (const table of tables) for (const shard of table.shards) if (shard.primary) bump(load, shard.primary);
	const rank = (s: string) => {
		const at = prefer.indexOf(s);
		return at === -1 ? prefer.length : at;
	};
	const out: Array<{table: TableLayout; primaries: string[]; moved: MovedPrimary[]}> = [];
	for (const table of tables) {
		if (!table.shards.some(s => s.primary === server)) continue;
		const moved: MovedPrimary[] = [];
		const primaries = table.shards.map((shard, index) => {
			if (shard.primary !== server) return shard.primary ?? voting(shard)[0]!;
			const live = new Set((table.live[index] ?? []).filter(s => connected.has(s)));
			const candidates = voting(shard)
				.filter(s => s !== server && live.has(s))
				.sort((a, b) => rank(a) - rank(b) || (load.get(a) ?? 0) - (load.get(b) ?? 0));
			const to = candidates[0];
			if (!to) return server;
			bump(load, to);
			bump(load, server, -1);
			moved.push({tableId: table.id, table: tableKey(table), shard: index, from: server, to});
			return to;
		});
		if (moved.length > 0) out.push({table, primaries, moved});
	}
	return out;
}

function primaryCount(n: number): string {
	return `${n} ${n === 1 ? 'primary' : 'primaries'}`;
}

function bump(load: Map<string, number>, server: string, by = 1): void {
	load.set(server, (load.get(server) ?? 0) + by);
}

export interface RollingInput {
	/** The cluster's database, reached through a server other than `avoid` (reopened when needed). */
	database: (avoid: string) => Promise<RollingDatabase>;
	/** The nodes whose servers change, in order. */
	nodes: readonly string[];
	/** For the fixes a refusal says: the cluster's name and its --replicas. */
	cluster: string;
	replicas: number;
	/** What the change does to a server, in the words of a refusal: `restarts`, `is upgraded`. */
	verb: string;
	/**
	 * Changes one node's server. The roll calls it once the server leads no
	 * shard. Given the run's signal: once it has begun something that takes
	 * the server down, it finishes that (or undoes it) even if the signal
	 * aborts, so the server comes back; the roll then stops. Finished, it
	 * returns (the node counts as done); undone, it throws CancelledError
	 * (the server is waited for, and the next run changes it again).
	 */
	change: (node: string, signal: AbortSignal) => Promise<void>;
	/** Whether the server comes back after the change (false for `node stop`). */
	comesBack?: boolean;
	signal: AbortSignal;
	/** A line of progress (the step's io.progress). */
	say: (line: string) => void;
	/** Each node's stage as it is reached (the journal's record). */
	onStage?: (node: string, stage: RollingStage) => void;
	/** After a node's server is back (or, for a stop, its tables writable without it). */
	onDone?: (node: string) => void;
	/** Primaries moved off earlier in an interrupted roll, put back at the end with this run's. */
	moved?: MovedPrimary[];
	/** Each time the list of primaries to put back changes (the journal keeps it). */
	onMoved?: (moved: MovedPrimary[]) => void;
	/** How long one server may take to come back (default 10 min). */
	backTimeoutMs?: number;
	/** The poll interval of every wait (default 1 s; tests shorten it). */
	intervalMs?: number;
	/**
	 * The user said so (`--allow-unavailable`): what would make a table
	 * unavailable is said through `warn` and done anyway. Never the default.
	 */
	allowUnavailable?: boolean;
	/** A warning the user must see (the step's io.warn). */
	warn?: (line: string) => void;
	/** How long RethinkDB may report a critical issue after the roll before it fails (default 2 min). */
	issuesTimeoutMs?: number;
}

const BACK_TIMEOUT_MS = 10 * 60_000;
const READY_TIMEOUT_MS = 5 * 60_000;

/**
 * Refuses, before any change, a roll that would make a table unavailable:
 * every server of it checked against the database as it is now.
 */
export async function checkRoll(
	input: Pick<RollingInput, 'database' | 'nodes' | 'cluster' | 'replicas' | 'verb' | 'allowUnavailable' | 'warn'>,
): Promise<void> {
	const db = await input.database(input.nodes[0] ?? '');
	const [tables, servers] = await Promise.all([db.layouts(), db.servers()]);
	const connected = new Set(servers.keys());
	const refusals = input.nodes.flatMap(node =>
		refusalsForServer(tables, serverName(node), connected, {
			cluster: input.cluster,
			replicas: input.replicas,
			verb: input.verb,
		}),
	);
	if (refusals.length > 0) refuseOrWarn(input, refusals, input.nodes);
}

/** A refusal, or with `allowUnavailable` a warning per table and on with the roll. */
function refuseOrWarn(
	input: Pick<RollingInput, 'allowUnavailable' | 'warn'>,
	refusals: ServerRefusal[],
	nodes: readonly string[],
): void {
	if (!input.allowUnavailable) throw refusalError(refusals, nodes);
	for (const refusal of refusals) input.warn?.(`${refusal.why} (going on: --allow-unavailable)`);
}

function refusalError(refusals: ServerRefusal[], nodes: readonly string[]): InputError {
	const tables = [...new Set(refusals.map(r => r.table))];
	return new InputError(
		`${nodes.length === 1 ? nodes[0] : counted(nodes.length, 'node')} cannot go down now without making ${tables.length === 1 ? tables[0] : counted(tables.length, 'table')} unavailable: nothing was changed`,
		{
			hint: refusals.map(r => r.why).join('\n'),
			nextSteps: [...new Set(refusals.map(r => r.fix))],
		},
	);
}

/**
 * The roll itself (see the top of this file). Returns the nodes changed and
 * how many primaries moved. Throws the refusal (InputError, nothing changed)
 * before the first change; CancelledError after Ctrl-C once the server in
 * hand is back.
 */
export async function rollServers(input: RollingInput): Promise<{changed: string[]; moved: number}> {
	const {signal, say} = input;
	const interval = input.intervalMs ?? 1_000;
	const comesBack = input.comesBack ?? true;
	const policy = {cluster: input.cluster, replicas: input.replicas, verb: input.verb};
	await checkRoll(input);
	const moved: MovedPrimary[] = [...(input.moved ?? [])];
	const changed: string[] = [];
	let movedCount = 0;
	for (const [position, node] of input.nodes.entries()) {
		if (signal.aborted) throw new CancelledError();
		const server = serverName(node);
		const db = await input.database(node);
		// Checked again right before its turn: a server may have gone away since.
		const [tables, servers] = await Promise.all([db.layouts(), db.servers()]);
		const connected = new Set(servers.keys());
		const refusals = refusalsForServer(tables, server, connected, policy);
		if (refusals.length > 0) refuseOrWarn({...input, warn: undefined}, refusals, [node]);
		input.onStage?.(node, 'checked');
		const idBefore = servers.get(server);

		// Done servers first, then those whose turn is last: a primary moves once.
		const later = input.nodes.slice(position + 1).map(serverName);
		const prefer = [...[...connected].filter(s => !later.includes(s)), ...later.reverse()];
		const moves = primariesOff(tables, server, connected, prefer);
		if (moves.length > 0) {
			say(
				`${server}: moving ${primaryCount(moves.reduce((n, m) => n + m.moved.length, 0))} off (${moves.map(m => tableKey(m.table)).join(', ')})`,
			);
			for (const move of moves) await db.setPrimaries(move.table, move.primaries);
			for (const move of moves) {
				for (const m of move.moved) {
					// A primary moved back and forth is remembered where it first was.
					const earlier = moved.find(x => x.tableId === m.tableId && x.shard === m.shard);
					if (earlier) earlier.to = m.to;
					else moved.push({...m});
				}
			}
			movedCount += moves.length;
			input.onMoved?.(moved);
			await waitForPrimaries(db, moves, {signal, intervalMs: interval, say});
		}
		input.onStage?.(node, 'primaries-moved');
		if (signal.aborted) throw new CancelledError();

		input.onStage?.(node, 'changing');
		let interrupted = false;
		// A change that gives up on Ctrl-C undoes what it began (a drain): the server is waited for, but not done.
		let undone = false;
		try {
			await input.change(node, signal);
		} catch (error) {
			if (!isAbort(error, signal)) throw error;
			interrupted = true;
			undone = true;
		}
		if (signal.aborted) interrupted = true;
		if (interrupted)
			say(
				`Ctrl-C: waiting for ${server} to be back before stopping (Ctrl-C again quits at once; swarmbee up repairs it)`,
			);
		// Waited for whatever Ctrl-C said: the server is not left half-changed.
		const steady = new AbortController().signal;
		if (comesBack) {
			await waitUntilBack(await input.database(node), server, idBefore, {
				signal: steady,
				intervalMs: interval,
				timeoutMs: input.backTimeoutMs ?? BACK_TIMEOUT_MS,
				say,
			});
		} else {
			await waitUntilWritable(await input.database(node), {signal: steady, intervalMs: interval, say});
		}
		input.onStage?.(node, 'back');
		if (!undone) {
			changed.push(node);
			input.onDone?.(node);
		}
		if (interrupted) throw new CancelledError();
	}
	const last = input.nodes.at(-1) ?? '';
	if (comesBack && moved.length > 0) {
		await restorePrimaries(await input.database(last), moved, {signal, intervalMs: interval, say});
		input.onMoved?.([]);
	}
	// A stopped server is meant to be away: what RethinkDB says about it is what `stop` asked for.
	if (comesBack)
		await waitForNoCriticalIssue(await input.database(last), {
			signal,
			intervalMs: interval,
			timeoutMs: input.issuesTimeoutMs ?? ISSUES_TIMEOUT_MS,
			say,
		});
	return {changed, moved: movedCount};
}

const ISSUES_TIMEOUT_MS = 2 * 60_000;

/**
 * A roll is not done while RethinkDB reports a critical issue (a table not
 * available, a server it still misses): waited for a while, as a server
 * just back clears its own, then an error in RethinkDB's words.
 */
export async function waitForNoCriticalIssue(
	db: RollingDatabase,
	options: {signal: AbortSignal; intervalMs?: number; timeoutMs?: number; say: (line: string) => void},
): Promise<void> {
	let said = false;
	const polled = await pollUntil(
		async () => {
			const issues = await db.criticalIssues();
			if (issues.length > 0 && !said) {
				options.say(`waiting for RethinkDB's critical issues to clear: ${issues.join('; ')}`);
				said = true;
			}
			return issues;
		},
		issues => issues.length === 0,
		{
			intervalMs: options.intervalMs ?? 1_000,
			timeoutMs: options.timeoutMs ?? ISSUES_TIMEOUT_MS,
			signal: options.signal,
		},
	);
	if (polled.met) return;
	const issues = polled.last ?? [];
	throw new ExternalError(
		`RethinkDB reports ${issues.length === 1 ? 'a critical issue' : `${issues.length} critical issues`} after the change: ${issues.join('; ')}`,
		{
			hint: 'every server was changed and waited for, but the database does not call itself healthy',
			nextSteps: ['see it in the admin panel: swarmbee tunnel NAME', 'swarmbee status NAME'],
		},
	);
}

/** Waits until every moved table serves from its new primaries, writable and caught up. */
async function waitForPrimaries(
	db: RollingDatabase,
	moves: Array<{table: TableLayout; primaries: string[]}>,
	options: {signal: AbortSignal; intervalMs: number; say: (line: string) => void},
): Promise<void> {
	const polled = await pollUntil(
		async () => {
			const readiness = await db.readiness();
			return moves.filter(move => {
				const now = readiness.find(t => t.id === move.table.id);
				return !(
					now?.writable &&
					now.ready &&
					move.primaries.every((primary, shard) => (now.primaries[shard] ?? []).includes(primary))
				);
			});
		},
		waiting => waiting.length === 0,
		{intervalMs: options.intervalMs, timeoutMs: READY_TIMEOUT_MS, signal: options.signal},
	);
	if (polled.met) return;
	throw new ExternalError(
		`${(polled.last ?? []).map(m => tableKey(m.table)).join(', ')} did not settle on ${(polled.last ?? []).length === 1 ? 'its' : 'their'} new primary within ${READY_TIMEOUT_MS / 60_000} min`,
		{
			hint: 'nothing was changed on any server yet: the tables keep every replica',
			nextSteps: ['see the tables in the admin panel: swarmbee tunnel NAME', 'run the same command again'],
		},
	);
}

/**
 * Waits until `server` is connected again (with `idBefore`, when known: a
 * server that came back with another id lost its data directory) and every
 * table is ready.
 */
export async function waitUntilBack(
	db: RollingDatabase,
	server: string,
	idBefore: string | undefined,
	options: {signal: AbortSignal; intervalMs?: number; timeoutMs?: number; say: (line: string) => void},
): Promise<void> {
	const timeoutMs = options.timeoutMs ?? BACK_TIMEOUT_MS;
	let said = '';
	const polled = await pollUntil(
		async () => {
			const servers = await db.servers().catch(() => new Map<string, string>());
			const id = servers.get(server);
			if (id !== undefined && idBefore !== undefined && id !== idBefore) {
				throw new ExternalError(`${server} came back as another server (id ${id}, was ${idBefore})`, {
					hint: 'its data directory was not kept: its tables are copied to it again from their other replicas',
					nextSteps: ['look at the volume of its node: swarmbee status NAME'],
				});
			}
			const readiness = id === undefined ? [] : await db.readiness().catch(() => undefined);
			// Caught up: writable, its replicas here and on every server that answers ready. A
			// replica on some other server that is away is that server's business (the next
			// server's check refuses if it matters), not a reason to wait forever.
			const behind = (readiness ?? [])
				.filter(t => !t.writable || t.behind.length > 0 || t.away.includes(server))
				.map(t => tableKey(t));
			const line =
				id === undefined
					? `${server}: waiting for it to connect`
					: readiness === undefined
						? `${server}: connected, reading the tables' state`
						: behind.length > 0
							? `${server}: connected, waiting for ${behind.length > 3 ? counted(behind.length, 'table') : behind.join(', ')} to catch up`
							: `${server}: back, every table ready`;
			if (line !== said) options.say(line);
			said = line;
			return id !== undefined && readiness !== undefined && behind.length === 0;
		},
		back => back,
		{intervalMs: options.intervalMs ?? 1_000, timeoutMs, signal: options.signal},
	);
	if (polled.met) return;
	throw new ExternalError(`${server} did not come back within ${Math.round(timeoutMs / 60_000)} min: ${said}`, {
		hint: 'no table lost its majority: the others kept serving',
		nextSteps: [
			"look at the server's log: swarmbee logs NAME rdb-NODE",
			'then run the same command again: it resumes from this node',
		],
	});
}

/** For a server that stays down (`node stop`): waits until every table takes writes without it. */
async function waitUntilWritable(
	db: RollingDatabase,
	options: {signal: AbortSignal; intervalMs: number; say: (line: string) => void},
): Promise<void> {
	const polled = await pollUntil(
		async () => (await db.readiness()).filter(t => !t.writable).map(t => tableKey(t)),
		waiting => waiting.length === 0,
		{intervalMs: options.intervalMs, timeoutMs: READY_TIMEOUT_MS, signal: options.signal},
	);
	if (polled.met) return;
	throw new ExternalError(`${(polled.last ?? []).join(', ')} stopped taking writes`, {
		nextSteps: ['start the node again: swarmbee node NAME start NODE'],
	});
}

/**
 * Puts moved primaries back where they were, where that server answers and
 * still holds a voting replica and nobody moved the primary since.
 */
export async function restorePrimaries(
	db: RollingDatabase,
	moved: readonly MovedPrimary[],
	options: {signal: AbortSignal; intervalMs?: number; say: (line: string) => void},
): Promise<number> {
	const [tables, servers] = await Promise.all([db.layouts(), db.servers()]);
	const moves: Array<{table: TableLayout; primaries: string[]}> = [];
	let count = 0;
	for (const table of tables) {
		const back = moved.filter(m => m.tableId === table.id);
		if (back.length === 0) continue;
		let touched = false;
		const primaries = table.shards.map((shard, index) => {
			const m = back.find(x => x.shard === index);
			const live = table.live[index] ?? [];
			if (
				m &&
				m.from !== m.to &&
				shard.primary === m.to &&
				servers.has(m.from) &&
				live.includes(m.from) &&
				voting(shard).includes(m.from)
			) {
				touched = true;
				count++;
				return m.from;
			}
			return shard.primary ?? voting(shard)[0]!;
		});
		if (touched) moves.push({table, primaries});
	}
	if (moves.length === 0) return 0;
	options.say(
		`putting ${primaryCount(count)} of ${counted(moves.length, 'table')} back where ${count === 1 ? 'it was' : 'they were'}`,
	);
	for (const move of moves) await db.setPrimaries(move.table, move.primaries);
	await waitForPrimaries(db, moves, {
		signal: options.signal,
		intervalMs: options.intervalMs ?? 1_000,
		say: options.say,
	});
	return moves.length;
}

/** Text from the database, shown in a terminal: its control characters (ESC, CR, …) made spaces. */
function stripControl(text: string): string {
	return text.replace(/[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu, ' ');
}

interface StatusRow {
	id: string;
	db: string;
	name: string;
	shards: Array<{primary_replicas: string[]; replicas: Array<{server: string; state: string}>}> | null;
	status: {all_replicas_ready: boolean; ready_for_writes: boolean};
}

/** Which replicas of a table are behind (answering, not ready) and which are away (disconnected). */
function replicaStates(row: StatusRow): {behind: string[]; away: string[]} {
	const replicas = (row.shards ?? []).flatMap(s => s.replicas ?? []);
	return {
		behind: [...new Set(replicas.filter(x => x.state !== 'ready' && x.state !== 'disconnected').map(x => x.server))],
		away: [...new Set(replicas.filter(x => x.state === 'disconnected').map(x => x.server))],
	};
}

/**
 * The real RollingDatabase, over a session's driver connection. A query
 * that meets a broken connection is asked once more on a new one (the
 * session's forward stays; a long roll outlives an idle connection).
 */
export function rollingDatabase(session: DatabaseSession): RollingDatabase {
	const ask = async <T>(query: (connection: r.Connection) => Promise<T>): Promise<T> => {
		try {
			return await query(session.connection);
		} catch (error) {
			if ((error as Error).name !== 'ReqlDriverError' && !/closed|ECONNRESET|EPIPE/i.test((error as Error).message))
				throw error;
			return query(await session.reconnect());
		}
	};
	const system = r.db('rethinkdb');
	return {
		get via() {
			return serverName(session.server);
		},
		layouts: () => ask(connection => readLayouts(connection)),
		servers: () =>
			ask(async connection => {
				const rows = (await (
					await system.table('server_status').pluck('id', 'name').run(connection)
				).toArray()) as Array<{
					id: string;
					name: string;
				}>;
				return new Map(rows.map(row => [row.name, row.id]));
			}),
		readiness: () =>
			ask(async connection => {
				const rows = (await (
					await system.table('table_status').pluck('id', 'db', 'name', 'shards', 'status').run(connection)
				).toArray()) as StatusRow[];
				return rows.map(row => ({
					id: row.id,
					db: row.db,
					table: row.name,
					writable: row.status.ready_for_writes,
					ready: row.status.all_replicas_ready,
					primaries: (row.shards ?? []).map(s => s.primary_replicas ?? []),
					...replicaStates(row),
				}));
			}),
		criticalIssues: () =>
			ask(async connection => {
				const rows = (await (
					await system.table('current_issues').filter({critical: true}).pluck('description').run(connection)
				).toArray()) as Array<{description: string}>;
				return rows.map(row => stripControl(row.description));
			}),
		setPrimaries: (table, primaries) =>
			ask(async connection => {
				const result = (await system
					.table('table_config')
					.get(table.id)
					.update({
						shards: table.shards.map((shard, index) => ({
							primary_replica: primaries[index] ?? shard.primary,
							replicas: shard.replicas,
							nonvoting_replicas: shard.nonvoting,
						})),
					} as never)
					.run(connection)) as unknown as {errors: number; first_error?: string};
				if (result.errors > 0)
					throw new ExternalError(`RethinkDB refused new primaries for ${tableKey(table)}: ${result.first_error}`, {
						nextSteps: ['nothing was changed on any server: run the same command again'],
					});
			}),
	};
}

/**
 * The roll's way to the database: one session, on a server the roll is not
 * changing now, reopened on another only when its own server's turn comes.
 * `open` connects to the first server that answers in the order given;
 * `prefer` is that order (the roll's last server first, so the session
 * moves once).
 */
export function databaseAvoiding(
	open: (order: string[]) => Promise<DatabaseSession>,
	prefer: readonly string[],
): {database: (avoid: string) => Promise<RollingDatabase>; close: () => Promise<void>} {
	let session: DatabaseSession | undefined;
	return {
		async database(avoid) {
			if (session && session.server !== avoid) return rollingDatabase(session);
			await session?.close();
			session = undefined;
			session = await open(prefer.filter(node => node !== avoid));
			return rollingDatabase(session);
		},
		async close() {
			await session?.close();
			session = undefined;
		},
	};
}

/** What a roll needs of a cluster: a ClusterSession is one (so is a step's context with its password). */
export interface RollingCluster {
	readonly spec: {readonly name: string; readonly replicas: number};
	readonly journal: {readonly value: Readonly<Journal>};
	readonly ssh: NodeShells;
	password(): string;
}

/**
 * The roll's database session over a cluster: the servers the roll does
 * not touch first, then its own from the last one (so it moves once).
 */
export function rollDatabaseOf(cluster: RollingCluster, nodes: readonly string[], signal?: AbortSignal) {
	const {manager, nodes: all} = databaseNodes(cluster.journal.value);
	const prefer = [...all.filter(n => !nodes.includes(n)), ...[...nodes].reverse()];
	const password = cluster.password();
	return databaseAvoiding(order => openDatabase({ssh: cluster.ssh, manager, nodes: order, password, signal}), prefer);
}

/**
 * The simple way in: changes the database servers of `nodes` one at a
 * time, every table available throughout (see rollServers), with `change`
 * doing what the caller does to one node's server (restart its node,
 * update its service, rotate its certificate). Refused, nothing changed,
 * when a table would lose its majority.
 *
 *     await rollDatabaseServers(session, ['workerbee-1', 'queenbee'], async (node, signal) => {...}, {
 *         signal: io.signal, say: io.progress, verb: 'gets a new certificate'});
 */
export async function rollDatabaseServers(
	cluster: RollingCluster,
	nodes: readonly string[],
	change: RollingInput['change'],
	options: Omit<RollingInput, 'database' | 'nodes' | 'cluster' | 'replicas' | 'change' | 'verb'> & {verb?: string},
): Promise<{changed: string[]; moved: number}> {
	const db = rollDatabaseOf(cluster, nodes, options.signal);
	try {
		return await rollServers({
			verb: 'changes',
			...options,
			database: db.database,
			nodes,
			cluster: cluster.spec.name,
			replicas: cluster.spec.replicas,
			change,
		});
	} finally {
		await db.close();
	}
}
