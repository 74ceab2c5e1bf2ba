import type {TableRecord} from '../store/journal.js';
import {serversOf, withRows} from './leaving.js';
import {tableKey, type TableLayout} from './placement.js';

/**
 * What is wrong with a table that cannot serve writes, said only from what
 * the database shows (and what swarmbee last saw of it), so that nothing
 * untrue is said: a table is lost only when none of its servers survives, a
 * majority is lost only when the servers named are not connected, and a
 * table whose every replica answers is merely not ready yet. The caller reads
 * again over a few seconds before it believes any of it.
 */
export type BrokenTable =
	/** None of the servers that held it is left: nothing of it is in the cluster. */
	| {kind: 'lost'; table: TableLayout; servers: string[]; lastSeen?: TableRecord}
	/** Every shard has a surviving replica, but a majority of some shard's replicas is gone. */
	| {kind: 'lost-majority'; table: TableLayout; gone: string[]; alive: string[]}
	/** Some shards have no surviving replica, others do. */
	| {kind: 'lost-shards'; table: TableLayout; gone: string[]; alive: string[]; deadShards: number[]}
	/** Its servers are the cluster's own and not connected now: they may come back. */
	| {kind: 'away'; table: TableLayout; servers: string[]}
	/** Every replica answers and it still cannot take writes (a primary being elected). */
	| {kind: 'not-ready'; table: TableLayout};

/**
 * The tables that cannot take writes, and why. `connected` are the servers
 * connected now; `expected` the cluster's own servers (one per node that
 * stays): a server named by a table that is neither connected nor expected
 * is gone for good (a node removed, or replaced with a new volume).
 */
export function classifyBroken(
	layouts: TableLayout[],
	input: {
		connected: ReadonlySet<string>;
		expected: readonly string[];
		remembered?: Readonly<Record<string, TableRecord>>;
	},
): BrokenTable[] {
	const {connected, expected} = input;
	const away = (servers: string[]) => servers.filter(s => expected.includes(s) && !connected.has(s));
	const out: BrokenTable[] = [];
	for (const table of layouts) {
		if (table.shards.length === 0) {
			const seen = input.remembered?.[tableKey(table)];
			// Never seen: it may be on any of the cluster's servers that are not connected now.
			const servers = seen?.servers ?? expected.filter(s => !connected.has(s));
			if (away(servers).length > 0) out.push({kind: 'away', table, servers: away(servers)});
			else out.push({kind: 'lost', table, servers: seen?.servers ?? [], ...(seen ? {lastSeen: seen} : {})});
			continue;
		}
		const dead = table.shards.flatMap((_, i) => ((table.live[i] ?? []).length === 0 ? [i] : []));
		if (table.writable && dead.length === 0) continue;
		const named = serversOf(table);
		const alive = [...new Set(table.live.flat())].sort();
		// What the table itself says is disconnected: a server of the same name connected now may be a new
		// one (a node replaced with a new volume); one not named here at all is not this table's business.
		const gone = named.filter(s => !alive.includes(s));
		if (away(gone).length > 0) {
			out.push({kind: 'away', table, servers: away(gone)});
		} else if (dead.length === table.shards.length) {
			out.push({kind: 'lost', table, servers: named});
		} else if (dead.length > 0) {
			out.push({kind: 'lost-shards', table, gone, alive, deadShards: dead});
		} else if (gone.length === 0) {
			out.push({kind: 'not-ready', table});
		} else {
			out.push({kind: 'lost-majority', table, gone, alive});
		}
	}
	return out;
}

/** One line per broken table, in words that are true of it (the repair's dry run, where there is one, says what it keeps). */
export function describeBroken(broken: BrokenTable, keeps: string[] = []): string {
	const key = tableKey(broken.table);
	switch (broken.kind) {
		case 'lost':
			return `${withRows(key, broken.lastSeen)}: lost: ${broken.servers.length > 0 ? `no server that held it is left (it was on ${broken.servers.join(', ')})` : 'no server that held it is left'}; RethinkDB's emergency repair cannot bring back a table with no surviving replica`;
		case 'lost-majority': {
			const kept = keeps.length > 0 ? keeps : broken.alive;
			return `${key}: the majority of its replicas is gone (${broken.gone.join(', ')}); RethinkDB can roll it back to what ${kept.join(', ')} hold${kept.length === 1 ? 's' : ''} (unsafe_rollback, dry run): writes that only the lost servers had acknowledged are lost`;
		}
		case 'lost-shards':
			return `${key}: ${broken.deadShards.length === 1 ? `shard ${broken.deadShards[0]! + 1} has` : `shards ${broken.deadShards.map(i => i + 1).join(', ')} have`} no surviving replica (gone: ${broken.gone.join(', ')}); unsafe_rollback_or_erase keeps what ${broken.alive.join(', ')} hold${broken.alive.length === 1 ? 's' : ''} and empties ${broken.deadShards.length === 1 ? 'that shard' : 'those shards'}`;
		case 'away':
			return `${key}: its replicas are on ${broken.servers.join(', ')}, not connected now`;
		case 'not-ready':
			return `${key}: every replica answers, but it is not ready for writes yet`;
	}
}
