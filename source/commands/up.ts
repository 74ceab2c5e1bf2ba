import {existsSync, statSync} from 'node:fs';
import path from 'node:path';
import {CancelledError, InputError, SpecError, type FieldProblem} from '../errors.js';
import type {CommandIO} from '../main.js';
import {swarmbeeHome} from '../paths.js';
import {resolveSpec, type ClusterSpec, type SpecInput} from '../spec.js';
import {ClusterStore} from '../store/cluster-store.js';
import {upSteps} from '../../steps/index.js';
import type {OutputMode} from '../render/index.js';
import {confirm} from './interaction.js';
import {runCluster} from './run-cluster.js';

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

/**
 * Fields that define the cluster; a flag may repeat them but not change them.
 * (--playbook, --rethinkdb-image and --side-load may change: the next run applies them.)
 */
const FIELD_FLAGS: Record<keyof Omit<ClusterSpec, 'name' | 'playbook' | 'rethinkdbImage' | 'sideLoad'>, string> = {
	provider: '--provider',
	managers: '--managers',
	workers: '--workers',
	size: '--size',
	region: '--region',
	image: '--image',
	memoryLimit: '--memory-limit',
	encryptOverlay: '--encrypt-overlay',
	sshFrom: '--ssh-from',
	database: '--database',
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
				? `to change the node count: swarmbee scale ${name} --workers ${requested.workers}`
				: `run swarmbee up ${name} without ${FIELD_FLAGS[field]} to resume it as it is, or choose a new name`,
		});
	}
	if (problems.length > 0) throw new SpecError(problems);
	return requested;
}

/** The user's playbook must exist before anything is created; kept as an absolute path. */
function checkPlaybook(input: SpecInput): SpecInput {
	if (input.playbook === undefined) return input;
	const file = path.resolve(input.playbook);
	if (!existsSync(file) || !statSync(file).isFile()) {
		throw new SpecError([{field: 'playbook', problem: `${input.playbook} is not a file`, fix: 'give the path of an Ansible playbook (a .yml file with plays)'}]);
	}
	return {...input, playbook: file};
}

export async function upCommand(options: UpOptions, io: CommandIO): Promise<number> {
	const store = new ClusterStore(swarmbeeHome(io.env));
	const saved = store.loadSpec(options.name);
	// `--playbook none` forgets the playbook remembered with the cluster.
	const dropPlaybook = options.input.playbook === 'none';
	let spec = mergeWithSaved(saved, options.name, dropPlaybook ? {...options.input, playbook: undefined} : checkPlaybook(options.input));
	if (dropPlaybook) {
		const {playbook: _forgotten, ...rest} = spec;
		spec = rest;
	}
	if (spec.playbook && !existsSync(spec.playbook)) {
		throw new SpecError([{field: 'playbook', problem: `the playbook saved with ${spec.name}, ${spec.playbook}, is gone`, fix: 'put it back, or pass --playbook with another file'}]);
	}
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

	return runCluster({store, spec, saved, steps: upSteps, command: 'up', resume: `swarmbee up ${spec.name}`, output: options.output, verbose: options.verbose, token: options.token}, io);
}
