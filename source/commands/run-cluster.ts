import {sshTarget} from '../cluster/targets.js';
import {DockerCli} from '../docker/cli.js';
import {event} from '../events.js';
import {createProvider} from '../providers/index.js';
import {runSteps} from '../run/orchestrator.js';
import type {ClusterSpec} from '../spec.js';
import {SshPool} from '../ssh/pool.js';
import type {ClusterStore} from '../store/cluster-store.js';
import type {ClusterContext, ClusterOptions, Step} from '../../steps/types.js';
import {createRenderer, handleInterrupts, type CommandIO, type OutputMode} from './io.js';

export interface RunClusterOptions {
	store: ClusterStore;
	spec: ClusterSpec;
	/** The spec as saved before this run (undefined for a new cluster). */
	saved: ClusterSpec | undefined;
	steps: Step[];
	command: string;
	resume: string;
	output: OutputMode;
	verbose: boolean;
	options?: ClusterOptions;
	/** A DigitalOcean token handed over in-process (the wizard); otherwise the environment's. */
	token?: string;
	/** Journal changes to make once preflight passed (e.g. nodes to remove). */
	afterPreflight?: (ctx: ClusterContext) => void;
}

/**
 * The one owner of a run on a cluster (up, scale): the lock, Ctrl-C, the
 * renderer, the SSH connections, the journal's state at the end, and the exit
 * code. Nothing is written for a new cluster until its preflight passed.
 */
export async function runCluster(run: RunClusterOptions, io: CommandIO): Promise<number> {
	const {store, spec, saved} = run;
	const fresh = !store.exists(spec.name);
	const release = store.lock(spec.name, `${run.command} ${spec.name}`);
	const journal = store.openJournal(spec);
	const controller = new AbortController();
	const renderer = await createRenderer(run.output, io, {verbose: run.verbose});
	// In the live view Ctrl-C is announced as a line of the view, not written across it.
	const stopInterrupts = handleInterrupts(controller, io, run.output === 'tty' ? message => renderer.handle(event({type: 'warning', message})) : undefined);
	const docker = new DockerCli();
	const ctx: ClusterContext = {
		spec,
		paths: store.paths(spec.name),
		journal,
		provider: createProvider(spec, docker, {env: io.env, token: run.token}),
		docker,
		ssh: new SshPool(node => sshTarget(journal.value, node, ctx.clusterKey!.privateKey)),
		options: run.options ?? {},
	};
	let code: number;
	try {
		const outcome = await runSteps(run.steps, ctx, {
			command: run.command,
			cluster: spec.name,
			provider: spec.provider,
			emit: e => renderer.handle(e),
			signal: controller.signal,
			resume: run.resume,
			journal,
			afterStep: step => {
				if (step !== 'preflight') return;
				if (!journal.isPersisted) journal.persist();
				// What this run asked for is remembered (a new --playbook, a new worker count).
				if (JSON.stringify(saved) !== JSON.stringify(spec)) store.saveSpec(spec);
				run.afterPreflight?.(ctx);
			},
		});
		journal.update(j => {
			j.state = outcome.outcome === 'done' ? 'ready' : outcome.outcome === 'failed' ? 'failed' : 'cancelled';
		});
		if (outcome.outcome === 'done') code = 0;
		else if (outcome.outcome === 'cancelled') code = 130;
		else code = outcome.error.kind === 'input' ? 2 : 1;
	} finally {
		ctx.ssh.closeAll();
		stopInterrupts();
		await renderer.close();
		release();
		if (fresh && !journal.isPersisted) store.forget(spec.name);
	}
	if (code === 0 && run.output === 'plain') io.stdout.write(nextSteps(spec));
	// In a terminal a finished cluster is watched, not left: the dashboard
	// follows the run view (the lock is released; the dashboard only reads).
	if (code === 0 && run.output === 'tty') {
		const {openDashboard} = await import('./dashboard.js');
		await openDashboard(spec.name, io);
	}
	return code;
}

/** What a user can do with a cluster that just came up (as kind ends with how to use it). */
export function nextSteps(spec: ClusterSpec): string {
	const rows: Array<[string, string]> = [
		[`swarmbee status ${spec.name}`, 'live dashboard (--once: one table)'],
		...(spec.database === 'none' ? [] : [[`swarmbee tunnel ${spec.name}`, 'RethinkDB admin panel on http://127.0.0.1:8080, over SSH'] as [string, string]]),
		[`swarmbee scale ${spec.name} --workers N`, 'add or remove worker nodes'],
		[`swarmbee down ${spec.name}`, 'remove every node, network and volume'],
	];
	const width = Math.max(...rows.map(([command]) => command.length));
	return `${spec.name} is ready. Next:\n${rows.map(([command, what]) => `  ${command.padEnd(width)}  ${what}`).join('\n')}\n`;
}
