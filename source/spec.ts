import {existsSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {LineCounter, parseDocument, visit} from 'yaml';
import {SpecError, type FieldProblem} from './errors.js';
import {
	parseMemory,
	SPEC_FIELDS,
	SPEC_RULES,
	type DerivedValues,
	type ProviderName,
	type SpecField,
	type SpecFieldInput,
	type SpecFieldKey,
	type SpecValues,
} from './spec-fields.js';

// What most callers want of a spec, from the one import.
export {parseMemory, type ProviderName} from './spec-fields.js';

/**
 * What the user asked for. Together with the journal (what exists) it is the
 * single source of truth for a cluster; every step reads both. Its settings
 * are the entries of SPEC_FIELDS (spec-fields.ts), each documented there.
 */
export type ClusterSpec = {
	/** DNS label: names containers, droplets, tags, the state folder. */
	name: string;
} & SpecValues &
	DerivedValues;

/** Loose input, as it comes from flags, a profile, a saved spec or the wizard. */
export type SpecInput = {name?: string} & SpecFieldInput;

const NAME_PATTERN = /^[a-z]([a-z0-9-]{0,38}[a-z0-9])?$/;

/** Turns `My_Cluster` into `my-cluster`, for the fix we suggest. */
export function suggestName(raw: string): string {
	const cleaned = raw
		.toLowerCase()
		.replace(/[^a-z0-9-]+/g, '-')
		.replace(/^[^a-z]+/, '')
		.replace(/-+/g, '-')
		.slice(0, 40)
		.replace(/-+$/, '');
	return cleaned || 'demo';
}

export function checkName(name: string | undefined): FieldProblem | undefined {
	if (name === undefined || name === '') {
		return {field: 'name', problem: 'no cluster name was given', fix: 'pass one, e.g. `swarmbee up demo`'};
	}
	if (!NAME_PATTERN.test(name)) {
		return {
			field: 'name',
			problem: `"${name}" is not a valid cluster name (it names containers, droplets and DNS labels)`,
			fix: `use 1-40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen, e.g. "${suggestName(name)}"`,
		};
	}
	return undefined;
}

export function formatMemory(bytes: number): string {
	const mib = bytes / 1024 ** 2;
	if (mib >= 1024 && Number.isInteger(mib / 1024)) return `${mib / 1024} GiB`;
	return `${Math.round(mib)} MiB`;
}

/**
 * Fills defaults and checks every field (each through its entry in
 * SPEC_FIELDS), reporting all problems at once. Provider-specific checks
 * (does this size exist, does it fit) happen in the provider's preflight,
 * which knows its catalog.
 */
export function resolveSpec(input: SpecInput): ClusterSpec {
	const problems: FieldProblem[] = [];
	const nameProblem = checkName(input.name);
	if (nameProblem) problems.push(nameProblem);
	const values: Record<string, unknown> = {};
	const derived: Partial<DerivedValues> = {};
	let provider: ProviderName = 'local';
	for (const f of SPEC_FIELDS as readonly SpecField[]) {
		const fallback = f.fallback(provider);
		const given = input[f.key as SpecFieldKey];
		const raw = given === undefined ? fallback : given;
		if (raw === undefined) continue;
		const parsed = f.parse(raw, {provider, fallback});
		if ('problem' in parsed) {
			problems.push({field: f.flag, problem: parsed.problem, fix: parsed.fix});
			continue;
		}
		values[f.key] = parsed.value;
		Object.assign(derived, parsed.derived);
		// Every later field's default follows the provider.
		if (f.key === 'provider') provider = parsed.value as ProviderName;
	}
	for (const rule of SPEC_RULES) {
		const problem = rule.check(values as Partial<SpecValues>);
		if (problem) problems.push({field: rule.flag, ...problem});
	}
	if (problems.length > 0) throw new SpecError(problems);
	return {name: input.name as string, ...values, ...derived} as ClusterSpec;
}

/** What spec.json keeps: the name and the fields as asked (nothing derived). */
export function savedForm(spec: ClusterSpec): SpecInput {
	const saved: Record<string, unknown> = {name: spec.name};
	for (const f of SPEC_FIELDS) if (spec[f.key] !== undefined) saved[f.key] = spec[f.key];
	return saved as SpecInput;
}

/**
 * The spec a run on cluster `name` works to: the saved one wins for a
 * cluster that exists (`up demo` resumes it as it was asked for); a flag
 * that asks for something a field may not change (SPEC_FIELDS' changeable)
 * is refused, with what to do instead, rather than silently ignored or
 * applied.
 */
export function mergeWithSaved(saved: ClusterSpec | undefined, name: string, input: SpecInput): ClusterSpec {
	const given = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) as SpecInput;
	if (!saved) return resolveSpec({...given, name});
	const requested = resolveSpec({...savedForm(saved), ...given, name});
	const problems: FieldProblem[] = [];
	for (const f of SPEC_FIELDS as readonly SpecField[]) {
		const key = f.key as SpecFieldKey;
		if (f.changeable || given[key] === undefined || JSON.stringify(requested[key]) === JSON.stringify(saved[key]))
			continue;
		problems.push({
			field: f.flag,
			problem: `cluster ${name} exists with --${f.flag} ${String(saved[key])}, not ${String(requested[key])}`,
			fix:
				f.changeWith?.(name, requested[key]) ??
				`run swarmbee up ${name} without --${f.flag} to resume it as it is, or choose a new name`,
		});
	}
	if (problems.length > 0) throw new SpecError(problems);
	return requested;
}

/**
 * The yaml package's bound on alias expansion (uses times the aliases
 * inside what they name): its default, 100, refuses a playbook that merely
 * uses one anchor 101 times, which Ansible reads; a "billion laughs" file
 * passes any such bound within a few levels.
 */
const MAX_PLAYBOOK_ALIASES = 10_000;

/**
 * A user's playbook, checked here before anything is created: it must be
 * YAML (the `yaml` package reads it as Ansible's parser would) and a list of
 * plays. Otherwise the nodes would find out, after the machines were made.
 */
export function playbookProblem(file: string, shown = file): FieldProblem | undefined {
	const fix =
		'fix the file (an Ansible playbook: a YAML list of plays, each with hosts: all), then run the same command again';
	let text: string;
	try {
		// A FIFO or a device in a playbook's place would hold the read forever.
		if (!statSync(file).isFile())
			return {
				field: 'playbook',
				problem: `${shown} is not a regular file`,
				fix: 'give the path of an Ansible playbook',
			};
		text = readFileSync(file, 'utf8');
	} catch (error) {
		return {
			field: 'playbook',
			problem: `${shown} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
			fix: 'make it readable, or pass another file',
		};
	}
	// Duplicate keys pass, as Ansible lets them (with a warning).
	const lineCounter = new LineCounter();
	const document = parseDocument(text, {prettyErrors: true, uniqueKeys: false, lineCounter});
	const [error] = document.errors;
	if (error) {
		const where = error.linePos ? ` (line ${error.linePos[0].line}, column ${error.linePos[0].col})` : '';
		return {
			field: 'playbook',
			problem: `${shown} is not valid YAML${where}: ${(error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`,
			fix,
		};
	}
	// An alias with no anchor before it: the yaml package only throws when it builds the value, without a place.
	let unresolved: {name: string; line: number; col: number} | undefined;
	visit(document, {
		Alias(_, alias) {
			if (alias.resolve(document) !== undefined) return undefined;
			unresolved = {name: alias.source, ...lineCounter.linePos(alias.range?.[0] ?? 0)};
			return visit.BREAK;
		},
	});
	if (unresolved)
		return {
			field: 'playbook',
			problem: `${shown} is not valid YAML (line ${unresolved.line}, column ${unresolved.col}): the alias *${unresolved.name} names no anchor (&${unresolved.name}) set before it`,
			fix: `set the anchor &${unresolved.name} before the alias, or write the value out; ${fix}`,
		};
	let plays: unknown;
	try {
		// Aliases that expand without end (a "billion laughs" file) are refused here, in bounded memory,
		// rather than left to fill it: the yaml package stops at maxAliasCount.
		plays = document.toJS({maxAliasCount: MAX_PLAYBOOK_ALIASES});
	} catch (error) {
		const message = (error as Error).message;
		return {
			field: 'playbook',
			problem: /alias count/i.test(message)
				? `${shown} expands its aliases too far (aliases of aliases: a "billion laughs" file?); swarmbee stopped reading it`
				: `${shown} is not YAML swarmbee can read: ${message}`,
			fix: `write the repeated parts out, or use fewer nested aliases; ${fix}`,
		};
	}
	if (!Array.isArray(plays) || plays.length === 0) {
		return {field: 'playbook', problem: `${shown} is YAML, but not a list of plays`, fix};
	}
	const bad = plays.findIndex(
		play =>
			!play ||
			typeof play !== 'object' ||
			Array.isArray(play) ||
			!['hosts', 'import_playbook', 'ansible.builtin.import_playbook'].some(key => key in play),
	);
	if (bad >= 0)
		return {
			field: 'playbook',
			problem: `${shown}: play ${bad + 1} has no hosts (every play names the hosts it runs on)`,
			fix,
		};
	return undefined;
}

/**
 * What `up` and `plan` work to: the saved spec and the flags merged, the
 * user's playbook checked before anything is created (kept as an absolute
 * path; `--playbook none` forgets the one remembered).
 */
export function specForRun(
	saved: ClusterSpec | undefined,
	name: string,
	input: SpecInput,
	cwd = process.cwd(),
): ClusterSpec {
	const dropPlaybook = input.playbook === 'none';
	let playbook: string | undefined;
	if (!dropPlaybook && input.playbook !== undefined) {
		playbook = path.resolve(cwd, String(input.playbook));
		if (!existsSync(playbook) || !statSync(playbook).isFile()) {
			throw new SpecError([
				{
					field: 'playbook',
					problem: `${String(input.playbook)} is not a file`,
					fix: 'give the path of an Ansible playbook (a .yml file with plays)',
				},
			]);
		}
	}
	const spec = mergeWithSaved(saved, name, {...input, playbook});
	if (dropPlaybook) {
		const {playbook: _forgotten, ...rest} = spec;
		return rest;
	}
	if (spec.playbook && !existsSync(spec.playbook)) {
		throw new SpecError([
			{
				field: 'playbook',
				problem: `the playbook saved with ${spec.name}, ${spec.playbook}, is gone`,
				fix: 'put it back, or pass --playbook with another file',
			},
		]);
	}
	// Read again on every run: a remembered playbook may have been edited since.
	const problem = spec.playbook
		? playbookProblem(
				spec.playbook,
				playbook === undefined ? `the playbook saved with ${spec.name}, ${spec.playbook},` : String(input.playbook),
			)
		: undefined;
	if (problem) throw new SpecError([problem]);
	return spec;
}

/**
 * A database server's memory limit must leave the node room for its own
 * system and dockerd: at most 90% of the size's RAM (the walk-through ran
 * 450m on 512 MB droplets, 88%). Takes the bytes resolveSpec worked out, or
 * parses a limit not yet in a spec (a wizard answer).
 */
export function memoryFitProblem(
	spec: Pick<ClusterSpec, 'memoryLimit' | 'size'> & Partial<Pick<ClusterSpec, 'memoryLimitBytes'>>,
	nodeMemoryMb: number,
): FieldProblem | undefined {
	const limit = spec.memoryLimitBytes ?? parseMemory(spec.memoryLimit);
	if (limit === undefined) return undefined;
	const ceiling = nodeMemoryMb * 1024 * 1024 * 0.9;
	if (limit <= ceiling) return undefined;
	return {
		field: 'memory-limit',
		problem: `${spec.memoryLimit} per database server does not fit on ${spec.size} (${nodeMemoryMb} MB of RAM per node)`,
		fix: `use at most ${Math.floor(ceiling / 1024 / 1024)}m, or a larger --size`,
	};
}

export type NodeRole = 'manager' | 'worker';

export interface NodePlan {
	name: string;
	/** 0 for queenbee, 1..N for workerbee-N. */
	index: number;
	/** The Swarm role this node should end with. */
	role: NodeRole;
}

/**
 * The nodes a spec asks for, named as in the 2015 walk-through:
 *
 *     queenbee      manager (swarm init happens here)
 *     workerbee-1   worker, or manager when --managers 3
 *     workerbee-2   worker, or manager when --managers 3
 *     workerbee-3   worker
 */
export function planNodes(spec: Pick<ClusterSpec, 'managers' | 'workers'>): NodePlan[] {
	const nodes: NodePlan[] = [{name: 'queenbee', index: 0, role: 'manager'}];
	for (let i = 1; i <= spec.workers; i++) {
		nodes.push({name: `workerbee-${i}`, index: i, role: i < spec.managers ? 'manager' : 'worker'});
	}
	return nodes;
}
