import {ArchiveWriter} from '../source/backup/archive-writer.js';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {backupTables, chooseTables, listTables, verifyArchive, type DumpedTable} from '../source/backup/dump.js';
import {removeAbandonedPartials, removeOldSpools} from '../source/backup/leftovers.js';
import {ExternalError} from '../source/errors.js';
import {tableKey, topFolderName, type TableRef, type TableSelection} from '../source/backup/format.js';
import {counted} from '../source/render/format.js';
import {formatBytes, formatCount} from '../source/render/table-progress.js';
import type {SshPool} from '../source/ssh/pool.js';
import type {Journal} from '../source/store/journal.js';
import {databaseNodes, openDatabase, type DatabaseSession} from '../source/database/rethinkdb.js';
import {emitTableProgress, type Step} from './types.js';

/** What the backup steps share; later steps read what earlier ones found. */
export interface BackupContext {
	journal: Readonly<Journal>;
	ssh: SshPool;
	password: string;
	selection?: TableSelection;
	/** The archive's final name (absolute). */
	out: string;
	/** Read the finished archive back before calling it done (`--no-verify` turns it off). */
	verify: boolean;
	startedAt: Date;
	link?: DatabaseSession;
	tables?: TableRef[];
	writer?: ArchiveWriter;
	dumped?: DumpedTable[];
}

export const connectForBackupStep: Step<BackupContext> = {
	id: 'connect',
	title: 'Connect to RethinkDB over SSH',
	async run(ctx, io) {
		for (const file of removeAbandonedPartials(path.dirname(ctx.out)))
			io.warn(`removed ${file}, left by a backup that was killed`);
		for (const folder of removeOldSpools(tmpdir()))
			io.warn(`removed ${folder}, left by an earlier swarmbee that was killed`);
		ctx.link = await openDatabase({
			ssh: ctx.ssh,
			...databaseNodes(ctx.journal),
			password: ctx.password,
			signal: io.signal,
		});
		ctx.tables = chooseTables(await listTables(ctx.link), ctx.selection);
		const count = ctx.tables.length;
		return {
			changed: false,
			summary: `${ctx.link.server}'s server answered; ${counted(count, 'table')} to back up${count > 0 && count <= 6 ? `: ${ctx.tables.map(tableKey).join(', ')}` : ''}`,
		};
	},
};

export const dumpTablesStep: Step<BackupContext> = {
	id: 'backup',
	title: 'Back up the tables',
	async run(ctx, io) {
		ctx.writer = await ArchiveWriter.create(ctx.out, topFolderName(ctx.startedAt), ctx.startedAt);
		ctx.dumped = await backupTables({
			link: ctx.link!,
			tables: ctx.tables!,
			writer: ctx.writer,
			signal: io.signal,
			onProgress: p => emitTableProgress(io, {...p, ...(p.state === 'done' ? {detail: 'written'} : {})}),
		});
		const documents = ctx.dumped.reduce((sum, t) => sum + t.documents, 0);
		const bytes = ctx.dumped.reduce((sum, t) => sum + t.bytes, 0);
		const indexes = ctx.dumped.reduce((sum, t) => sum + t.indexes, 0);
		return {
			changed: false,
			summary: `${counted(ctx.dumped.length, 'table')}, ${formatCount(documents)} documents (${formatBytes(bytes)} of JSON), ${indexes} secondary ${indexes === 1 ? 'index' : 'indexes'}`,
		};
	},
};

export const writeArchiveStep: Step<BackupContext> = {
	id: 'archive',
	title: 'Write and check the archive',
	async run(ctx, io) {
		const writer = ctx.writer!;
		try {
			await writer.close();
		} catch (error) {
			throw new ExternalError(`${(error as Error).message}: the backup stopped and kept nothing`, {
				nextSteps: [`free space in ${path.dirname(ctx.out)}, or write the archive elsewhere with --out`],
				cause: error,
			});
		}
		let checked = '';
		if (ctx.verify) {
			io.progress('reading the archive back');
			const {documents} = await verifyArchive(writer.partial, ctx.dumped!, {signal: io.signal});
			checked = `; read back: ${formatCount(documents)} documents, every table complete`;
		} else checked = '; not read back (--no-verify)';
		await writer.commit();
		return {
			changed: true,
			summary: `${ctx.out} (${formatBytes(writer.written)}, the layout of rethinkdb dump)${checked}`,
		};
	},
};

export const backupSteps: Array<Step<BackupContext>> = [connectForBackupStep, dumpTablesStep, writeArchiveStep];
