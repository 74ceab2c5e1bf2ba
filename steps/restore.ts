import {readArchive, type ArchiveManifest} from '../source/backup/archive-reader.js';
import {tableKey, type TableSelection} from '../source/backup/format.js';
import {rql, run} from '../source/backup/reql.js';
import {applyReplicationPolicy} from '../source/backup/replication-policy.js';
import {
	checkFunctionsOnServer,
	checkTarget,
	countOverwrites,
	readTarget,
	restoreArchive,
	TableRestoreError,
	type Overwrite,
	type RestoredTable,
	type TargetFacts,
} from '../source/backup/restore.js';
import {removeOldSpools} from '../source/backup/leftovers.js';
import {tmpdir} from 'node:os';
import {ExternalError, isAbort, toSwarmbeeError, type SwarmbeeError} from '../source/errors.js';
import {event} from '../source/events.js';
import {counted} from '../source/render/format.js';
import {formatBytes, formatCount} from '../source/render/table-progress.js';
import type {ClusterSpec} from '../source/spec.js';
import type {SshPool} from '../source/ssh/pool.js';
import {liveNodes, type Journal} from '../source/store/journal.js';
import {serverName} from '../source/database/stack.js';
import {databaseNodes, openDatabase, type DatabaseSession} from '../source/database/rethinkdb.js';
import {emitTableProgress, type Step} from './types.js';

/** What the restore steps share; later steps read what earlier ones found. */
export interface RestoreContext {
	spec: ClusterSpec;
	journal: Readonly<Journal>;
	ssh: SshPool;
	password: string;
	file: string;
	selection?: TableSelection;
	force: boolean;
	manifest?: ArchiveManifest;
	link?: DatabaseSession;
	target?: TargetFacts;
	existing?: Set<string>;
	/** What --force overwrites in tables that have rows, counted before any write. */
	overwrites?: Overwrite[];
	restored?: RestoredTable[];
}

/** Reads the whole archive before the cluster is even asked: a damaged one is refused with nothing written. */
export const checkArchiveStep: Step<RestoreContext> = {
	id: 'archive',
	title: 'Check the archive',
	async run(ctx, io) {
		for (const folder of removeOldSpools(tmpdir()))
			io.warn(`removed ${folder}, left by an earlier swarmbee that was killed`);
		ctx.manifest = await readArchive(ctx.file, {
			selection: ctx.selection,
			signal: io.signal,
			onProgress: (table, documents, bytes, done) =>
				io.emit(
					event({
						type: 'table-progress',
						step: io.step,
						table: tableKey(table),
						state: done ? 'done' : 'running',
						detail: done ? 'checked' : 'checking',
						documents,
						bytes,
					}),
				),
		});
		for (const ignored of ctx.manifest.ignored)
			io.warn(`${ignored}: not part of a dump, skipped (as rethinkdb restore skips it)`);
		const tables = ctx.manifest.tables;
		const documents = tables.reduce((sum, t) => sum + t.documents, 0);
		const bytes = tables.reduce((sum, t) => sum + t.bytes, 0);
		return {
			changed: false,
			summary: `${ctx.manifest.top}: ${counted(tables.length, 'table')}, ${formatCount(documents)} documents (${formatBytes(bytes)} of JSON), every file complete`,
		};
	},
};

export const connectForRestoreStep: Step<RestoreContext> = {
	id: 'connect',
	title: 'Connect to RethinkDB over SSH and check the tables',
	async run(ctx, io) {
		ctx.link = await openDatabase({
			ssh: ctx.ssh,
			...databaseNodes(ctx.journal),
			password: ctx.password,
			signal: io.signal,
		});
		ctx.target = await readTarget(ctx.link);
		ctx.existing = checkTarget(ctx.manifest!.tables, ctx.target, ctx.force);
		const fresh = ctx.manifest!.tables.length - ctx.existing.size;
		const functions = await checkFunctionsOnServer(ctx.link, ctx.manifest!.tables, io.signal);
		return {
			changed: false,
			summary: `${ctx.link.server}'s server answered (${ctx.target.servers.length} servers); ${counted(fresh, 'table')} to create${ctx.existing.size > 0 ? `, ${ctx.existing.size} to write into (--force)` : ''}${functions > 0 ? `; ${counted(functions, 'function')} (indexes, write hooks) accepted by the server` : ''}`,
		};
	},
};

/** Before --force writes into tables that have rows: how many of the archive's keys are there, and how many of those rows differ. */
export const overwriteStep: Step<RestoreContext> = {
	id: 'overwrite',
	title: 'Count the rows --force overwrites',
	async run(ctx, io) {
		if (ctx.existing!.size === 0) return {changed: false, summary: 'no table exists yet: nothing is overwritten'};
		ctx.overwrites = await countOverwrites(ctx.link!, ctx.manifest!, ctx.existing!, {
			signal: io.signal,
			onProgress: (table, documents, total) =>
				io.emit(
					event({
						type: 'table-progress',
						step: io.step,
						table: tableKey(table),
						state: documents >= total ? 'done' : 'running',
						detail: 'compared',
						documents,
						bytes: 0,
						totalDocuments: total,
					}),
				),
		});
		for (const overwrite of ctx.overwrites) io.warn(describeOverwrite(overwrite));
		const differ = ctx.overwrites.reduce((sum, o) => sum + o.differ, 0);
		const present = ctx.overwrites.reduce((sum, o) => sum + o.present, 0);
		return {
			changed: false,
			summary: `${formatCount(present)} of the archive's rows exist in the cluster; ${formatCount(differ)} of them differ and will be overwritten`,
		};
	},
};

/**
 *     app.orders has 5,103 rows: 5,000 of the archive's 5,000 keys are there; 244 of those rows differ and --force puts them back to the archive's version (rows not in the archive stay)
 */
export function describeOverwrite(o: Overwrite): string {
	const table = tableKey(o);
	if (o.rows === 0) return `${table} is empty: nothing in it is overwritten`;
	return `${table} has ${formatCount(o.rows)} rows: ${formatCount(o.present)} of the archive's ${formatCount(o.documents)} keys are there; ${formatCount(o.differ)} of those rows differ and --force puts them back to the archive's version (rows not in the archive stay)`;
}

export const restoreTablesStep: Step<RestoreContext> = {
	id: 'restore',
	title: 'Restore the tables',
	async run(ctx, io) {
		ctx.restored = [];
		try {
			await restoreArchive(ctx.link!, ctx.manifest!, {
				existing: ctx.existing!,
				force: ctx.force,
				target: ctx.target!,
				signal: io.signal,
				onProgress: p => emitTableProgress(io, p),
				onTableDone: restored => {
					ctx.restored!.push(restored);
					if (restored.replication.kind === 'counts') {
						io.warn(
							`${tableKey(restored)}: the archive's servers are not all in this cluster; created with ${counted(restored.replication.shards, 'shard')} and ${counted(restored.replication.replicas, 'replica')}${restored.replication.capped ? ' (fewer than recorded: there are not enough servers)' : ''}`,
						);
					}
				},
			});
		} catch (error) {
			if (isAbort(error, io.signal)) throw error;
			if (error instanceof TableRestoreError) {
				const last = error.last;
				if (last)
					io.emit(
						event({
							type: 'table-progress',
							step: io.step,
							table: tableKey(error.table),
							state: 'failed',
							detail: last.detail,
							documents: last.documents,
							bytes: last.bytes,
							totalDocuments: last.totalDocuments,
							totalBytes: last.totalBytes,
						}),
					);
				throw restoreFailure(tableKey(error.table), error.doing, ctx.restored.length, error.cause);
			}
			throw error;
		}
		const documents = ctx.restored.reduce((sum, t) => sum + t.documents, 0);
		const indexes = ctx.restored.reduce((sum, t) => sum + t.indexes, 0);
		return {
			changed: true,
			summary: `${counted(ctx.restored.length, 'table')}, ${formatCount(documents)} documents, ${indexes} secondary ${indexes === 1 ? 'index' : 'indexes'} rebuilt`,
		};
	},
};

/** A table that could not be restored: which, while doing what, and that running again with --force finishes the job. */
export function restoreFailure(table: string, doing: string | undefined, done: number, error: unknown): SwarmbeeError {
	const cause = toSwarmbeeError(error);
	return new ExternalError(`restoring ${table} failed${doing ? ` while ${doing}` : ''}: ${cause.message}`, {
		hint:
			cause.hint ??
			(done > 0 ? `${counted(done, 'table')} before it ${done === 1 ? 'was' : 'were'} restored` : undefined),
		nextSteps: [
			...cause.nextSteps,
			'run the same restore again with --force: tables already written are written again (same keys replaced)',
		],
		cause: error,
	});
}

/** The cluster's replication policy (issue 12 fills it in), then every restored table ready on all its replicas. */
export const replicationStep: Step<RestoreContext> = {
	id: 'replication',
	title: 'Apply the replication policy',
	async run(ctx, io) {
		const tables = ctx.restored!;
		const servers = liveNodes(ctx.journal).map(n => serverName(n.name));
		const policy = await applyReplicationPolicy({
			link: ctx.link!,
			spec: ctx.spec,
			servers,
			tables,
			say: io.progress,
			signal: io.signal,
		});
		// A table placed anew was waited for already, stage by stage; the others (placed as the policy wants) are waited for here, together.
		await Promise.all(
			tables
				.filter(table => !policy.placed.has(tableKey(table)))
				.map(async table => {
					io.progress(`waiting for ${tableKey(table)} to be ready on all its replicas`);
					await run(ctx.link!, rql.db(table.db).table(table.table).wait({waitFor: 'all_replicas_ready', timeout: 600}));
				}),
		);
		return {
			changed: policy.applied,
			summary: `${policy.summary}; ${counted(tables.length, 'table')} ready on all replicas`,
		};
	},
};

/** What a restore reads and counts before it writes (run alone first when a terminal is asked). */
export const restorePreviewSteps: Array<Step<RestoreContext>> = [
	checkArchiveStep,
	connectForRestoreStep,
	overwriteStep,
];

export const restoreSteps: Array<Step<RestoreContext>> = [...restorePreviewSteps, restoreTablesStep, replicationStep];
