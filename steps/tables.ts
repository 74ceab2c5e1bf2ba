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
	emergencyRepair,
	readConnectedServers,
	readLayouts,
	readTableSizes,
} from '../source/database/tables.js';
import {ExternalError, InputError} from '../source/errors.js';
import {counted} from '../source/render/format.js';
import {liveNodes} from '../source/store/journal.js';
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
): Promise<number> {
	const say = io.progress;
	return applyPlans(session.connection, plans, {
		signal: io.signal,
		why: plan => purpose(plan, leaving, replicas),
		say,
		onApplied: plan => {
			const final = plan.stages.at(-1)!.shards;
			const servers = [...new Set(final.flatMap(s => s.replicas))];
			say(`${tableKey(plan.layout)}: ready, ${counted(final[0]!.replicas.length, 'replica')} on ${servers.join(', ')}`);
		},
	});
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
 * waited for until every replica is ready. Tables that lost the majority of
 * their replicas cannot be reconfigured: they are reported with what
 * RethinkDB can recover (a dry run of its emergency repair), which is
 * applied only when asked for (`up --emergency-repair MODE --yes`).
 */
export const tablesStep: Step<TablesContext> = {
	id: 'tables',
	title: 'Tables',
	async run(ctx, io) {
		const {spec, journal} = ctx;
		if (spec.database === 'none' || !journal.value.database) return {changed: false, summary: 'skipped (no database)'};
		const nodes = liveNodes(journal.value).map(n => n.name);
		const servers = nodes.map(serverName);
		const db = await session(ctx, io);
		try {
			let layouts = await readLayouts(db.connection);
			if (layouts.length === 0) return {changed: false, summary: 'no user tables yet'};
			let repaired = 0;
			const broken = refusals(layouts, []);
			if (broken.length > 0) {
				const mode = ctx.options.emergencyRepair;
				if (!mode)
					throw await lostTablesError(
						ctx,
						db,
						layouts.filter(t => broken.some(b => b.db === t.db && b.table === t.table)),
					);
				const unrepaired: string[] = [];
				for (const table of layouts.filter(t => broken.some(b => b.db === t.db && b.table === t.table))) {
					try {
						await emergencyRepair(db.connection, table, mode, false);
						io.progress(`${tableKey(table)}: repaired with ${mode}`);
						repaired++;
					} catch (error) {
						// unsafe_rollback needs a surviving replica of every shard; say which tables it could not save.
						unrepaired.push(`${tableKey(table)}: ${(error as Error).message.split('\n')[0]}`);
					}
				}
				if (unrepaired.length > 0) {
					throw new ExternalError(`RethinkDB could not repair ${counted(unrepaired.length, 'table')} with ${mode}`, {
						hint: unrepaired.join('\n'),
						nextSteps: [
							'a table with no surviving replica can only come back from a backup: swarmbee restore NAME FILE',
							'unsafe_rollback_or_erase empties such shards instead',
						],
					});
				}
				layouts = await readLayouts(db.connection);
			}
			const plans = planPlacement(layouts, servers, spec.replicas);
			const changed = await applyAll(db, plans, io, new Set(), spec.replicas);
			const want = wantedReplicas(servers.length, spec.replicas);
			const placed = `${counted(layouts.length, 'table')}, ${counted(want, 'replica')} each`;
			return {
				changed: changed + repaired > 0,
				summary:
					changed > 0
						? `${placed}: ${changed} placed anew${repaired > 0 ? `, ${repaired} repaired` : ''}`
						: `${placed}, as placed`,
			};
		} finally {
			await db.close();
		}
	},
};

/** What is lost and what RethinkDB offers, for tables without a majority: nothing is applied without --yes. */
async function lostTablesError(ctx: TablesContext, db: DatabaseSession, tables: TableLayout[]): Promise<InputError> {
	const lines: string[] = [];
	for (const table of tables) {
		const alive = [...new Set(table.live.flat())];
		const gone = [...new Set(table.shards.flatMap(s => s.replicas))].filter(s => !alive.includes(s));
		if (table.shards.length === 0) {
			lines.push(
				`${tableKey(table)}: no replica answers${table.error ? ` (RethinkDB: ${table.error})` : ''}: bring its servers back (swarmbee up), or restore it from a backup (swarmbee restore)`,
			);
			continue;
		}
		if (alive.length === 0) {
			lines.push(
				`${tableKey(table)}: every replica is gone (${gone.join(', ')}); nothing of it is left in the cluster to recover: restore it from a backup (swarmbee restore)`,
			);
			continue;
		}
		const after = await emergencyRepair(db.connection, table, 'unsafe_rollback', true).catch(() => []);
		// What it keeps: the voting replicas (the lost ones stay listed as non-voting).
		const keeps = [...new Set(after.flatMap(s => s.replicas.filter(r => !s.nonvoting.includes(r))))];
		lines.push(
			`${tableKey(table)}: the majority of its replicas is gone (${gone.join(', ')}); RethinkDB can roll it back to what ${keeps.join(', ') || alive.join(', ')} hold${(keeps.length || alive.length) === 1 ? 's' : ''} (unsafe_rollback, dry run): writes that only the lost servers had acknowledged are lost`,
		);
	}
	return new InputError(
		`${counted(tables.length, 'table')} lost the majority of ${tables.length === 1 ? 'its' : 'their'} replicas and cannot be reconfigured`,
		{
			hint: lines.join('\n'),
			nextSteps: [
				`bring the lost servers back if they can be (their nodes, their volumes): swarmbee up ${ctx.spec.name}`,
				`or accept the loss and let RethinkDB recover what survives: swarmbee up ${ctx.spec.name} --emergency-repair unsafe_rollback --yes`,
				'(unsafe_rollback_or_erase also empties shards with no surviving replica)',
			],
		},
	);
}

type EvacuateContext = TablesContext & Pick<ClusterContext, 'journal'>;

/**
 * Before a scale-down removes anything: every table moves off the servers
 * that leave (copied to the servers that stay, waited for until ready, and
 * only then dropped from the leavers). Refused, before anything changes,
 * when a table's only copies are on servers that do not answer, when a table
 * has lost its majority, when a staying server is not connected, or when the
 * copies would not fit. Marks the leaving nodes `deleting` once it is safe,
 * so an interrupted scale continues from there.
 */
export const evacuateStep: Step<EvacuateContext> = {
	id: 'evacuate',
	title: 'Move tables',
	async run(ctx, io) {
		const {spec, journal} = ctx;
		const leavingNodes = journal.value.nodes.filter(n => n.state === 'deleting' || n.index > spec.workers);
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
		const db = await session(ctx, io);
		try {
			const layouts = await readLayouts(db.connection);
			const leaving = new Set(leavingNodes.map(n => serverName(n.name)));
			const answering = await readConnectedServers(db.connection);
			const missing = all.map(serverName).filter(s => !answering.has(s));
			const problems = refusals(layouts, [...leaving], missing).map(p => ({what: p.why, fix: p.fix}));
			const servers = staying.map(serverName);
			for (const server of servers.filter(s => !answering.has(s))) {
				problems.push({what: `${server} stays but is not connected`, fix: `repair it first: swarmbee up ${spec.name}`});
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
				throw new InputError(
					`removing ${leavingNodes.map(n => n.name).join(', ')} is not safe now: nothing was changed`,
					{
						hint: problems.map(p => p.what).join('\n'),
						nextSteps: [...new Set(problems.map(p => p.fix))],
					},
				);
			}
			markLeaving();
			const moved = await applyAll(db, plans, io, leaving, spec.replicas);
			return {
				changed: moved > 0,
				summary:
					layouts.length === 0
						? 'no user tables'
						: `${counted(layouts.length, 'table')} on ${servers.join(', ')}${moved > 0 ? ` (${moved} moved)` : ''}`,
			};
		} finally {
			await db.close();
		}
	},
};
