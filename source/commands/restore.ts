import {existsSync} from 'node:fs';
import path from 'node:path';
import {parseTableSelection} from '../backup/format.js';
import {makeSpoolDir, removeQuietly} from '../backup/spool.js';
import {CancelledError, InputError} from '../errors.js';
import {confirm, outputMode, type CommandIO, type OutputMode} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {restoreSteps, type RestoreContext} from '../../steps/restore.js';
import type {CommandArgs} from './args.js';

export interface RestoreOptions {
	name: string;
	file: string;
	tables?: string;
	/** Write into tables that exist (rows with the same primary key are replaced). */
	force: boolean;
	yes: boolean;
	output: OutputMode;
	cwd?: string;
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	if (positionals.length !== 2)
		throw new InputError('restore takes a cluster name and an archive', {
			nextSteps: ['e.g. swarmbee restore demo demo-backup-2026-12-01T20-13-46.tar.gz'],
		});
	return restoreCommand(
		{
			name: positionals[0]!,
			file: positionals[1]!,
			tables: typeof values.tables === 'string' ? values.tables : undefined,
			force: Boolean(values.force),
			yes: Boolean(values.yes),
			output: outputMode(values, io),
		},
		io,
	);
}

/**
 * `swarmbee restore NAME FILE`: an archive of `rethinkdb dump`'s layout
 * (ours or the official tool's), checked whole before anything is
 * written, restored table by table over swarmbee's SSH, then the cluster's
 * replication policy. Creating tables asks nothing; writing into existing
 * ones (--force) replaces rows, so it is confirmed unless --yes.
 */
async function restoreCommand(options: RestoreOptions, io: CommandIO): Promise<number> {
	const selection = parseTableSelection(options.tables);
	const file = path.resolve(options.cwd ?? process.cwd(), options.file);
	if (!existsSync(file))
		throw new InputError(`there is no archive ${file}`, {
			nextSteps: ['give the path of a .tar.gz made by swarmbee backup or rethinkdb dump'],
		});
	// A restore and an up/scale must not change the same servers at once.
	const session = await openCluster(options.name, io, {
		needs: ['database'],
		verb: 'restore into',
		lock: `restore ${options.name}`,
	});
	try {
		if (options.force && !options.yes) {
			if (!io.interactive)
				throw new InputError(
					`restore --force into ${options.name} replaces rows of existing tables, and there is no terminal to confirm in`,
					{nextSteps: [`pass --yes: swarmbee restore ${options.name} ${options.file} --force --yes`]},
				);
			if (
				!(await confirm(
					`Restore ${path.basename(file)} into ${options.name}, replacing rows of tables that exist with the archive's?`,
					false,
				))
			)
				throw new CancelledError('nothing was restored.');
		}
		const spoolDir = makeSpoolDir('restore', io.env);
		const ctx: RestoreContext = {
			spec: session.spec,
			journal: session.journal.value,
			ssh: session.ssh,
			password: session.password(),
			file,
			selection,
			force: options.force,
			spoolDir,
		};
		const {code} = await runPlan(
			session,
			{
				command: 'restore',
				steps: restoreSteps,
				context: ctx,
				resume: `swarmbee restore ${options.name} ${options.file}${options.tables ? ` --tables ${options.tables}` : ''} --force (tables already written are written again)`,
				output: options.output,
				cleanup: async () => {
					await ctx.link?.close();
					removeQuietly(spoolDir);
				},
			},
			io,
		);
		return code;
	} finally {
		await session.close();
	}
}
