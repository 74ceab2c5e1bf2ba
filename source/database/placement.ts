/**
 * Where each table's replicas go: swarmbee's replication policy as pure
 * functions, so every decision can be tested as a value.
 *
 * The policy: every user table has `min(servers, R)` replicas per shard on
 * the servers that stay, its primaries spread across them, and no replica is
 * dropped before its successors are ready. A change is therefore made in up
 * to three writes of `table_config`, each waited for:
 *
 *     forget   drop replicas on servers that are gone for good (their data
 *              is lost anyway; a server of the same name that replaced one
 *              can only be added once the old identity is out of the config)
 *     grow     add the new replicas, keep every old one: wait until all are
 *              ready (backfill done), so nothing depends on a copy in flight
 *     settle   the final placement: drop replicas on leaving servers, move
 *              primaries where they belong (the replicas are ready by now)
 */

/** A table's name as people and swarmbee's maps say it: `db.table`. */
export function tableKey(ref: {db: string; table: string}): string {
	return `${ref.db}.${ref.table}`;
}

export interface ShardPlacement {
	primary: string | null;
	replicas: string[];
	nonvoting: string[];
}

/** A table as the database reports it: its configuration, and which of its replicas answer. */
export interface TableLayout {
	id: string;
	db: string;
	table: string;
	/** `table_config`: what is asked. */
	shards: ShardPlacement[];
	/** Per shard, the replicas `table_status` reports as not disconnected. */
	live: string[][];
	/** `table_status`: a majority of every shard's voting replicas answers. */
	writable: boolean;
	/** Why RethinkDB could not describe the table (no replica of it answers: `shards` is then empty). */
	error?: string;
}

export interface TablePlan {
	layout: TableLayout;
	/** The writes, in order; empty when the table is placed as the policy wants. */
	stages: Array<{name: 'forget' | 'grow' | 'settle'; shards: ShardPlacement[]}>;
	/** Replicas each server receives (copies to be made), for progress and disk checks. */
	copies: Array<{shard: number; server: string}>;
	/** Replicas that go, with their server. */
	drops: Array<{shard: number; server: string}>;
}

/** `min(servers, R)`: a table cannot have more replicas than there are servers. */
export function wantedReplicas(servers: number, replicas: number): number {
	return Math.max(1, Math.min(servers, replicas));
}

function same(a: ShardPlacement[], b: ShardPlacement[]): boolean {
	const key = (shards: ShardPlacement[]) =>
		JSON.stringify(shards.map(s => ({p: s.primary, r: [...s.replicas].sort(), n: [...s.nonvoting].sort()})));
	return key(a) === key(b);
}

/** Fewest first; ties in the servers' own order (so plans are stable). */
function byLoad(servers: string[], load: Map<string, number>): string[] {
	return [...servers].sort(
		(a, b) => (load.get(a) ?? 0) - (load.get(b) ?? 0) || servers.indexOf(a) - servers.indexOf(b),
	);
}

function bump(load: Map<string, number>, server: string, by = 1): void {
	load.set(server, (load.get(server) ?? 0) + by);
}

/**
 * The plan for every table, in the order given. `servers` are the servers
 * that stay (connected), in the cluster's node order; `replicas` is R.
 * Replicas and primaries are balanced over all tables together: a server
 * already holding many gets new ones last.
 */
export function planPlacement(tables: TableLayout[], servers: string[], replicas: number): TablePlan[] {
	const want = wantedReplicas(servers.length, replicas);
	const stay = new Set(servers);
	// Load counts what stays: the replicas every plan keeps or adds.
	const load = new Map<string, number>(servers.map(s => [s, 0]));
	const primaries = new Map<string, number>(servers.map(s => [s, 0]));
	for (const table of tables) {
		for (const [index, shard] of table.shards.entries()) {
			for (const server of shard.replicas)
				if (stay.has(server) && (table.live[index] ?? []).includes(server)) bump(load, server);
		}
	}
	const shardCount = tables.reduce((sum, t) => sum + t.shards.length, 0);
	const fairPrimaries = Math.ceil(shardCount / Math.max(1, servers.length));

	return tables.map(table => {
		const finals: ShardPlacement[] = [];
		const forgets: ShardPlacement[] = [];
		const copies: TablePlan['copies'] = [];
		const drops: TablePlan['drops'] = [];
		table.shards.forEach((shard, index) => {
			const live = new Set(table.live[index] ?? []);
			const alive = shard.replicas.filter(s => live.has(s));
			// Replicas that stay and answer: the table's data is there.
			const kept = alive.filter(s => stay.has(s));
			let chosen = [...kept];
			if (chosen.length > want) {
				// Too many (R went down): drop the busiest, never the primary.
				for (const server of byLoad(chosen, load).reverse()) {
					if (chosen.length <= want) break;
					if (server === shard.primary) continue;
					chosen = chosen.filter(s => s !== server);
					bump(load, server, -1);
				}
			}
			for (const server of byLoad(servers, load)) {
				if (chosen.length >= want) break;
				if (chosen.includes(server)) continue;
				chosen.push(server);
				bump(load, server);
				copies.push({shard: index, server});
			}
			for (const server of shard.replicas)
				if (!chosen.includes(server) && live.has(server)) drops.push({shard: index, server});
			// The primary stays where it is if it stays and its server is not over its share; else the replica with the fewest primaries.
			let primary =
				shard.primary !== null && chosen.includes(shard.primary) && live.has(shard.primary) ? shard.primary : null;
			if (primary !== null && (primaries.get(primary) ?? 0) >= fairPrimaries) {
				const lighter = byLoad(chosen, primaries)[0]!;
				if ((primaries.get(lighter) ?? 0) < (primaries.get(primary) ?? 0)) primary = lighter;
			}
			primary ??= byLoad(chosen, primaries)[0]!;
			bump(primaries, primary);
			finals.push({
				primary,
				replicas: chosen,
				nonvoting: shard.nonvoting.filter(s => stay.has(s) && live.has(s) && !chosen.includes(s)),
			});
			// What the config keeps of the old placement while the new replicas fill: every answering replica.
			const keepPrimary =
				shard.primary !== null && live.has(shard.primary) ? shard.primary : (kept[0] ?? alive[0] ?? primary);
			forgets.push({
				primary: keepPrimary,
				replicas: alive.length > 0 ? alive : [keepPrimary],
				nonvoting: shard.nonvoting.filter(s => live.has(s)),
			});
		});

		const stages: TablePlan['stages'] = [];
		const current = table.shards;
		if (same(finals, current) && table.live.every((live, i) => current[i]!.replicas.every(s => live.includes(s)))) {
			return {layout: table, stages, copies: [], drops: []};
		}
		const gone = current.some((shard, i) => shard.replicas.some(s => !(table.live[i] ?? []).includes(s)));
		if (gone && !same(forgets, current)) stages.push({name: 'forget', shards: forgets});
		const grown = finals.map((final, i) => ({
			primary: forgets[i]!.primary,
			replicas: [...new Set([...forgets[i]!.replicas, ...final.replicas])],
			nonvoting: forgets[i]!.nonvoting.filter(s => !final.replicas.includes(s)),
		}));
		const before = stages.at(-1)?.shards ?? current;
		if (copies.length > 0 && !same(grown, before)) stages.push({name: 'grow', shards: grown});
		if (!same(finals, stages.at(-1)?.shards ?? current)) stages.push({name: 'settle', shards: finals});
		return {layout: table, stages, copies, drops};
	});
}

/** Why a table cannot be moved safely now. */
export interface PlacementRefusal {
	db: string;
	table: string;
	why: string;
	fix: string;
}

/**
 * What stops a change before it starts: a shard with no answering replica
 * has no data left to copy (removing its server would delete the only copy),
 * and a table whose majority does not answer cannot be reconfigured at all
 * (its configuration is a Raft log that cannot commit). `leaving` are the
 * servers a scale-down would remove.
 */
export function refusals(tables: TableLayout[], leaving: string[], missing: string[] = []): PlacementRefusal[] {
	const out: PlacementRefusal[] = [];
	for (const table of tables) {
		const name = tableKey(table);
		if (table.shards.length === 0) {
			// Nobody left can say where its replicas are: one of the servers not connected holds them.
			const away = missing.length > 0 ? missing.join(', ') : 'the servers that do not answer';
			out.push({
				db: table.db,
				table: table.table,
				why: `no replica of ${name} answers${table.error ? ` (RethinkDB: ${table.error})` : ''}; not connected now: ${missing.length > 0 ? missing.join(', ') : 'no server'}`,
				fix: `bring ${away} back first (swarmbee up repairs a stopped node): removing servers now could delete the only copy of ${name}`,
			});
			continue;
		}
		const holders = [...new Set(table.shards.flatMap(s => s.replicas))];
		if (table.shards.some((_, i) => (table.live[i] ?? []).length === 0)) {
			const leaves = holders.filter(s => leaving.includes(s));
			out.push({
				db: table.db,
				table: table.table,
				why: `no replica of ${name} answers: its data is only on ${holders.join(', ')}, which ${holders.length === 1 ? 'does' : 'do'} not answer`,
				fix:
					leaves.length > 0
						? `bring ${leaves.join(', ')} back first (swarmbee up repairs a stopped node): removing it now would delete the only copy of ${name}`
						: `bring ${holders.join(', ')} back: swarmbee up repairs a stopped node`,
			});
		} else if (!table.writable) {
			out.push({
				db: table.db,
				table: table.table,
				why: `${name} has lost the majority of its replicas, so its configuration cannot change`,
				fix: 'bring the missing servers back (swarmbee up), or see what RethinkDB can recover: swarmbee up --emergency-repair',
			});
		}
	}
	return out;
}
