import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import type {Duplex} from 'node:stream';
import {DockerCli, DockerCommandError, type DockerRunOptions} from '../../source/docker/cli.js';
import type {RunEvent} from '../../source/events.js';
import type {
	CreateOutcome,
	DestroyReport,
	InfraInfo,
	Machine,
	MachinePlan,
	Provider,
	ProviderCapabilities,
	ProviderContext,
	ProviderPlan,
} from '../../source/providers/types.js';
import {resolveSpec, type SpecInput} from '../../source/spec.js';
import {commandFailed, type ExecOptions, type ExecResult} from '../../source/ssh/connection.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import type {NodeShells, RemoteShell, WaitOptions} from '../../source/ssh/shell.js';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {stepIO, type ClusterContext, type StepIO} from '../../steps/types.js';

/**
 * Stand-ins that record, for running real steps in unit tests: SSH answers
 * from a script and keeps every command, upload and wait; Docker does the
 * same for argv; the provider keeps every call. A command the script does
 * not expect fails the test, naming it.
 */

export interface Reply {
	code?: number;
	stdout?: string;
	stderr?: string;
}

/** `match`: a piece of the command line (or a pattern); `once`: used up by its first match. */
export interface Rule {
	node?: string;
	match: string | RegExp;
	reply: Reply | string | ((command: string, node: string) => Reply | string);
	once?: boolean;
}

function answer(rules: Rule[], node: string, command: string, what: string): Reply {
	const index = rules.findIndex(
		r =>
			(r.node === undefined || r.node === node) &&
			(typeof r.match === 'string' ? command.includes(r.match) : r.match.test(command)),
	);
	if (index === -1) throw new Error(`the recording has no answer for ${what} on ${node}: ${command}`);
	const rule = rules[index]!;
	if (rule.once) rules.splice(index, 1);
	const reply = typeof rule.reply === 'function' ? rule.reply(command, node) : rule.reply;
	return typeof reply === 'string' ? {stdout: reply} : reply;
}

export interface Recorded {
	node: string;
	command: string;
	stdin?: string;
}

export class RecordedShells implements NodeShells {
	readonly commands: Recorded[] = [];
	readonly uploads: Array<{node: string; path: string; contents: string; mode: number}> = [];
	readonly waited: string[] = [];
	readonly dropped: string[] = [];
	/** The host key each node proves itself with (what a real connection's verifier matched). */
	readonly hostKeys = new Map<string, string>();

	constructor(readonly rules: Rule[] = []) {}

	/** The commands run on one node (or all), in order. */
	on(node?: string): string[] {
		return this.commands.filter(c => node === undefined || c.node === node).map(c => c.command);
	}

	async get(node: string): Promise<RemoteShell> {
		return new RecordedShell(this, node);
	}

	async waitFor(node: string, _options?: WaitOptions): Promise<RemoteShell> {
		this.waited.push(node);
		return new RecordedShell(this, node);
	}

	drop(node: string): void {
		this.dropped.push(node);
	}

	closeAll(): void {}
}

class RecordedShell implements RemoteShell {
	readonly hostKey: string;

	constructor(
		private readonly shells: RecordedShells,
		private readonly node: string,
	) {
		this.hostKey = shells.hostKeys.get(node) ?? '';
	}

	async exec(command: string, options: ExecOptions = {}): Promise<ExecResult> {
		const input = options.stdin;
		let stdin: string | undefined;
		if (typeof input === 'string' || Buffer.isBuffer(input)) stdin = input.toString();
		else if (input) {
			// A stream (an image archive): read to its end, as `docker load` would.
			const chunks: Buffer[] = [];
			for await (const chunk of input) chunks.push(Buffer.from(chunk as Buffer));
			stdin = `<${Buffer.concat(chunks).length} bytes>`;
		}
		this.shells.commands.push({node: this.node, command, ...(stdin === undefined ? {} : {stdin})});
		const reply = answer(this.shells.rules, this.node, command, 'a command');
		const stdout = reply.stdout ?? '';
		const stderr = reply.stderr ?? '';
		for (const line of stdout.split('\n').filter(Boolean)) options.onStdout?.(line);
		for (const line of stderr.split('\n').filter(Boolean)) options.onStderr?.(line);
		return {code: reply.code ?? 0, stdout: options.capture === false ? '' : stdout, stderr};
	}

	async run(command: string, options: ExecOptions = {}): Promise<string> {
		const result = await this.exec(command, options);
		if (result.code !== 0) throw commandFailed(this.node, command, result);
		return result.stdout;
	}

	async upload(remotePath: string, contents: string | Buffer, mode = 0o644): Promise<void> {
		this.shells.uploads.push({node: this.node, path: remotePath, contents: contents.toString(), mode});
	}

	forwardOut(): Promise<Duplex> {
		throw new Error('a recording opens no forwards');
	}
}

/** DockerCli with `run` answered from a script (its inspect, imageId and jsonLines go through run). */
export class RecordedDocker extends DockerCli {
	readonly commands: string[][] = [];

	constructor(readonly rules: Rule[] = []) {
		super();
	}

	override async run(args: string[], _options: DockerRunOptions = {}): Promise<string> {
		this.commands.push(args);
		const reply = answer(this.rules, 'this machine', args.join(' '), 'a docker command');
		if ((reply.code ?? 0) !== 0) throw new DockerCommandError(args, reply.stderr ?? '', reply.code);
		return reply.stdout ?? '';
	}
}

/** A provider that does what it is told and keeps every call. */
export class RecordedProvider implements Provider {
	readonly name = 'local' as const;
	readonly calls: string[] = [];
	capabilities: ProviderCapabilities = {
		encryptedOverlay: false,
		pullImages: false,
		hostKeyBeforeBoot: true,
		bootHostKeyExposed: false,
		sharesHostCpus: false,
	};
	machines: Machine[] = [];
	preflightLines = ['engine reachable'];
	infra: InfraInfo = {privateCidr: '10.9.1.0/24', publicCidr: '10.9.0.0/24', ids: {}};
	report: DestroyReport = {
		scope: 'labelled swarmbee.cluster=demo',
		removed: ['2 containers'],
		remaining: [],
		foreign: [],
	};

	async preflight(): Promise<string[]> {
		this.calls.push('preflight');
		return this.preflightLines;
	}

	async ensureInfra(): Promise<{infra: InfraInfo; changed: boolean}> {
		this.calls.push('ensureInfra');
		return {infra: this.infra, changed: false};
	}

	async listMachines(): Promise<Machine[]> {
		this.calls.push('listMachines');
		return this.machines;
	}

	async createMachines(
		_ctx: ProviderContext,
		plans: MachinePlan[],
		_infra: InfraInfo,
		onProgress: (node: string, detail: string) => void,
	): Promise<CreateOutcome[]> {
		this.calls.push(`createMachines ${plans.map(p => p.name).join(' ')}`);
		return plans.map(plan => {
			onProgress(plan.name, 'booting');
			const address = `10.9.0.${10 + plan.index}`;
			const machine: Machine = {
				name: plan.name,
				providerId: `id-${plan.name}`,
				status: 'running',
				publicAddress: address,
				privateAddress: `10.9.1.${10 + plan.index}`,
				ssh: {host: address, port: 22, user: 'root'},
			};
			this.machines.push(machine);
			return {name: plan.name, machine};
		});
	}

	async startMachine(_ctx: ProviderContext, machine: Machine): Promise<void> {
		this.calls.push(`startMachine ${machine.name}`);
	}

	async stopMachine(_ctx: ProviderContext, machine: Machine): Promise<void> {
		this.calls.push(`stopMachine ${machine.name}`);
	}

	async deleteMachine(_ctx: ProviderContext, machine: Machine): Promise<void> {
		this.calls.push(`deleteMachine ${machine.name}`);
		this.machines = this.machines.filter(m => m !== machine);
	}

	async rebootMachine(_ctx: ProviderContext, machine: Machine): Promise<void> {
		this.calls.push(`rebootMachine ${machine.name}`);
	}

	async plan(): Promise<ProviderPlan> {
		return {resources: [], notes: []};
	}

	async destroy(_ctx: ProviderContext, options: {includeForeign: boolean}): Promise<DestroyReport> {
		this.calls.push(`destroy includeForeign=${options.includeForeign}`);
		return this.report;
	}
}

/** A cluster context on a temporary SWARMBEE_HOME, every outside part recorded. */
export function recordedCluster(input: SpecInput = {}, script: {ssh?: Rule[]; docker?: Rule[]} = {}) {
	const home = mkdtempSync(path.join(tmpdir(), 'sb-steps-'));
	const store = new ClusterStore(home);
	const spec = resolveSpec({name: 'demo', workers: 1, database: 'none', ...input});
	const journal = store.openJournal(spec);
	journal.persist();
	const ssh = new RecordedShells(script.ssh);
	const docker = new RecordedDocker(script.docker);
	const provider = new RecordedProvider();
	const ctx: ClusterContext = {
		spec,
		paths: store.paths(spec.name),
		journal,
		provider,
		docker,
		ssh,
		clusterKey: generateKeyPair('swarmbee-demo'),
		lastRun: 'creating',
		options: {},
	};
	return {ctx, ssh, docker, provider, store, home, remove: () => rmSync(home, {recursive: true, force: true})};
}

/** A StepIO whose events are kept; `step` is the id its events carry (the step it is handed to). */
export function recordedIO(
	earlier: StepIO['earlier'] = [],
	step = 'test',
): {
	io: StepIO;
	events: RunEvent[];
	states: (node?: string) => string[];
} {
	const events: RunEvent[] = [];
	return {
		io: stepIO(step, e => events.push(e), new AbortController().signal, earlier),
		events,
		states: node =>
			events.flatMap(e =>
				e.type === 'node-state' && (node === undefined || e.node === node)
					? [`${e.node} ${e.state}${e.detail ? `: ${e.detail}` : ''}`]
					: [],
			),
	};
}
