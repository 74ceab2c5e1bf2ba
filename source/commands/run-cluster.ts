import {sshTarget} from '../cluster/targets.js';
import {DockerCli} from '../docker/cli.js';
import {event, type RunEvent} from '../events.js';
import {createProvider} from '../providers/index.js';
import type {Provider} from '../providers/types.js';
import {exitCode, runSteps, type RunOutcome} from '../run/orchestrator.js';
import type {ClusterSpec} from '../spec.js';
import {generateKeyPair, loadKeyPair} from '../ssh/keys.js';
import {SshPool} from '../ssh/pool.js';
import type {ClusterStore} from '../store/cluster-store.js';
import type {ClusterState} from '../states.js';
import type {ClusterContext, ClusterOptions, Step} from '../../steps/types.js';
import {formatUsd} from '../providers/digitalocean/catalog.js';
import {counted, formatTable} from '../render/format.js';
import {planNodes} from '../spec.js';
import {readPublicKey} from '../ssh/keys.js';
import {confirmOrStop, createRenderer, handleInterrupts, type CommandIO, type OutputMode} from './io.js';

interface RunClusterOptions {
	store: ClusterStore;
	spec: ClusterSpec;
	/** The spec as saved before this run (undefined for a new cluster). */
	saved: ClusterSpec | undefined;
	steps: Array<Step<ClusterContext>>;
	command: string;
	resume: string;
	output: OutputMode;
	verbose: boolean;
	options?: ClusterOptions;
	/** A DigitalOcean token handed over in-process (the wizard, a profile); otherwise the environment's. */
	token?: string;
	/** The provider confirmCost already asked (its catalog is not asked for again); otherwise a new one. */
	provider?: Provider;
	/** Journal changes to make once preflight passed. */
	afterPreflight?: (ctx: ClusterContext) => void;
	/**
	 * The step after which what this run asked for is saved as the cluster's
	 * spec (default: preflight). A scale-down saves its new worker count only
	 * once its tables step found it safe, so a refused scale leaves the saved
	 * spec as it was.
	 */
	saveSpecAfter?: string;
	/** The journal's state after a run that finished every step (default `ready`). */
	doneState?: ClusterState;
	/** Said in plain mode after the run (default: what to do with a cluster that is ready). */
	closing?: (code: number) => string | undefined;
	/** After the journal has its final state (down --forget removes it all). */
	afterRun?: (outcome: RunOutcome) => void;
	/** In a terminal, a finished run opens the dashboard (up, scale; not down). */
	dashboard?: boolean;
	/** Rewords what errors say (after the wizard: its questions, not flags). */
	reword?: (text: string) => string;
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

/**
 * The one owner of a run on a cluster (up, scale, down): the lock, Ctrl-C,
 * the renderer, the cluster key, the SSH connections, the journal's state
 * at the end, and the exit code. Nothing is written for a new cluster until
 * its preflight passed.
 */
export async function runCluster(run: RunClusterOptions, io: CommandIO): Promise<number> {
	const {store, spec, saved} = run;
	const fresh = !store.exists(spec.name);
	const untried = spec.playbook !== undefined && spec.playbook !== saved?.playbook;
	const release = store.lock(spec.name, `${run.command} ${spec.name}`);
	const journal = store.openJournal(spec);
	const controller = new AbortController();
	const renderer = await createRenderer(run.output, io, {verbose: run.verbose});
	// In the live view Ctrl-C is announced as a line of the view, not written across it.
	const stopInterrupts = handleInterrupts(
		controller,
		io,
		run.output === 'tty' ? message => renderer.handle(event({type: 'warning', message})) : undefined,
	);
	const docker = new DockerCli();
	const paths = store.paths(spec.name);
	// There before any step runs; a new one stays in memory until the keys step writes it.
	const clusterKey = loadKeyPair(paths.clusterKey) ?? generateKeyPair(`swarmbee-${spec.name}`);
	const ctx: ClusterContext = {
		spec,
		paths,
		journal,
		provider: run.provider ?? createProvider(spec, docker, {env: io.env, token: run.token}),
		docker,
		ssh: new SshPool(node => sshTarget(journal.value, node, clusterKey.privateKey)),
		clusterKey,
		lastRun: journal.value.state,
		options: run.options ?? {},
	};
	let code: number;
	try {
		const outcome = await runSteps(run.steps, ctx, {
			command: run.command,
			cluster: spec.name,
			provider: spec.provider,
			emit: run.reword ? e => renderer.handle(rewordEvent(e, run.reword!)) : e => renderer.handle(e),
			signal: controller.signal,
			resume: run.resume,
			journal,
			afterStep: step => {
				if (step === 'preflight' && !journal.isPersisted) journal.persist();
				// What this run asked for is remembered (a new worker count), but a new
				// --playbook only once a run with it succeeded: one that breaks on the
				// nodes must not be run again by every later `up`.
				const kept = untried ? withPlaybook(spec, saved?.playbook) : spec;
				if (step === (run.saveSpecAfter ?? 'preflight') && JSON.stringify(saved) !== JSON.stringify(kept))
					store.saveSpec(kept);
				if (step === 'preflight') run.afterPreflight?.(ctx);
			},
		});
		journal.update(j => {
			j.state = endState(outcome, run.doneState ?? 'ready');
		});
		if (outcome.outcome === 'done' && untried) store.saveSpec(spec);
		run.afterRun?.(outcome);
		if (outcome.outcome !== 'done') await sayWhatIsBilled(ctx, run.command, renderer);
		code = exitCode(outcome);
	} finally {
		ctx.ssh.closeAll();
		stopInterrupts();
		await renderer.close();
		release();
		if (fresh && !journal.isPersisted) store.forget(spec.name);
	}
	const closing = run.closing ? run.closing(code) : code === 0 ? nextSteps(spec) : undefined;
	if (closing && run.output === 'plain') io.stdout.write(closing);
	// In a terminal a finished cluster is watched, not left: the dashboard
	// follows the run view (the lock is released; the dashboard only reads).
	if (code === 0 && run.output === 'tty' && (run.dashboard ?? true)) {
		const {openDashboard} = await import('./dashboard.js');
		await openDashboard(spec.name, io);
	}
	return code;
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
async function sayWhatIsBilled(
	ctx: ClusterContext,
	command: string,
	renderer: {handle: (e: ReturnType<typeof event>) => void},
): Promise<void> {
	const billed = ctx.provider.capabilities.billed;
	if (!billed) return;
	const {spec} = ctx;
	let count: number;
	let known = '';
	try {
		count = (
			await ctx.provider.listMachines({spec, owner: ctx.journal.value.owner, signal: AbortSignal.timeout(20_000)})
		).length;
	} catch (error) {
		count = ctx.journal.value.nodes.filter(n => n.providerId).length;
		known = ` (as this machine's records say: ${billed.by} could not be asked: ${(error as Error).message})`;
	}
	if (count === 0) return;
	const many = count !== 1;
	const resume =
		command === 'down'
			? ''
			: ` (or go on with swarmbee ${command === 'scale' ? 'scale' : 'up'} ${spec.name}${command === 'scale' ? ` --workers ${spec.workers}` : ''})`;
	renderer.handle(
		event({
			type: 'warning',
			message: `${count} ${billed.machine}${many ? 's' : ''} of ${spec.name} exist${many ? '' : 's'}${known} and ${many ? 'are' : 'is'} billed by ${billed.by} while ${many ? 'they exist' : 'it exists'}, running or not: remove ${many ? 'them' : 'it'} with swarmbee down ${spec.name}${resume}`,
		}),
	);
}

/**
 * Before a run that may create machines. On a cloud, in a terminal, the
 * price of what it would create is shown before the question (the same
 * look as `plan`, which validates everything first, so a bad image or size
 * is refused here, before any write). Elsewhere the one-line question of a
 * new cluster, which without a terminal asks for --yes.
 *
 *     demo on digitalocean: 3 droplets to create in nyc3 (s-1vcpu-1gb, debian-12-x64)
 *     NODE         ROLE     $/MONTH  $/HOUR
 *     queenbee     manager  $6.00    $0.00893
 *     cost: $18.00 a month ($0.0268 an hour) while they exist, running or not (swarmbee down demo stops it)
 *     ? Create 3 droplets for demo at $18.00 a month? (Y/n)
 *
 * Returns the provider it asked, for the run to go on with (runCluster's
 * `provider`): the catalog it loaded is not asked for again.
 */
export async function confirmCost(
	io: CommandIO,
	input: {yes: boolean; store: ClusterStore; spec: ClusterSpec; token?: string; command: string},
): Promise<Provider | undefined> {
	const {spec, store} = input;
	if (input.yes) return undefined;
	const fresh = !store.exists(spec.name);
	const provider = createProvider(spec, new DockerCli(), {env: io.env, token: input.token});
	const ask = (message: string) =>
		confirmOrStop(io, {
			yes: false,
			what: `creating cluster ${spec.name}`,
			command: input.command,
			message,
			defaultAnswer: true,
			declined: 'nothing was created.',
		});
	const billed = provider.capabilities.billed;
	if (!billed || !io.interactive) {
		if (fresh)
			await ask(
				`Create ${spec.name}: ${1 + spec.workers} ${spec.provider} nodes (${spec.size}), 1 queenbee + ${counted(spec.workers, 'workerbee')}${billed ? '' : ', nothing billed'}?`,
			);
		return provider;
	}
	const plan = await provider.plan({
		spec,
		owner: store.loadJournal(spec.name)?.owner ?? '',
		sshPublicKey: readPublicKey(store.paths(spec.name).clusterKey),
	});
	const created = plan.resources.filter(r => r.kind === billed.machine && r.action === 'create');
	if (created.length === 0 || !plan.cost) return provider;
	const roles = new Map(planNodes(spec).map(n => [n.name, n.role]));
	const c = plan.cost;
	const many = created.length !== 1;
	const lines = [
		`${spec.name} on ${spec.provider}: ${created.length} ${billed.machine}${many ? 's' : ''} to create in ${spec.region} (${c.size}, ${spec.image})`,
		...formatTable([
			['NODE', 'ROLE', '$/MONTH', '$/HOUR'],
			...created.map(r => [r.name, roles.get(r.name) ?? '', formatUsd(c.perNodeMonthly), formatUsd(c.perNodeHourly)]),
		]),
		`cost: ${formatUsd(c.perNodeMonthly * created.length)} a month (${formatUsd(c.perNodeHourly * created.length)} an hour) while ${many ? 'they exist' : 'it exists'}, running or not (swarmbee down ${spec.name} stops it)`,
	];
	io.stdout.write(`${lines.join('\n')}\n`);
	await ask(
		`Create ${created.length} ${billed.machine}${many ? 's' : ''} for ${spec.name} at ${formatUsd(c.perNodeMonthly * created.length)} a month?`,
	);
	return provider;
}

/** What a user can do with a cluster that just came up (as kind ends with how to use it). */
export function nextSteps(spec: ClusterSpec): string {
	const rows: Array<[string, string]> = [
		[`swarmbee status ${spec.name}`, 'live dashboard (--once: one table)'],
		...(spec.database === 'none'
			? []
			: [
					[`swarmbee tunnel ${spec.name}`, 'RethinkDB admin panel on http://127.0.0.1:8080, over SSH'] as [
						string,
						string,
					],
				]),
		[`swarmbee ssh ${spec.name} [NODE]`, 'a shell on a node (-- COMMAND runs one; --all on every node)'],
		[`eval "$(swarmbee env ${spec.name})"`, 'point your docker CLI at the swarm (docker node ls)'],
		...(spec.database === 'none'
			? []
			: [
					[`swarmbee logs ${spec.name} rdb-queenbee`, "a database server's log (or a node's: logs NAME NODE)"] as [
						string,
						string,
					],
				]),
		[`swarmbee scale ${spec.name} --workers N`, 'add or remove worker nodes'],
		[`swarmbee down ${spec.name}`, 'remove every node, network and volume'],
	];
	const width = Math.max(...rows.map(([command]) => command.length));
	return `${spec.name} is ready. Next:\n${rows.map(([command, what]) => `  ${command.padEnd(width)}  ${what}`).join('\n')}\n`;
}
