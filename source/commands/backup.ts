import {existsSync, statSync} from 'node:fs';
import path from 'node:path';
import {defaultArchiveName, parseTableSelection} from '../backup/format.js';
import {InputError} from '../errors.js';
import {outputMode, type CommandIO, type OutputMode} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {backupSteps, type BackupContext} from '../../steps/backup.js';
import {oneName, type CommandArgs} from './args.js';

export interface BackupOptions {
	name: string;
	/** A file, or a folder to put the default name in; default: the current folder. */
	out?: string;
	/** `--tables db,db.table` */
	tables?: string;
	output: OutputMode;
	/** `--no-verify`: do not read the finished archive back. */
	noVerify?: boolean;
	/** The folder relative paths start from (tests); default process.cwd(). */
	cwd?: string;
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	return backupCommand(
		{
			name: oneName('backup', positionals),
			out: typeof values.out === 'string' ? values.out : undefined,
			tables: typeof values.tables === 'string' ? values.tables : undefined,
			noVerify: Boolean(values['no-verify']),
			output: outputMode(values, io),
		},
		io,
	);
}

/**
 * Where the archive goes: `--out` as a file name, or a folder (existing, or
 * written with a trailing slash) for the default name. Refuses to replace a
 * file, as `rethinkdb dump` does without --overwrite-file.
 */
export function resolveArchivePath(out: string | undefined, cluster: string, now: Date, cwd = process.cwd()): string {
	const asked = path.resolve(cwd, out ?? '.');
	const isFolder = out === undefined || /[/\\]$/.test(out) || (existsSync(asked) && statSync(asked).isDirectory());
	const file = isFolder ? path.join(asked, defaultArchiveName(cluster, now)) : asked;
	if (existsSync(file))
		throw new InputError(`${file} already exists`, {
			nextSteps: ['choose another --out, or move that file away: a backup never replaces one'],
		});
	const folder = path.dirname(file);
	if (!existsSync(folder) || !statSync(folder).isDirectory())
		throw new InputError(`the folder ${folder} does not exist`, {
			nextSteps: [`create it (mkdir -p ${folder}) or choose another --out`],
		});
	return file;
}

/**
 * `swarmbee backup NAME`: every user table (or those --tables names),
 * read hot over swarmbee's SSH, written as a `.tar.gz` in the layout of
 * `rethinkdb dump`. The archive appears under its name only once complete.
 */
async function backupCommand(options: BackupOptions, io: CommandIO): Promise<number> {
	const selection = parseTableSelection(options.tables);
	const startedAt = new Date();
	const out = resolveArchivePath(options.out, options.name, startedAt, options.cwd);
	const session = await openCluster(options.name, io, {needs: ['database'], verb: 'back up'});
	const ctx: BackupContext = {
		journal: session.journal.value,
		ssh: session.ssh,
		password: session.password(),
		selection,
		out,
		verify: !options.noVerify,
		startedAt,
	};
	try {
		const {code} = await runPlan(
			session,
			{
				command: 'backup',
				steps: backupSteps,
				context: ctx,
				resume: `swarmbee backup ${options.name}${options.out ? ` --out ${options.out}` : ''} (a backup starts over; no partial archive was kept)`,
				output: options.output,
				cleanup: async outcome => {
					if (outcome !== 'done') await ctx.writer?.abort();
					await ctx.link?.close();
				},
			},
			io,
		);
		return code;
	} finally {
		await session.close();
	}
}
