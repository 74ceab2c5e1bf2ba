import {moveOffLeaving, readAndRemember, serversNotAnswering} from '../source/database/leaving.js';
import {classifyBroken, describeBroken, type BrokenTable} from '../source/database/lost-tables.js';
import {requirePassword} from '../source/database/password.js';
import {
	planPlacement,
	refusals,
	tableKey,
	wantedReplicas,
	type TableLayout,
	type TablePlan,
} from '../source/database/placement.js';
import {databaseNodes, openDatabase, type DatabaseSession} from '../source/database/rethinkdb.js';
import {serverName} from '../source/database/stack.js';
import {
	applyPlans,
	CONFIRM_BROKEN_MS,
	dropTable,
	emergencyRepair,
	readConnectedServers,
	readLayouts,
	readTableSizes,
	setDefaultTag,
	waitForSettling,
} from '../source/database/tables.js';
import {pause} from '../source/concurrency.js';
import {ExternalError, InputError} from '../source/errors.js';
import {counted} from '../source/render/format.js';
import {clearChange} from '../source/store/change.js';
import {liveNodes, type TableRecord} from '../source/store/journal.js';
import type {ClusterContext, Step, StepIO} from './types.js';

type TablesContext = Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'ssh' | 'options'>;

/** A session with the cluster's database, as backup and restore open theirs (databaseNodes: the nodes not being removed). */
function session(ctx: TablesContext, io: StepIO): Promise<DatabaseSession> {
	const password = requirePassword(ctx.paths.rethinkdbPassword, ctx.spec.name);
	return openDatabase({ssh: ctx.ssh, ...databaseNodes(ctx.journal.value), password, signal: io.signal});
}

/** Why a plan moves a table, in words: which servers it leaves, or what the policy adds. */
function purpose(plan: TablePlan, leaving: Set<string>, replicas: number): string {
	const off = [...new Set(plan.drops.map(d => d.server).filter(s => leaving.has(s)))].sort();
	if (off.length > 0) return `moving replicas off ${off.join(', ')}`;
	if (plan.stages.some(s => s.name === 'forget')) return 'replacing replicas on servers that are gone';
	if (plan.copies.length > 0) {
		const count = plan.stages.at(-1)!.shards[0]!.replicas.length;
		const short = count < replicas ? ` (of ${replicas} wanted: there are ${count} servers)` : '';
		return `${counted(count, 'replica')}${short}, onto ${[...new Set(plan.copies.map(c => c.server))].join(', ')}`;
	}
	return 'spreading primaries';
}

/** Applies every plan in turn (source/database/tables.ts applyPlans), saying what moves and when each table is ready; returns how many tables changed. */
function applyAll(
	session: DatabaseSession,
	plans: TablePlan[],
	io: StepIO,
	leaving: Set<string>,
	replicas: number,
	ctx: TablesContext,
): Promise<number> {
	const say = io.progress;
	return applyPlans(session.connection, plans, {
		signal: io.signal,
		why: plan => purpose(plan, leaving, replicas),
		say,
		onApplied: plan => say(describePlaced(plan)),
		...words(ctx, io.signal, session.server),
		session,
	});
}

/**
 * How a server and the way back are named in what a move says while it
 * waits, and how a node that stopped answering is found (over SSH, before
 * RethinkDB's heartbeat gives up on it; `carrier`, the node whose
 * connection carries the database session, is not asked).
 */
function words(
	ctx: TablesContext,
	signal: AbortSignal,
	carrier: string,
): {nodeOf: (server: string) => string; resume: string; probe: (servers: string[]) => Promise<string[]>} {
	const nodes = ctx.journal.value.nodes.map(n => n.name);
	const nodeOf = (server: string) => nodes.find(n => serverName(n) === server) ?? server;
	return {
		nodeOf,
		resume: `swarmbee up ${ctx.spec.name}`,
		probe: servers => serversNotAnswering(ctx.ssh, nodeOf, servers, signal, {carrier}),
	};
}

/**
 *     app.orders: ready, 2 replicas on queenbee, workerbee_1
 *     app.orders: ready, 2 shards of 3 replicas, on queenbee, workerbee_1, workerbee_2, workerbee_3
 */
export function describePlaced(plan: TablePlan): string {
	const final = plan.stages.at(-1)!.shards;
	const servers = [...new Set(final.flatMap(s => s.replicas))];
	const per = Math.min(...final.map(s => s.replicas.length));
	const shape = final.length === 1 ? counted(per, 'replica') : `${final.length} shards of ${counted(per, 'replica')},`;
	return `${tableKey(plan.layout)}: ready, ${shape} on ${servers.join(', ')}`;
}

/**
 * Disk room for the copies a plan makes: each server that receives
 * replicas must hold them with a tenth of its free space to spare.
 */
async function checkDisk(
	ctx: TablesContext,
	io: StepIO,
	db: DatabaseSession,
	plans: TablePlan[],
	nodeOf: Map<string, string>,
): Promise<string[]> {
	// Without sizes the move still cannot lose data (no replica goes before its copy is ready); it only may run out of room.
	const sizes = await readTableSizes(db.connection).catch(error => {
		io.warn(
			`could not read the tables' sizes to check the disk room first (${(error as Error).message.split('\n')[0]})`,
		);
		return new Map<string, number>();
	});
	const need = new Map<string, number>();
	for (const plan of plans) {
		for (const copy of plan.copies)
			need.set(copy.server, (need.get(copy.server) ?? 0) + (sizes.get(tableKey(plan.layout)) ?? 0));
	}
	const problems: string[] = [];
	for (const [server, bytes] of need) {
		const node = nodeOf.get(server);
		if (!node || bytes === 0) continue;
		const free =
			Number(
				(
					await (
						await ctx.ssh.get(node, io.signal)
					).run("df -Pk /var/lib/docker | awk 'NR == 2 { print $4 }'", {signal: io.signal})
				).trim(),
			) * 1024;
		if (Number.isFinite(free) && bytes > free * 0.9) {
			problems.push(
				`${server} would receive ${(bytes / 2 ** 20).toFixed(0)} MiB of tables but has ${(free / 2 ** 20).toFixed(0)} MiB free on ${node}`,
			);
		}
	}
	return problems;
}

/**
 * The replication policy, after every deploy: every user table gets
 * `min(servers, --replicas)` replicas with primaries spread, each change
 * waited for until every replica is ready. Servers that a scale-down took
 * the `default` tag from and that stay after all get it back. A table that
 * cannot take writes is read again over a few seconds before anything is
 * said of it (a primary that just came back is not a lost majority), then
 * said to be what it is: lost (no server that held it survives: restore it
 * from a backup, or drop it with `--drop-lost-tables`), missing the majority
 * of its replicas (what RethinkDB's emergency repair would keep, as a dry
 * run; applied only with `--emergency-repair MODE --yes`), waiting for a
 * server of the cluster to come back, or not ready yet.
 */
export const tablesStep: Step<TablesContext> = {
	id: 'tables',
	title: 'Tables',
	async run(ctx, io) {
		const {spec, journal} = ctx;
		if (spec.database === 'none' || !journal.value.database) return {changed: false, summary: 'skipped (no database)'};
		const nodes = liveNodes(journal.value).map(n => n.name);
		const servers = nodes.map(serverName);
		const say = io.progress;
		const db = await session(ctx, io);
		try {
			await retag(ctx, db, servers, say);
			let layouts = await readAndRemember(db.connection, journal);
			if (layouts.length === 0) return {changed: false, summary: 'no user tables yet'};
			const broken = await confirmBroken(db, layouts, servers, journal.value.tables, io.signal);
			layouts = broken.layouts;
			const dropped = await dropOrRepair(ctx, db, broken.tables, say);
			if (dropped.changed) layouts = await readAndRemember(db.connection, journal);
			const plans = planPlacement(layouts, servers, spec.replicas);
			const changed = await applyAll(db, plans, io, new Set(), spec.replicas, ctx);
			const want = wantedReplicas(servers.length, spec.replicas);
			const placed = `${counted(layouts.length, 'table')}, ${counted(want, 'replica')} each`;
			const fixed = [
				dropped.repaired > 0 ? `${dropped.repaired} repaired` : '',
				dropped.dropped > 0 ? `${dropped.dropped} lost table${dropped.dropped === 1 ? '' : 's'} dropped` : '',
			].filter(Boolean);
			return {
				changed: changed > 0 || dropped.changed,
				summary: `${layouts.length === 0 ? 'no user tables left' : changed > 0 ? `${placed}: ${changed} placed anew` : `${placed}, as placed`}${fixed.length > 0 ? `; ${fixed.join(', ')}` : ''}`,
			};
		} finally {
			await db.close();
		}
	},
};

/** Servers a scale-down untagged that stay after all (it was abandoned) take new tables again. */
async function retag(ctx: TablesContext, db: DatabaseSession, servers: string[], say: (line: string) => void) {
	const untagged = ctx.journal.value.untagged ?? [];
	if (untagged.length === 0) return;
	const back = untagged.filter(s => servers.includes(s));
	const changed = await setDefaultTag(db.connection, back, true);
	if (changed.length > 0)
		say(`${changed.join(', ')} take${changed.length === 1 ? 's' : ''} new tables again (RethinkDB's default tag)`);
	// Kept: servers still leaving, and staying ones that were not connected to be tagged; the rest is done or gone.
	const connected = await readConnectedServers(db.connection);
	const known = new Set(ctx.journal.value.nodes.map(n => serverName(n.name)));
	const left = untagged.filter(s => known.has(s) && !(servers.includes(s) && connected.has(s)));
	if (left.length === untagged.length) return;
	ctx.journal.update(j => {
		if (left.length > 0) j.untagged = left;
		else delete j.untagged;
	});
}

/**
 * Reads the tables again over CONFIRM_BROKEN_MS: a table that can take
 * writes in any read is fine; the others are classified from the last read.
 */
async function confirmBroken(
	db: DatabaseSession,
	first: TableLayout[],
	servers: string[],
	remembered: Readonly<Record<string, TableRecord>> | undefined,
	signal: AbortSignal,
): Promise<{layouts: TableLayout[]; tables: BrokenTable[]}> {
	let layouts = await waitForSettling(db.connection, first);
	let connected = await readConnectedServers(db.connection);
	let broken = classifyBroken(layouts, {connected, expected: servers, remembered});
	const deadline = Date.now() + CONFIRM_BROKEN_MS;
	const fine = new Set<string>();
	while (broken.length > 0 && Date.now() < deadline) {
		await pause(Math.min(2_000, CONFIRM_BROKEN_MS), signal);
		layouts = await waitForSettling(db.connection, await readLayouts(db.connection));
		connected = await readConnectedServers(db.connection);
		const now = classifyBroken(layouts, {connected, expected: servers, remembered});
		for (const b of broken) if (!now.some(n => n.table.id === b.table.id)) fine.add(b.table.id);
		broken = now.filter(b => !fine.has(b.table.id));
	}
	return {layouts, tables: broken};
}

/**
 * Lost tables named by --drop-lost-tables are dropped (with what they held
 * when last seen); tables that lost their majority are repaired when
 * --emergency-repair says how. Anything broken left is refused with every
 * choice that works, before anything is dropped or repaired.
 */
async function dropOrRepair(
	ctx: TablesContext,
	db: DatabaseSession,
	broken: BrokenTable[],
	say: (line: string) => void,
): Promise<{changed: boolean; dropped: number; repaired: number}> {
	const drop = ctx.options.dropLostTables ?? [];
	const lost = broken.filter(b => b.kind === 'lost');
	const named = new Map(lost.map(b => [tableKey(b.table), b]));
	const notLost = drop.filter(name => !named.has(name));
	if (notLost.length > 0) {
		throw new InputError(
			`--drop-lost-tables names ${notLost.join(', ')}, which ${notLost.length === 1 ? 'is' : 'are'} not lost: nothing was dropped`,
			{
				hint:
					lost.length > 0
						? `lost now: ${lost.map(b => tableKey(b.table)).join(', ')}`
						: 'no table of the cluster is lost (every table has a server that holds it)',
				nextSteps: ['name only tables swarmbee says are lost; a table that exists is dropped with ReQL, never by up'],
			},
		);
	}
	const mode = ctx.options.emergencyRepair;
	const refused = broken.filter(
		b =>
			(b.kind === 'lost' && !drop.includes(tableKey(b.table))) ||
			(b.kind === 'lost-majority' && !mode) ||
			(b.kind === 'lost-shards' && mode !== 'unsafe_rollback_or_erase'),
	);
	if (refused.length > 0) throw await lostTablesError(ctx, db, refused);
	const waiting = broken.filter(b => b.kind === 'away' || b.kind === 'not-ready');
	if (waiting.length > 0) {
		const away = [...new Set(waiting.flatMap(b => (b.kind === 'away' ? b.servers : [])))];
		throw new ExternalError(
			`${counted(waiting.length, 'table')} cannot take writes now: ${waiting.map(b => tableKey(b.table)).join(', ')}`,
			{
				hint: waiting.map(b => describeBroken(b)).join('\n'),
				nextSteps: [
					...(away.length > 0
						? [
								`bring ${away.join(', ')} back (swarmbee up ${ctx.spec.name} repairs a stopped node): nothing of these tables is lost while their servers exist`,
							]
						: []),
					...(waiting.some(b => b.kind === 'not-ready')
						? [`run swarmbee up ${ctx.spec.name} again in a minute: RethinkDB is still electing the primary`]
						: []),
				],
			},
		);
	}
	let dropped = 0;
	for (const b of lost) {
		const key = tableKey(b.table);
		await dropTable(db.connection, b.table);
		const seen = ctx.journal.value.tables?.[key];
		say(
			`${key}: dropped, as --drop-lost-tables asked: it held ${seen ? `${counted(seen.rows, 'row')} when last seen (${seen.seenAt}, on ${seen.servers.join(', ')})` : 'rows swarmbee never counted'}`,
		);
		dropped++;
	}
	let repaired = 0;
	const unrepaired: string[] = [];
	for (const b of broken.filter(x => x.kind === 'lost-majority' || x.kind === 'lost-shards')) {
		try {
			await emergencyRepair(db.connection, b.table, mode!, false);
			say(`${tableKey(b.table)}: repaired with ${mode}`);
			repaired++;
		} catch (error) {
			unrepaired.push(`${tableKey(b.table)}: ${(error as Error).message.split('\n')[0]}`);
		}
	}
	if (unrepaired.length > 0) {
		throw new ExternalError(`RethinkDB could not repair ${counted(unrepaired.length, 'table')} with ${mode}`, {
			hint: unrepaired.join('\n'),
			nextSteps: [`run swarmbee up ${ctx.spec.name} again to see what is left of them`],
		});
	}
	return {changed: dropped + repaired > 0, dropped, repaired};
}

/** What is lost and the choices that work, for each broken table: nothing is applied without the user saying so. */
async function lostTablesError(ctx: TablesContext, db: DatabaseSession, tables: BrokenTable[]): Promise<InputError> {
	const name = ctx.spec.name;
	const lines: string[] = [];
	for (const b of tables) {
		if (b.kind !== 'lost-majority') {
			lines.push(describeBroken(b));
			continue;
		}
		const after = await emergencyRepair(db.connection, b.table, 'unsafe_rollback', true).catch(() => []);
		// What it keeps: the voting replicas (the lost ones stay listed as non-voting).
		lines.push(describeBroken(b, [...new Set(after.flatMap(s => s.replicas.filter(r => !s.nonvoting.includes(r))))]));
	}
	const lost = tables.filter(b => b.kind === 'lost').map(b => tableKey(b.table));
	const majority = tables.some(b => b.kind === 'lost-majority');
	const shards = tables.some(b => b.kind === 'lost-shards');
	const message =
		lost.length === tables.length
			? `${lost.length === 1 ? `${lost[0]} is lost` : `${lost.length} tables are lost`}: no server that held ${lost.length === 1 ? 'it' : 'them'} is left`
			: !shards && lost.length === 0
				? `${counted(tables.length, 'table')} lost the majority of ${tables.length === 1 ? 'its' : 'their'} replicas and cannot be reconfigured`
				: `${counted(tables.length, 'table')} lost replicas and cannot be reconfigured`;
	return new InputError(message, {
		hint: lines.join('\n'),
		nextSteps: [
			...(majority || shards
				? [`bring the lost servers back if they can be (their nodes, their volumes): swarmbee up ${name}`]
				: []),
			...(majority
				? [
						`or accept the loss and let RethinkDB recover what survives: swarmbee up ${name} --emergency-repair unsafe_rollback --yes`,
					]
				: []),
			...(shards
				? [
						`or keep what survives and empty the shards that have no replica left: swarmbee up ${name} --emergency-repair unsafe_rollback_or_erase --yes`,
					]
				: []),
			...(lost.length > 0
				? [
						`restore ${lost.length === 1 ? 'it' : 'them'} from a backup: swarmbee up ${name} --drop-lost-tables ${lost.join(',')}, then swarmbee restore ${name} FILE --tables ${lost.join(',')}`,
						`or drop ${lost.length === 1 ? 'it' : 'them'}, accepting the loss: swarmbee up ${name} --drop-lost-tables ${lost.join(',')}`,
					]
				: []),
		],
	});
}

type EvacuateContext = TablesContext & Pick<ClusterContext, 'journal'>;

/**
 * Before a scale-down removes anything: every table moves off the servers
 * that leave (copied to the servers that stay, waited for until ready, and
 * only then dropped from the leavers). Refused, before anything changes,
 * when a table's only copies are on servers that do not answer, when a table
 * has lost its majority, when a staying server is not connected, or when the
 * copies would not fit. Then the leaving servers lose RethinkDB's `default`
 * tag (a table an application creates meanwhile lands on a server that
 * stays), their nodes are marked `deleting` (an interrupted scale continues
 * from there), the tables move, and whatever arrived on a leaving server
 * while they moved is moved too.
 */
export const evacuateStep: Step<EvacuateContext> = {
	id: 'evacuate',
	title: 'Move tables',
	async run(ctx, io) {
		const {spec, journal} = ctx;
		const leavingNodes = journal.value.nodes.filter(n => n.index > spec.workers);
		const markLeaving = () =>
			journal.update(j => {
				for (const node of j.nodes) if (leavingNodes.some(l => l.name === node.name)) node.state = 'deleting';
			});
		if (spec.database === 'none' || !journal.value.database) {
			markLeaving();
			return {changed: false, summary: 'no database'};
		}
		const staying = journal.value.nodes.filter(n => !leavingNodes.includes(n)).map(n => n.name);
		const all = journal.value.nodes.map(n => n.name);
		const say = io.progress;
		const db = await session(ctx, io);
		try {
			const layouts = await waitForSettling(db.connection, await readAndRemember(db.connection, journal));
			const leaving = new Set(leavingNodes.map(n => serverName(n.name)));
			const answering = await readConnectedServers(db.connection);
			const missing = all.map(serverName).filter(s => !answering.has(s));
			// A table none of whose servers is left is said to be lost, with its choices, not "bring its servers back".
			const lost = classifyBroken(layouts, {
				connected: answering,
				expected: all.map(serverName),
				remembered: journal.value.tables,
			}).filter(b => b.kind === 'lost');
			const isLost = (t: {db: string; table: string}) => lost.some(b => tableKey(b.table) === tableKey(t));
			const problems = [
				...lost.map(b => ({
					what: describeBroken(b),
					fix: `swarmbee up ${spec.name} --drop-lost-tables ${tableKey(b.table)} drops it (then swarmbee restore ${spec.name} FILE --tables ${tableKey(b.table)} brings it back from a backup)`,
				})),
				...refusals(layouts, [...leaving], missing)
					.filter(p => !isLost(p))
					.map(p => ({what: p.why, fix: p.fix})),
			];
			const servers = staying.map(serverName);
			for (const server of servers.filter(s => !answering.has(s))) {
				problems.push({
					what: `${server} stays but is not connected`,
					fix: `repair it first: swarmbee up ${spec.name} (then scale again)`,
				});
			}
			const plans = planPlacement(
				layouts.filter(t => !problems.some(p => p.what.includes(tableKey(t)))),
				servers,
				spec.replicas,
			);
			// Room for the copies is worth asking only of a move that can otherwise go ahead.
			if (problems.length === 0) {
				const nodeOf = new Map(staying.map(n => [serverName(n), n]));
				for (const disk of await checkDisk(ctx, io, db, plans, nodeOf))
					problems.push({what: disk, fix: 'choose a larger --size for the nodes that stay, or remove fewer nodes'});
			}
			if (problems.length > 0) {
				// Refused before anything changed: no scale is under way (one already begun stays, to be finished).
				if (!journal.value.nodes.some(n => n.state === 'deleting')) clearChange(journal);
				throw new InputError(
					`removing ${leavingNodes.map(n => n.name).join(', ')} is not safe now: nothing was changed`,
					{
						hint: problems.map(p => p.what).join('\n'),
						nextSteps: [...new Set(problems.map(p => p.fix))],
					},
				);
			}
			const untagged = await setDefaultTag(db.connection, [...leaving], false);
			if (untagged.length > 0) {
				journal.update(j => {
					j.untagged = [...new Set([...(j.untagged ?? []), ...untagged])];
				});
				say(
					`${untagged.join(', ')} take${untagged.length === 1 ? 's' : ''} no new table from now on (RethinkDB's default tag removed): a table made meanwhile lands on ${servers.join(', ')}`,
				);
			}
			markLeaving();
			let moved = await applyAll(db, plans, io, leaving, spec.replicas, ctx);
			// Tables an application made or placed on a leaving server while the others moved.
			moved += await moveOffLeaving({
				connection: db.connection,
				journal,
				staying: servers,
				leaving: [...leaving],
				replicas: spec.replicas,
				say,
				signal: io.signal,
				why: plan => purpose(plan, leaving, spec.replicas),
				onApplied: plan => say(describePlaced(plan)),
				...words(ctx, io.signal, db.server),
				session: db,
			});
			const total = Object.keys(journal.value.tables ?? {}).length;
			return {
				changed: moved > 0 || untagged.length > 0,
				summary:
					total === 0
						? 'no user tables'
						: `${counted(total, 'table')} on ${servers.join(', ')}${moved > 0 ? ` (${moved} moved)` : ''}`,
			};
		} finally {
			await db.close();
		}
	},
};
