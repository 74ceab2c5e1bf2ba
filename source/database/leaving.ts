import type r from 'rethinkdb';
import {CancelledError, ExternalError} from '../errors.js';
import {counted} from '../render/format.js';
import {SshConnectError} from '../ssh/connection.js';
import type {NodeShells} from '../ssh/shell.js';
import type {JournalHandle} from '../store/cluster-store.js';
import {liveNodes, type NodeRecord, type TableRecord} from '../store/journal.js';
import {planPlacement, refusals, tableKey, type TableLayout, type TablePlan} from './placement.js';
import {databaseNodes, openDatabase, type DatabaseSession} from './rethinkdb.js';
import {serverName} from './stack.js';
import {
	applyPlans,
	countRows,
	readConnectedServers,
	readLayouts,
	readUnavailableTables,
	setDefaultTag,
	waitForAvailable,
	waitForSettling,
	type ReopenableSession,
} from './tables.js';

/**
 * Servers that leave (a scale-down) hold nothing when they go. Before the
 * moves, they lose RethinkDB's `default` tag, so a table an application
 * creates with the defaults while the scale runs is placed on a server that
 * stays; right before a server's service is removed, and again before its
 * node and volume are deleted, every table is read again: what arrived in
 * the meantime is moved off, or the run stops with the data where it is.
 */

/** A table with something on leaving servers: a replica or primary in its configuration, or (unreadable) last seen there. */
export interface TableOnLeaving {
	table: TableLayout;
	/** The leaving servers it is on. */
	servers: string[];
	/** RethinkDB cannot say where it is now (no replica answers): these are where it was last seen. */
	lastSeen?: TableRecord;
}

/** Every server a table's configuration names, voting or not. */
export function serversOf(table: TableLayout): string[] {
	return [
		...new Set(table.shards.flatMap(s => [...s.replicas, ...s.nonvoting, ...(s.primary ? [s.primary] : [])])),
	].sort();
}

/**
 * The tables that still have anything on `leaving`. A table RethinkDB cannot
 * describe (no replica answers) counts when it was last seen on a leaving
 * server, or when it was never seen at all (it may be there: nobody can say).
 */
export function tablesOn(
	layouts: TableLayout[],
	leaving: readonly string[],
	remembered: Readonly<Record<string, TableRecord>> = {},
): TableOnLeaving[] {
	const out: TableOnLeaving[] = [];
	for (const table of layouts) {
		if (table.shards.length === 0) {
			const seen = remembered[tableKey(table)];
			const servers = seen ? seen.servers.filter(s => leaving.includes(s)) : [...leaving];
			if (servers.length > 0) out.push({table, servers, ...(seen ? {lastSeen: seen} : {})});
			continue;
		}
		const servers = serversOf(table).filter(s => leaving.includes(s));
		if (servers.length > 0) out.push({table, servers});
	}
	return out;
}

/**
 * Keeps what swarmbee last saw of each table (its servers, and its rows
 * where they could be counted) in the journal: a table whose every server is
 * gone can then still be named with what it held. Tables that are gone are
 * forgotten; a table that cannot be described keeps its last record.
 */
export function rememberTables(journal: JournalHandle, layouts: TableLayout[], rows: Map<string, number>): void {
	const now = new Date().toISOString();
	const before = journal.value.tables ?? {};
	const next: Record<string, TableRecord> = {};
	for (const table of layouts) {
		const key = tableKey(table);
		const old = before[key];
		if (table.shards.length === 0) {
			if (old) next[key] = old;
			continue;
		}
		const counted = rows.get(key);
		next[key] = {
			rows: counted ?? old?.rows ?? 0,
			servers: serversOf(table),
			seenAt: counted !== undefined ? now : (old?.seenAt ?? now),
		};
	}
	if (JSON.stringify(next) === JSON.stringify(before)) return;
	journal.update(j => {
		j.tables = next;
	});
}

/** Reads every table (and counts its rows) and remembers it: the layouts, for the caller's decisions. */
export async function readAndRemember(connection: r.Connection, journal: JournalHandle): Promise<TableLayout[]> {
	const layouts = await readLayouts(connection);
	rememberTables(journal, layouts, await countRows(connection, layouts));
	return layouts;
}

/** `app.late (103 rows when last seen at 2025-01-01T10:00:00Z)` */
export function withRows(key: string, seen: TableRecord | undefined): string {
	return seen ? `${key} (${counted(seen.rows, 'row')} when last seen, ${seen.seenAt})` : key;
}

export interface MoveOffInput {
	connection: r.Connection;
	journal: JournalHandle;
	/** Servers that stay, connected, in the cluster's node order. */
	staying: string[];
	leaving: string[];
	replicas: number;
	say: (line: string) => void;
	signal?: AbortSignal;
	nodeOf?: (server: string) => string;
	resume?: string;
	/** Of the servers given, those whose node does not answer now. */
	probe?: (servers: string[]) => Promise<string[]>;
	/** Reopened when its connection closes while a move waits. */
	session?: ReopenableSession;
	/** Why a plan moves its table, in words. */
	why: (plan: TablePlan) => string;
	onApplied?: (plan: TablePlan) => void;
	/** Rounds of read-then-move before giving up (something keeps placing tables there). */
	rounds?: number;
}

/**
 * Moves every table that has anything on a leaving server onto the servers
 * that stay, then reads again, until nothing is there (a table an
 * application placed there meanwhile is moved in the next round). Stops,
 * changing nothing more, when a table there cannot be moved safely (its
 * only copies do not answer) or when tables keep arriving. Returns how many
 * tables moved.
 */
export async function moveOffLeaving(input: MoveOffInput): Promise<number> {
	const {connection, journal, leaving} = input;
	// A server that lost its tag (another swarmbee, an older one, by hand) gets no new table either.
	await setDefaultTag(connection, leaving, false);
	let moved = 0;
	const rounds = input.rounds ?? 5;
	for (let round = 0; round < rounds; round++) {
		const layouts = await waitForSettling(connection, await readAndRemember(connection, journal));
		const there = tablesOn(layouts, leaving, journal.value.tables);
		if (there.length === 0) return moved;
		const stuck = refusals(
			there.map(t => t.table),
			leaving,
		);
		const unknown = there.filter(t => t.table.shards.length === 0);
		if (stuck.length > 0 || unknown.length > 0) {
			throw new ExternalError(
				`${counted(there.length, 'table')} still on ${[...new Set(there.flatMap(t => t.servers))].join(', ')}, which ${there.length === 1 ? 'is' : 'are'} leaving: nothing more was removed`,
				{
					hint: [
						...stuck.map(p => p.why),
						...unknown
							.filter(t => !stuck.some(p => p.db === t.table.db && p.table === t.table.table))
							.map(t => `${withRows(tableKey(t.table), t.lastSeen)}: RethinkDB cannot say where it is now`),
					].join('\n'),
					nextSteps: [
						...new Set(stuck.map(p => p.fix)),
						`${input.resume ?? 'run the same command again'} once it is back`,
					],
				},
			);
		}
		input.say(
			`${there.map(t => tableKey(t.table)).join(', ')} ${there.length === 1 ? 'has' : 'have'} replicas on ${[...new Set(there.flatMap(t => t.servers))].join(', ')}, which ${there.length === 1 ? 'is' : 'are'} leaving: moving ${there.length === 1 ? 'it' : 'them'} first`,
		);
		const plans = planPlacement(
			there.map(t => t.table),
			input.staying,
			input.replicas,
		);
		moved += await applyPlans(connection, plans, {
			signal: input.signal,
			why: input.why,
			say: input.say,
			...(input.onApplied ? {onApplied: input.onApplied} : {}),
			...(input.nodeOf ? {nodeOf: input.nodeOf} : {}),
			...(input.resume ? {resume: input.resume} : {}),
			...(input.probe ? {probe: input.probe} : {}),
			...(input.session ? {session: input.session} : {}),
		});
	}
	const still = tablesOn(await readLayouts(connection), leaving, journal.value.tables);
	if (still.length === 0) return moved;
	throw new ExternalError(
		`tables keep arriving on leaving servers (${still.map(t => tableKey(t.table)).join(', ')}): nothing more was removed`,
		{
			hint: 'something places tables on these servers by name while they leave',
			nextSteps: [`stop it, then ${input.resume ?? 'run the same command again'}`],
		},
	);
}

/**
 * Right before a leaving node (and its volume) is deleted: nothing may be
 * on its server any more, and no table may be unavailable because of it.
 * Returns what is there, in words; empty when the node may go.
 */
export async function whatIsStillOn(
	connection: r.Connection,
	journal: JournalHandle,
	server: string,
): Promise<string[]> {
	const layouts = await readAndRemember(connection, journal);
	const there = tablesOn(layouts, [server], journal.value.tables);
	const unavailable = await readUnavailableTables(connection);
	const seen = journal.value.tables ?? {};
	return there.map(t => {
		const key = tableKey(t.table);
		const down = unavailable.find(u => tableKey(u) === key);
		const others = serversOf(t.table).filter(s => s !== server);
		const where =
			t.table.shards.length === 0
				? `was last seen on ${(t.lastSeen?.servers ?? [server]).join(', ')}`
				: others.length > 0
					? `has a replica on ${server} (and on ${others.join(', ')})`
					: `has its only replica on ${server}`;
		return `${withRows(key, seen[key])} ${where}${down ? ` (RethinkDB: ${down.description})` : ''}`;
	});
}

/**
 * The servers (of those given) whose node does not answer over SSH within
 * `timeoutMs`: a node stopped hard is found here within seconds, where
 * RethinkDB needs its heartbeat timeout (about 14 s) to say its server is
 * disconnected. Only silence counts (the time running out, or no connection
 * at all); a connection that stayed silent is dropped, so the next ask
 * connects anew. `carrier` is the node whose connection carries the
 * database session: it is never asked, since dropping its connection would
 * cut the session (its node going away shows as the driver's own error).
 */
export async function serversNotAnswering(
	ssh: NodeShells,
	nodeOf: (server: string) => string,
	servers: string[],
	signal: AbortSignal,
	options: {timeoutMs?: number; carrier?: string} = {},
): Promise<string[]> {
	const timeoutMs = options.timeoutMs ?? 4_000;
	const silent = await Promise.all(
		servers
			.filter(server => nodeOf(server) !== options.carrier)
			.map(async server => {
				const node = nodeOf(server);
				const bounded = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
				const timedOut = new Promise<'silent'>(resolve => {
					if (bounded.aborted) resolve('silent');
					else bounded.addEventListener('abort', () => resolve('silent'), {once: true});
				});
				const asked = (async () => {
					try {
						await (await ssh.get(node, bounded)).exec('true', {signal: bounded});
						return 'answered' as const;
					} catch (error) {
						if (signal.aborted) throw error;
						// No connection, or one that went away, is silence too; a channel the node declined is an answer.
						const gone =
							bounded.aborted ||
							error instanceof SshConnectError ||
							/closed while a command ran|not connected|no response/i.test((error as Error).message);
						return gone ? ('silent' as const) : ('answered' as const);
					}
				})();
				const said = await Promise.race([asked, timedOut]);
				if (signal.aborted) throw new CancelledError();
				if (said === 'answered') return undefined;
				ssh.drop(node);
				return server;
			}),
	);
	return silent.filter((s): s is string => s !== undefined);
}

/** What the checks before a removal need of the cluster. */
export interface RemovalContext {
	ssh: NodeShells;
	journal: JournalHandle;
	password: string;
	cluster: string;
	replicas: number;
	signal: AbortSignal;
	say: (line: string) => void;
}

/** The RemovalContext of a step's context. */
export function removal(
	ctx: {ssh: NodeShells; journal: JournalHandle; spec: {name: string; replicas: number}},
	password: string,
	signal: AbortSignal,
	say: (line: string) => void,
): RemovalContext {
	return {
		ssh: ctx.ssh,
		journal: ctx.journal,
		password,
		cluster: ctx.spec.name,
		replicas: ctx.spec.replicas,
		signal,
		say,
	};
}

/** A session on a server that stays (the manager's first), as the tables steps open theirs. */
function openStaying(ctx: RemovalContext): Promise<DatabaseSession> {
	return openDatabase({ssh: ctx.ssh, ...databaseNodes(ctx.journal.value), password: ctx.password, signal: ctx.signal});
}

function nodeNamer(journal: JournalHandle): (server: string) => string {
	const nodes = journal.value.nodes.map(n => n.name);
	return server => nodes.find(n => serverName(n) === server) ?? server;
}

/**
 * Immediately before the services of leaving servers are removed: every
 * table still (or newly) on them is moved to the servers that stay, and no
 * table may be unavailable (a critical `table_availability` issue that
 * lasts): otherwise nothing is removed. Returns how many tables moved.
 */
export async function emptyBeforeRemoval(ctx: RemovalContext, leavingNodes: string[]): Promise<number> {
	const db = await openStaying(ctx);
	try {
		const staying = liveNodes(ctx.journal.value).map(n => serverName(n.name));
		const leaving = leavingNodes.map(serverName);
		const connected = await readConnectedServers(db.connection);
		const away = staying.filter(s => !connected.has(s));
		if (away.length > 0) {
			throw new ExternalError(
				`${away.map(s => `${nodeNamer(ctx.journal)(s)}'s server`).join(', ')} ${away.length === 1 ? 'is' : 'are'} not connected: nothing was removed`,
				{
					hint: `${leavingNodes.join(', ')} leave only once every table is on servers that stay and answer`,
					nextSteps: [
						`start it again, then swarmbee up ${ctx.cluster} (it repairs a stopped node and continues the scale)`,
					],
				},
			);
		}
		const moved = await moveOffLeaving({
			connection: db.connection,
			journal: ctx.journal,
			staying,
			leaving,
			replicas: ctx.replicas,
			say: ctx.say,
			signal: ctx.signal,
			why: plan =>
				`moving replicas off ${[...new Set(plan.drops.map(d => d.server).filter(s => leaving.includes(s)))].join(', ') || leaving.join(', ')}, which arrived there during the scale`,
			nodeOf: nodeNamer(ctx.journal),
			resume: `swarmbee up ${ctx.cluster}`,
			probe: servers => serversNotAnswering(ctx.ssh, nodeNamer(ctx.journal), servers, ctx.signal, {carrier: db.server}),
			session: db,
		});
		const unavailable = await waitForAvailable(db.connection, ctx.signal);
		if (unavailable.length > 0) {
			throw new ExternalError(`${counted(unavailable.length, 'table')} not available: nothing was removed`, {
				hint: unavailable.map(u => `${tableKey(u)}: ${u.description}`).join('\n'),
				nextSteps: [
					`bring the servers of ${unavailable.length === 1 ? 'that table' : 'those tables'} back (swarmbee up ${ctx.cluster} repairs a stopped node and continues the scale)`,
				],
			});
		}
		return moved;
	} finally {
		await db.close();
	}
}

/**
 * Immediately before a leaving node (with its volume) is deleted: its
 * server may hold nothing. Throws, deleting nothing, when a table still has
 * a replica there (or was last seen there and cannot be found now).
 */
export async function checkBeforeDelete(ctx: RemovalContext, node: NodeRecord): Promise<void> {
	const db = await openStaying(ctx);
	try {
		const server = serverName(node.name);
		const still = await whatIsStillOn(db.connection, ctx.journal, server);
		if (still.length === 0) return;
		throw new ExternalError(`${node.name} was not removed: a table is still on its server ${server}`, {
			hint: `${still.join('\n')}\n${node.name}'s machine and its volume are kept.`,
			nextSteps: [
				`keep it and bring its server back: swarmbee scale ${ctx.cluster} --workers ${node.index} (then scale down again: the table moves off it first)`,
			],
		});
	} finally {
		await db.close();
	}
}
