import {existsSync} from 'node:fs';
import path from 'node:path';
import {parseTableSelection} from '../backup/format.js';
import {CancelledError, InputError} from '../errors.js';
import {confirm, outputMode, type CommandIO, type OutputMode} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {restorePreviewSteps, restoreSteps, type RestoreContext} from '../../steps/restore.js';
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
	const context = (): RestoreContext => ({
		spec: session.spec,
		journal: session.journal.value,
		ssh: session.ssh,
		password: session.password(),
		file,
		selection,
		force: options.force,
	});
	const run = async (steps: typeof restoreSteps, ctx: RestoreContext) =>
		(
			await runPlan(
				session,
				{
					command: 'restore',
					steps,
					context: ctx,
					resume: `swarmbee restore ${options.name} ${options.file}${options.tables ? ` --tables ${options.tables}` : ''} --force (tables already written are written again)`,
					output: options.output,
					cleanup: async () => {
						await ctx.link?.close();
					},
				},
				io,
			)
		).code;
	try {
		if (options.force && !options.yes) {
			if (!io.interactive)
				throw new InputError(
					`restore --force into ${options.name} replaces rows of existing tables, and there is no terminal to confirm in`,
					{nextSteps: [`pass --yes: swarmbee restore ${options.name} ${options.file} --force --yes`]},
				);
			// In a terminal, what --force would overwrite is counted first (nothing written), then asked about.
			const preview = context();
			const code = await run(restorePreviewSteps, preview);
			if (code !== 0) return code;
			const overwritten = (preview.overwrites ?? []).filter(o => o.rows > 0);
			const question =
				overwritten.length === 0
					? `Restore ${path.basename(file)} into ${options.name}? No table it writes into has rows.`
					: `Restore ${path.basename(file)} into ${options.name}, overwriting ${overwritten.map(o => `${o.differ.toLocaleString('en-US')} differing of ${o.present.toLocaleString('en-US')} existing rows in ${o.db}.${o.table}`).join(', ')}?`;
			if (!(await confirm(question, false))) throw new CancelledError('nothing was restored.');
		}
		return await run(restoreSteps, context());
	} finally {
		await session.close();
	}
}
