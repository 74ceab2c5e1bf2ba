import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {requirePassword} from '../cluster/password.js';
import {sshTarget} from '../cluster/targets.js';
import {InputError} from '../errors.js';
import {event} from '../events.js';
import {swarmbeeHome} from '../paths.js';
import {exitCode, runSteps} from '../run/orchestrator.js';
import {SshPool} from '../ssh/pool.js';
import {ClusterStore} from '../store/cluster-store.js';
import type {Step} from '../../steps/types.js';
import {createRenderer, handleInterrupts, type CommandIO, type OutputMode} from './io.js';

/** A cluster that has a database, with what reaching it takes: SSH and the admin password. */
export async function loadDatabaseCluster(name: string, io: CommandIO, command: string) {
	const store = new ClusterStore(swarmbeeHome(io.env));
	const cluster = {store, ...store.loadCluster(name)};
	const {journal, privateKey, paths} = cluster;
	if (!journal.database || !privateKey || journal.state === 'down') {
		throw new InputError(`${name} has no database to ${command}`, {
			nextSteps: [`create it first: swarmbee up ${name}`],
		});
	}
	const password = requirePassword(paths.rethinkdbPassword, name);
	const ssh = new SshPool(node => sshTarget(journal, node, privateKey));
	return {...cluster, password, ssh};
}

/** A temporary folder for table files, in TMPDIR as `rethinkdb dump`/`restore` use theirs. */
export function makeSpoolDir(prefix: string, env: NodeJS.ProcessEnv = process.env): string {
	return mkdtempSync(path.join(env['TMPDIR'] || tmpdir(), `swarmbee-${prefix}-`));
}

export interface DatabaseRun<C> {
	command: string;
	cluster: string;
	provider: string;
	steps: Array<Step<C>>;
	ctx: C;
	resume: string;
	output: OutputMode;
	ssh: SshPool;
	/** Runs after the steps whatever happened (closing connections, removing temporary files). */
	cleanup: (outcome: 'done' | 'failed' | 'cancelled') => Promise<void>;
}

/**
 * The one owner of a backup or restore run: the renderer, Ctrl-C (the
 * run's one AbortController), the SSH connections, the cleanup and the exit
 * code (0 done, 1 failed, 2 bad input, 130 interrupted).
 */
export async function runDatabaseSteps<C>(run: DatabaseRun<C>, io: CommandIO): Promise<number> {
	const controller = new AbortController();
	const renderer = await createRenderer(run.output, io);
	const stopInterrupts = handleInterrupts(
		controller,
		io,
		run.output === 'tty' ? message => renderer.handle(event({type: 'warning', message})) : undefined,
	);
	let outcome: 'done' | 'failed' | 'cancelled' = 'failed';
	let code = 1;
	try {
		const result = await runSteps(run.steps, run.ctx, {
			command: run.command,
			cluster: run.cluster,
			provider: run.provider,
			emit: e => renderer.handle(e),
			signal: controller.signal,
			resume: run.resume,
		});
		outcome = result.outcome;
		code = exitCode(result);
	} finally {
		await run.cleanup(outcome).catch(() => {});
		run.ssh.closeAll();
		stopInterrupts();
		await renderer.close();
	}
	return code;
}

export function removeQuietly(dir: string): void {
	rmSync(dir, {recursive: true, force: true});
}
