import {planPlacement, wantedReplicas} from '../database/placement.js';
import type {DatabaseSession} from '../database/rethinkdb.js';
import {applyPlans, readLayouts} from '../database/tables.js';
import {counted} from '../render/format.js';
import type {ClusterSpec} from '../spec.js';
import {tableKey, type TableRef} from './format.js';

export interface ReplicationPolicyInput {
	/** A driver connection to the cluster, over SSH. */
	link: DatabaseSession;
	spec: ClusterSpec;
	/** The cluster's servers that stay, by RethinkDB server name, in node order. */
	servers: string[];
	/** The tables the restore just wrote (created or, with --force, written into). */
	tables: readonly TableRef[];
	/** Says what the policy is doing (the calling step's progress line). */
	say: (message: string) => void;
	signal?: AbortSignal;
}

export interface ReplicationPolicyResult {
	/** Whether any table's placement changed. */
	applied: boolean;
	/** The restored tables whose placement was written (by `db.table`): applyPlan waited until each was ready on all its replicas. */
	placed: Set<string>;
	summary: string;
}

/**
 * After a restore, the restored tables get the cluster's replication policy
 * (the same as every `up` and `scale` applies: `min(servers, --replicas)`
 * replicas, primaries spread, each change waited for until every replica is
 * ready). The archive's shard count stays; its replica placement is only
 * where the data lands first. The placement is planned over every table of
 * the cluster, as `up` plans it (load per server, each server's share of the
 * primaries), and applied to the restored tables only: the next `up` then
 * finds them placed and moves nothing.
 */
export async function applyReplicationPolicy(input: ReplicationPolicyInput): Promise<ReplicationPolicyResult> {
	const wanted = new Set(input.tables.map(tableKey));
	const plans = planPlacement(await readLayouts(input.link.connection), input.servers, input.spec.replicas).filter(
		plan => wanted.has(tableKey(plan.layout)),
	);
	const changed = await applyPlans(input.link.connection, plans, {
		signal: input.signal,
		why: () => `${input.spec.replicas} replicas`,
		say: input.say,
	});
	const want = wantedReplicas(input.servers.length, input.spec.replicas);
	return {
		applied: changed > 0,
		placed: new Set(plans.filter(plan => plan.stages.length > 0).map(plan => tableKey(plan.layout))),
		summary: `${counted(plans.length, 'table')} with ${counted(want, 'replica')} each, as the cluster's policy has it${changed > 0 ? ` (${changed} placed anew)` : ''}`,
	};
}
