import {event, type RunEvent} from '../events.js';
import {exitCode, runSteps, type RunOutcome} from '../run/orchestrator.js';
import type {ClusterSpec} from '../spec.js';
import type {ChangeRecord} from '../store/journal.js';
import type {ClusterState} from '../states.js';
import {preflightStep} from '../../steps/preflight.js';
import type {ClusterContext, ClusterOptions, Step} from '../../steps/types.js';
import {createRenderer, handleInterrupts, type CommandIO, type OutputMode} from './io.js';
import type {ClusterSession} from './session.js';

/**
 * A run on a cluster, as data: which steps, how to pick up after Ctrl-C,
 * when what was asked becomes the saved spec, and what the journal says
 * afterwards. `up`, `scale` and `down` are plans of cluster steps; `backup`
 * and `restore` plans of database steps with a context of their own.
 */
export interface RunPlan<C = ClusterContext> {
	/** What the run is called in every view: `up`, `scale`, `backup`. */
	command: string;
	steps: Array<Step<C>>;
	/** The command line that picks up where an interrupted run stopped. */
	resume: string;
	output: OutputMode;
	verbose?: boolean;
	/**
	 * Runs that change the cluster: the steps are recorded in the journal and
	 * its state set at the end (`done`: `ready` after up and scale, `down`
	 * after down), a new cluster's journal is written once preflight passed,
	 * and what the run asked for becomes the saved spec once `saveSpecAfter`
	 * passed (default: preflight; a scale-down waits until its tables were
	 * found safe to move). Runs that only read or write the database leave
	 * the journal alone.
	 */
	cluster?: {
		done: ClusterState;
		saveSpecAfter?: Step<C>;
		options?: ClusterOptions;
		/**
		 * The change this run makes (a scale), written into the journal once
		 * preflight passed, before anything changes; `null` drops the one an
		 * earlier run left (the user asked for something else). A run that
		 * finishes every step has finished its change: the journal forgets it.
		 */
		change?: ChangeRecord | null;
	};
	/** The context its steps take when they are not cluster steps (backup, restore). */
	context?: C;
	/** After the steps, whatever happened: temporary files, what the steps opened. */
	cleanup?: (outcome: RunOutcome['outcome']) => Promise<void>;
}

export interface RunResult {
	code: number;
	outcome: RunOutcome;
}

/** An error's words through `reword`, for the failure events a renderer shows. */
function rewordEvent(e: RunEvent, reword: (text: string) => string): RunEvent {
	if (e.type !== 'run-failed' && e.type !== 'step-failed') return e;
	const error = e.error;
	return {
		...e,
		error: {
			...error,
			message: reword(error.message),
			...(error.hint ? {hint: reword(error.hint)} : {}),
			nextSteps: error.nextSteps.map(reword),
		},
	};
}

/** The spec with the playbook it had before (or none). */
function withPlaybook(spec: ClusterSpec, playbook: string | undefined): ClusterSpec {
	const {playbook: _new, ...rest} = spec;
	return playbook === undefined ? rest : {...rest, playbook};
}

/** How a run ended, as the journal says it: an input error leaves the cluster waiting for the user's decision. */
function endState(outcome: RunOutcome, done: ClusterState): ClusterState {
	if (outcome.outcome === 'done') return done;
	if (outcome.outcome === 'cancelled') return 'cancelled';
	return outcome.error.kind === 'input' ? 'awaiting-input' : 'failed';
}

/** The context cluster steps read, made from the session. */
function clusterContext(session: ClusterSession, options: ClusterOptions): ClusterContext {
	return {
		spec: session.spec,
		paths: session.paths,
		journal: session.journal,
		provider: session.provider,
		docker: session.docker,
		ssh: session.ssh,
		clusterKey: session.clusterKey,
		lastRun: session.journal.value.state,
		options,
	};
}

/**
 * Runs a plan on a session: the one owner of a run's renderer, Ctrl-C (one
 * AbortController for every step), the journal's records and final state,
 * the saved spec, what a cloud still bills after a run that stopped early,
 * and the exit code (0 done, 1 failed, 2 bad input, 130 interrupted). The
 * session's connections stay open for what follows (the dashboard); the
 * command closes the session. Nothing is written for a new cluster until
 * its preflight passed.
 */
export async function runPlan<C = ClusterContext>(
	session: ClusterSession,
	plan: RunPlan<C>,
	io: CommandIO,
	options: {reword?: (text: string) => string} = {},
): Promise<RunResult> {
	const {spec, saved, journal, store} = session;
	const untried = spec.playbook !== undefined && spec.playbook !== saved?.playbook;
	const controller = new AbortController();
	const renderer = await createRenderer(plan.output, io, {verbose: plan.verbose});
	// In the live view Ctrl-C is announced as a line of the view, not written across it.
	const stopInterrupts = handleInterrupts(
		controller,
		io,
		plan.output === 'tty' ? message => renderer.handle(event({type: 'warning', message})) : undefined,
	);
	const reword = options.reword;
	const emit = reword ? (e: RunEvent) => renderer.handle(rewordEvent(e, reword)) : (e: RunEvent) => renderer.handle(e);
	const changesCluster = plan.cluster;
	const ctx = (plan.context ?? clusterContext(session, changesCluster?.options ?? {})) as C;
	let ended: RunOutcome['outcome'] = 'failed';
	try {
		const outcome = await runSteps(plan.steps, ctx, {
			command: plan.command,
			cluster: spec.name,
			provider: spec.provider,
			emit,
			signal: controller.signal,
			resume: plan.resume,
			...(changesCluster ? {journal} : {}),
			afterStep: step => {
				if (!changesCluster) return;
				// A new cluster is written down once its preflight passed: a refused run leaves no trace.
				if (step === preflightStep.id && !journal.isPersisted) journal.persist();
				const change = changesCluster.change;
				if (step === preflightStep.id && change !== undefined)
					journal.update(j => {
						if (change) j.change = change;
						else delete j.change;
					});
				// What this run asked for is remembered (a new worker count), but a new
				// --playbook only once a run with it succeeded: one that breaks on the
				// nodes must not be run again by every later `up`.
				const kept = untried ? withPlaybook(spec, saved?.playbook) : spec;
				if (
					step === (changesCluster.saveSpecAfter?.id ?? preflightStep.id) &&
					JSON.stringify(saved) !== JSON.stringify(kept)
				)
					store.saveSpec(kept);
			},
		});
		ended = outcome.outcome;
		if (changesCluster) {
			journal.update(j => {
				j.state = endState(outcome, changesCluster.done);
				if (outcome.outcome === 'done') delete j.change;
			});
			if (outcome.outcome === 'done' && untried) store.saveSpec(spec);
			if (outcome.outcome !== 'done') await sayWhatIsBilled(session, plan.resume, emit);
		}
		return {code: exitCode(outcome), outcome};
	} finally {
		await plan.cleanup?.(ended).catch(() => {});
		stopInterrupts();
		await renderer.close();
	}
}

/**
 * What follows a run that built or changed a cluster: in a terminal the
 * cluster is watched, not left (the dashboard, over the run's own SSH
 * connections; the lock is let go first: the dashboard only reads); in
 * plain mode what to do next.
 */
export async function watchAfterRun(
	session: ClusterSession,
	result: RunResult,
	io: CommandIO,
	output: OutputMode,
): Promise<number> {
	if (result.code !== 0) return result.code;
	if (output === 'plain') io.stdout.write(nextSteps(session.spec));
	if (output === 'tty') {
		session.unlock();
		const {openDashboard} = await import('./dashboard.js');
		await openDashboard(session, io);
	}
	return result.code;
}

/** What a user can do with a cluster that just came up (as kind ends with how to use it). */
export function nextSteps(spec: ClusterSpec): string {
	const database = spec.database !== 'none';
	const rows: Array<[string, string]> = [
		[`swarmbee status ${spec.name}`, 'live dashboard (--once: one table)'],
		...(database
			? [
					[
						`swarmbee tunnel ${spec.name}`,
						'RethinkDB admin panel over SSH (prints its URL, with the token that opens it)',
					] as [string, string],
				]
			: []),
		[`swarmbee ssh ${spec.name} [NODE]`, 'a shell on a node (-- COMMAND runs one; --all on every node)'],
		[`eval "$(swarmbee env ${spec.name})"`, 'point your docker CLI at the swarm (docker node ls)'],
		...(database
			? [
					[`swarmbee logs ${spec.name} rdb-queenbee`, "a database server's log (or a node's: logs NAME NODE)"] as [
						string,
						string,
					],
				]
			: []),
		[`swarmbee scale ${spec.name} --workers N`, 'add or remove worker nodes'],
		[`swarmbee down ${spec.name}`, 'remove every node, network and volume'],
	];
	const width = Math.max(...rows.map(([command]) => command.length));
	return `${spec.name} is ready. Next:\n${rows.map(([command, what]) => `  ${command.padEnd(width)}  ${what}`).join('\n')}\n`;
}

/**
 * A run that stopped early (Ctrl-C, a failure) on a cloud may leave machines
 * that cost money. The provider is asked how many exist now (the journal
 * may not know of a create cut off mid-request); failing that, the journal
 * says what it knows.
 *
 *     ! 4 droplets of demo exist and are billed by DigitalOcean while they exist, running or not:
 *       remove them with swarmbee down demo (or go on with swarmbee up demo)
 */
async function sayWhatIsBilled(session: ClusterSession, resume: string, emit: (e: RunEvent) => void): Promise<void> {
	const billed = session.provider.capabilities.billed;
	if (!billed) return;
	const {spec, journal} = session;
	let count: number;
	let known = '';
	try {
		count = (
			await session.provider.listMachines({spec, owner: journal.value.owner, signal: AbortSignal.timeout(20_000)})
		).length;
	} catch (error) {
		count = journal.value.nodes.filter(n => n.providerId).length;
		known = ` (as this machine's records say: ${billed.by} could not be asked: ${(error as Error).message})`;
	}
	if (count === 0) return;
	const many = count !== 1;
	const down = `swarmbee down ${spec.name}`;
	emit(
		event({
			type: 'warning',
			message: `${count} ${billed.machine}${many ? 's' : ''} of ${spec.name} exist${many ? '' : 's'}${known} and ${many ? 'are' : 'is'} billed by ${billed.by} while ${many ? 'they exist' : 'it exists'}, running or not: remove ${many ? 'them' : 'it'} with ${down}${resume.startsWith(down) ? '' : ` (or go on with ${resume})`}`,
		}),
	);
}
