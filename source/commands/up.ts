import {sshTarget} from '../cluster/targets.js';
import {DockerCli} from '../docker/cli.js';
import {CancelledError, InputError, SpecError, type FieldProblem} from '../errors.js';
import type {CommandIO} from '../main.js';
import {swarmbeeHome} from '../paths.js';
import {createProvider} from '../providers/index.js';
import {runSteps} from '../run/orchestrator.js';
import {createRenderer, type OutputMode} from '../render/index.js';
import {resolveSpec, type ClusterSpec, type SpecInput} from '../spec.js';
import {SshPool} from '../ssh/pool.js';
import {ClusterStore} from '../store/cluster-store.js';
import {upSteps} from '../../steps/index.js';
import type {ClusterContext} from '../../steps/types.js';
import {confirm, handleInterrupts} from './interaction.js';

export interface UpOptions {
	name: string;
	input: SpecInput;
	yes: boolean;
	output: OutputMode;
	verbose: boolean;
	/**
	 * A DigitalOcean token handed over in-process (the wizard asks for one);
	 * otherwise DIGITALOCEAN_ACCESS_TOKEN from the environment is used.
	 */
	token?: string;
}

const FIELD_FLAGS: Record<keyof Omit<ClusterSpec, 'name'>, string> = {
	provider: '--provider',
	managers: '--managers',
	workers: '--workers',
	size: '--size',
	region: '--region',
	image: '--image',
	memoryLimit: '--memory-limit',
	encryptOverlay: '--encrypt-overlay',
	sshFrom: '--ssh-from',
};

/**
 * The saved spec wins for a cluster that exists: `up demo` resumes it as it
 * was asked for. A flag that asks for something different is refused, with
 * what to do instead, rather than silently ignored or applied.
 */
export function mergeWithSaved(saved: ClusterSpec | undefined, name: string, input: SpecInput): ClusterSpec {
	const given = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as SpecInput;
	if (!saved) return resolveSpec({...given, name});
	const requested = resolveSpec({...saved, ...given, name});
	const problems: FieldProblem[] = [];
	for (const field of Object.keys(FIELD_FLAGS) as Array<keyof typeof FIELD_FLAGS>) {
		if (given[field as keyof SpecInput] === undefined || JSON.stringify(requested[field]) === JSON.stringify(saved[field])) continue;
		problems.push({
			field: FIELD_FLAGS[field].replace(/^--/, ''),
			problem: `cluster ${name} exists with ${FIELD_FLAGS[field]} ${String(saved[field])}, not ${String(requested[field])}`,
			fix: field === 'workers'
				? `to change the node count, remove and recreate it: swarmbee down ${name}, then swarmbee up ${name} --workers ${requested.workers}`
				: `run swarmbee up ${name} without ${FIELD_FLAGS[field]} to resume it as it is, or choose a new name`,
		});
	}
	if (problems.length > 0) throw new SpecError(problems);
	return requested;
}

export async function upCommand(options: UpOptions, io: CommandIO): Promise<number> {
	const store = new ClusterStore(swarmbeeHome(io.env));
	const saved = store.loadSpec(options.name);
	const spec = mergeWithSaved(saved, options.name, options.input);
	const fresh = !store.exists(spec.name);

	if (fresh && !options.yes) {
		if (!io.interactive) {
			throw new InputError(`creating cluster ${spec.name} needs confirmation, and there is no terminal to ask in`, {
				nextSteps: [`pass --yes: swarmbee up ${spec.name} --yes`],
			});
		}
		const nodes = 1 + spec.workers;
		if (!(await confirm(`Create ${spec.name}: ${nodes} ${spec.provider} nodes (${spec.size}), 1 queenbee + ${spec.workers} workerbee${spec.workers === 1 ? '' : 's'}?`))) {
			throw new CancelledError('nothing was created.');
		}
	}

	const release = store.lock(spec.name, `up ${spec.name}`);
	const journal = store.openJournal(spec);
	const controller = new AbortController();
	const stopInterrupts = handleInterrupts(controller, io);
	const docker = new DockerCli();
	const ctx: ClusterContext = {
		spec,
		paths: store.paths(spec.name),
		journal,
		provider: createProvider(spec, docker, {env: io.env, token: options.token}),
		docker,
		ssh: new SshPool(node => sshTarget(journal.value, node, ctx.clusterKey!.privateKey)),
	};
	const renderer = await createRenderer(options.output, io, {verbose: options.verbose});
	const resume = `swarmbee up ${spec.name}`;
	try {
		const outcome = await runSteps(upSteps, ctx, {
			command: 'up',
			cluster: spec.name,
			provider: spec.provider,
			emit: e => renderer.handle(e),
			signal: controller.signal,
			resume,
			journal,
			afterStep: step => {
				// Nothing is written for a new cluster until its preflight passed.
				if (step === 'preflight' && !journal.isPersisted) {
					store.saveSpec(spec);
					journal.persist();
				}
			},
		});
		journal.update(j => {
			j.state = outcome.outcome === 'done' ? 'ready' : outcome.outcome === 'failed' ? 'failed' : 'cancelled';
		});
		if (outcome.outcome === 'done') return 0;
		if (outcome.outcome === 'cancelled') return 130;
		return outcome.error.kind === 'input' ? 2 : 1;
	} finally {
		ctx.ssh.closeAll();
		stopInterrupts();
		await renderer.close();
		release();
		if (fresh && !journal.isPersisted) store.forget(spec.name);
	}
}
