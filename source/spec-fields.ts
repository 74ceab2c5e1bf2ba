import {isIP} from 'node:net';
import {InputError} from './errors.js';

/**
 * Every setting of a cluster, described once. The command-line options of
 * `up` and `plan`, their usage text, the wizard's defaults, the profile
 * schema, the `ClusterSpec` type, its validation and the rule for what may
 * change on an existing cluster are all derived from `SPEC_FIELDS` below.
 * A new setting is one more entry there (see ARCHITECTURE.md), plus the code
 * that uses its value.
 */

/** Every provider this build has. */
export const PROVIDER_NAMES = ['local', 'digitalocean'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

const DATABASES = ['rethinkdb', 'none'] as const;
/** Workers on the local engine (nodes share this machine). */
export const MAX_WORKERS = 50;
/**
 * Workers on a cloud: the account's droplet limit decides (preflight checks
 * it: account-specific, raised on request); this only catches a typo.
 */
export const MAX_CLOUD_WORKERS = 500;
const MIN_MEMORY_LIMIT = 256 * 1024 * 1024;
const SSH_FROM_ANYWHERE = ['0.0.0.0/0', '::/0'];
export const DEFAULT_RETHINKDB_IMAGE = 'rethinkdb:2.4.4-bookworm-slim';

/** What some fields' values yield besides themselves, so it is worked out once (sizes in bytes). */
export interface DerivedValues {
	/** `memoryLimit` in bytes. */
	memoryLimitBytes: number;
}

/** A field's value, or what is wrong with the input and how to fix it. */
type Parsed<V> = {value: V; derived?: Partial<DerivedValues>} | {problem: string; fix: string};

interface FieldContext {
	provider: ProviderName;
	/** The field's default for this provider (what an empty answer falls back to). */
	fallback: unknown;
}

export interface SpecField<K extends string = string, V = unknown> {
	/** The ClusterSpec property. */
	key: K;
	/** The flag without its dashes; also the field's name in every message (`memory-limit: …`). */
	flag: string;
	/** What the flag takes, for usage lines (`SIZE`, `1|3`); a field without one is an on/off switch. */
	value?: string;
	/** A switch that also has `--no-<flag>`. */
	negatable?: boolean;
	/** The usage line's text; a second line after `\n`. */
	help: string;
	/** Absent input becomes this; `undefined` leaves the field unset (only for `optional` fields). */
	fallback: (provider: ProviderName) => V | undefined;
	optional?: boolean;
	/**
	 * Input (a flag's text, a profile's or saved spec's value, a wizard
	 * answer, the default) → the value, or the problem with its fix.
	 */
	parse: (input: unknown, context: FieldContext) => Parsed<V>;
	/** Another run on an existing cluster may change it (the run then applies it). */
	changeable: boolean;
	/** For a field that may not change: the way to change it anyway, when there is one. */
	changeWith?: (cluster: string, wanted: V) => string;
	/**
	 * What a spec saved before this field existed meant, when that is not
	 * the default new clusters get (such a cluster was built without it).
	 */
	savedBefore?: V;
	/** The wizard asks it, so a profile keeps it. */
	profile: boolean;
	/** The value's JSON type: the profile schema is made of these. */
	json: 'string' | 'integer' | 'boolean' | 'string-list';
}

/** Keeps each entry's key, value type and optionality for the types derived below. */
function field<K extends string, V, O extends boolean = false>(
	definition: SpecField<K, V> & {optional?: O},
): SpecField<K, V> & {optional?: O} {
	return definition;
}

function text(input: unknown): string | undefined {
	return typeof input === 'string' ? input : typeof input === 'number' ? String(input) : undefined;
}

function integer(input: unknown): number {
	if (typeof input === 'number') return Number.isInteger(input) ? input : Number.NaN;
	const written = text(input)?.trim() ?? '';
	return /^-?\d+$/.test(written) ? Number(written) : Number.NaN;
}

/** A slug-like value (size, region, image): trimmed; empty is refused, pointing at the default. */
function slug(flag: string) {
	return (input: unknown, context: FieldContext): Parsed<string> => {
		const value = text(input)?.trim() ?? '';
		if (value === '')
			return {
				problem: 'is empty',
				fix: `leave --${flag} out for the default (${String(context.fallback)}) or give a value`,
			};
		return {value};
	};
}

function oneOf<T extends string>(choices: readonly T[], problem: (written: string) => string, fix: string) {
	return (input: unknown): Parsed<T> => {
		const written = text(input) ?? String(input);
		return (choices as readonly string[]).includes(written) ? {value: written as T} : {problem: problem(written), fix};
	};
}

function flagValue(input: unknown): boolean {
	return input === true || input === 'true';
}

const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)\s*(k|m|g|t)(?:i?b)?$/i;
const MEMORY_UNITS: Record<string, number> = {k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4};

/**
 * Parses a memory size the way Docker does (`450m`, `1g`, `1.5G`, `512MiB`).
 * A bare number is refused: bytes or megabytes is a guess we won't make.
 */
export function parseMemory(written: string): number | undefined {
	const match = MEMORY_PATTERN.exec(written.trim());
	if (!match?.[1] || !match[2]) return undefined;
	const bytes = Math.round(Number(match[1]) * (MEMORY_UNITS[match[2].toLowerCase()] ?? 0));
	return Number.isFinite(bytes) && bytes > 0 ? bytes : undefined;
}

/** A memory limit as written, with its bytes, or why it cannot be one (the wizard checks answers with this too). */
export function parseMemoryLimit(input: unknown): Parsed<string> {
	const written = (text(input) ?? '').trim();
	const bytes = parseMemory(written);
	if (bytes === undefined)
		return {
			problem: `"${written}" is not a memory size`,
			fix: 'write a number with a unit, as Docker does: e.g. 450m, 512m, 1g',
		};
	if (bytes < MIN_MEMORY_LIMIT) {
		return {
			problem: `${written} is too little for a RethinkDB server (its cache alone wants 100 MiB or more)`,
			fix: 'give each database server at least 256m',
		};
	}
	return {value: written, derived: {memoryLimitBytes: bytes}};
}

/** An IPv4 or IPv6 address, with or without a /prefix. */
function isCidrOrAddress(written: string): boolean {
	const [address, prefix, ...rest] = written.split('/');
	if (rest.length > 0 || !address) return false;
	const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
	if (v4) {
		if (v4.slice(1).some(part => Number(part) > 255)) return false;
		return prefix === undefined || (/^\d{1,2}$/.test(prefix) && Number(prefix) <= 32);
	}
	if (isIP(address) === 6) return prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= 128);
	return false;
}

/**
 * The table. Order matters twice: `provider` comes first (the others'
 * defaults depend on it), and usage lines and messages follow it.
 */
export const SPEC_FIELDS = [
	field<'provider', ProviderName>({
		key: 'provider',
		flag: 'provider',
		value: 'local|digitalocean',
		help: 'where nodes run (default: local, your Docker engine)',
		fallback: () => 'local',
		parse: oneOf(
			PROVIDER_NAMES,
			written => `"${written}" is not a provider swarmbee knows`,
			`use one of: ${PROVIDER_NAMES.join(', ')}`,
		),
		changeable: false,
		profile: true,
		json: 'string',
	}),
	field<'workers', number>({
		key: 'workers',
		flag: 'workers',
		value: 'N',
		help: `worker nodes besides queenbee, 1-${MAX_WORKERS} locally, up to the account's droplet limit on DigitalOcean (default 3)`,
		fallback: () => 3,
		parse: input => {
			const workers = integer(input);
			if (Number.isInteger(workers) && workers >= 1 && workers <= MAX_CLOUD_WORKERS) return {value: workers};
			return {
				problem: `${String(input)} is not a worker count swarmbee can build`,
				fix: `choose a whole number from 1 to ${MAX_WORKERS} locally, or up to ${MAX_CLOUD_WORKERS} on DigitalOcean (the database runs one server per node)`,
			};
		},
		changeable: false,
		changeWith: (cluster, workers) => `to change the node count: swarmbee scale ${cluster} --workers ${workers}`,
		profile: true,
		json: 'integer',
	}),
	field<'managers', 1 | 3>({
		key: 'managers',
		flag: 'managers',
		value: '1|3',
		help: 'Swarm managers (3: workerbee-1 and -2 join as managers)',
		fallback: () => 1,
		parse: input => {
			const managers = integer(input);
			if (managers === 1 || managers === 3) return {value: managers};
			return {
				problem: `${String(input)} managers is not supported`,
				fix: 'use 1 (simplest) or 3 (survives the loss of one manager); even counts add no fault tolerance',
			};
		},
		changeable: false,
		profile: true,
		json: 'integer',
	}),
	field<'size', string>({
		key: 'size',
		flag: 'size',
		value: 'SLUG',
		help: 'node size (default s-1vcpu-1gb)',
		fallback: () => 's-1vcpu-1gb',
		parse: slug('size'),
		changeable: false,
		profile: true,
		json: 'string',
	}),
	field<'region', string>({
		key: 'region',
		flag: 'region',
		value: 'SLUG',
		help: 'DigitalOcean region (default nyc3)',
		fallback: provider => (provider === 'local' ? 'local' : 'nyc3'),
		parse: slug('region'),
		changeable: false,
		profile: true,
		json: 'string',
	}),
	field<'image', string>({
		key: 'image',
		flag: 'image',
		value: 'SLUG',
		help: 'DigitalOcean image (default debian-12-x64)',
		fallback: provider => (provider === 'local' ? 'debian-12' : 'debian-12-x64'),
		parse: slug('image'),
		changeable: false,
		profile: true,
		json: 'string',
	}),
	field<'memoryLimit', string>({
		key: 'memoryLimit',
		flag: 'memory-limit',
		value: 'SIZE',
		help: 'memory per database server, e.g. 450m, 1g (default 450m)',
		fallback: () => '450m',
		parse: parseMemoryLimit,
		changeable: false,
		profile: true,
		json: 'string',
	}),
	field<'replicas', number>({
		key: 'replicas',
		flag: 'replicas',
		value: 'N',
		help: 'replicas of every database table, 1-9 (default 3; never more than there are servers)',
		fallback: () => 3,
		parse: input => {
			const replicas = integer(input);
			if (Number.isInteger(replicas) && replicas >= 1 && replicas <= 9) return {value: replicas};
			return {
				problem: `${String(input)} is not a replica count`,
				fix: 'choose a whole number from 1 to 9: 3 keeps every table through the loss of one server (a majority of 3 survives), 1 keeps one copy only',
			};
		},
		// The tables step applies a new count to every table on the next up.
		changeable: true,
		profile: false,
		json: 'integer',
	}),
	field<'encryptOverlay', boolean>({
		key: 'encryptOverlay',
		flag: 'encrypt-overlay',
		negatable: true,
		help: 'IPsec on the overlay (default off: neither provider carries it)',
		// IPsec between nested engines does not carry traffic on every host
		// (see the testbed notes), and DigitalOcean's Cloud Firewall cannot
		// pass ESP (see its provider): off unless asked for.
		fallback: () => false,
		parse: input => ({value: flagValue(input)}),
		changeable: false,
		profile: false,
		json: 'boolean',
	}),
	field<'tls', boolean>({
		key: 'tls',
		flag: 'tls',
		negatable: true,
		help: "TLS between the database servers and to their clients, with the\ncluster's own CA (on an existing cluster: one restart of every server)",
		// Off until every client of a cluster (the e2e suites, benches) connects with the CA: docs/tls.md.
		fallback: () => false,
		// Clusters saved before swarmbee had TLS run plain until `up --tls` moves them (matters once the default is on).
		savedBefore: false,
		parse: input => ({value: flagValue(input)}),
		// The deploy step moves the servers over, all at once (a TLS server and a plain one cannot talk).
		changeable: true,
		profile: false,
		json: 'boolean',
	}),
	field<'sshFrom', string[]>({
		key: 'sshFrom',
		flag: 'ssh-from',
		value: 'CIDR[,CIDR]',
		help: 'who may reach SSH, the only public port (default: anywhere)',
		fallback: () => SSH_FROM_ANYWHERE,
		parse: input => {
			const sources = (Array.isArray(input) ? input.map(String) : (text(input) ?? '').split(','))
				.map(c => c.trim())
				.filter(Boolean);
			const bad = sources.filter(source => !isCidrOrAddress(source));
			if (sources.length > 0 && bad.length === 0) return {value: sources};
			return {
				problem:
					sources.length === 0
						? 'no source is allowed to reach SSH, so swarmbee could not reach the nodes either'
						: `${bad.join(', ')} ${bad.length === 1 ? 'is' : 'are'} not an IP address or CIDR`,
				fix: 'give addresses or CIDRs separated by commas, e.g. 203.0.113.7/32,198.51.100.0/24 (default: anywhere)',
			};
		},
		changeable: false,
		profile: false,
		json: 'string-list',
	}),
	field<'playbook', string, true>({
		key: 'playbook',
		flag: 'playbook',
		value: 'FILE|none',
		help: "your own Ansible playbook, run on every node after swarmbee's\n(remembered; none forgets it)",
		fallback: () => undefined,
		optional: true,
		parse: input => ({value: String(input)}),
		changeable: true,
		profile: false,
		json: 'string',
	}),
	field<'database', (typeof DATABASES)[number]>({
		key: 'database',
		flag: 'database',
		value: 'rethinkdb|none',
		help: 'RethinkDB on every node (default), or the Swarm only',
		fallback: () => 'rethinkdb',
		parse: oneOf(
			DATABASES,
			written => `"${written}" is not a database swarmbee deploys`,
			'use rethinkdb (the default) or none (the Swarm only)',
		),
		changeable: false,
		profile: true,
		json: 'string',
	}),
	field<'rethinkdbImage', string>({
		key: 'rethinkdbImage',
		flag: 'rethinkdb-image',
		value: 'IMAGE',
		help: `default ${DEFAULT_RETHINKDB_IMAGE}`,
		fallback: () => DEFAULT_RETHINKDB_IMAGE,
		parse: input => {
			const image = text(input)?.trim() || DEFAULT_RETHINKDB_IMAGE;
			if (/^[a-z0-9][a-z0-9._\-/:@]*$/i.test(image)) return {value: image};
			return {
				problem: `"${image}" is not an image reference`,
				fix: `e.g. ${DEFAULT_RETHINKDB_IMAGE} or registry.example.com/rethinkdb:2.4.4`,
			};
		},
		// A deploy with another image would restart every server at once: upgrade moves them one at a time.
		changeable: false,
		changeWith: (cluster, image) =>
			`to move its servers to another image one at a time: swarmbee upgrade ${cluster} --rethinkdb-image ${image}`,
		profile: true,
		json: 'string',
	}),
	field<'sideLoad', boolean>({
		key: 'sideLoad',
		flag: 'side-load',
		help: 'load the image from this machine into nodes instead of pulling\n(always so on the local provider)',
		fallback: () => false,
		parse: input => ({value: flagValue(input)}),
		changeable: true,
		profile: false,
		json: 'boolean',
	}),
] as const;

type Field = (typeof SPEC_FIELDS)[number];
export type SpecFieldKey = Field['key'];
type ValueOf<F> = F extends SpecField<string, infer V> ? V : never;
type IsOptional<F> = F extends {optional?: true} ? true : false;

/** The settings' values, one property per entry of SPEC_FIELDS (optional ones optional). */
export type SpecValues = {[F in Field as IsOptional<F> extends true ? never : F['key']]: ValueOf<F>} & {
	[F in Field as IsOptional<F> extends true ? F['key'] : never]?: ValueOf<F>;
};

/** Rules between fields, given the values that parsed (a field with a problem is absent). */
export const SPEC_RULES: ReadonlyArray<{
	flag: string;
	check: (values: Partial<SpecValues>) => {problem: string; fix: string} | undefined;
}> = [
	{
		flag: 'workers',
		check: v =>
			v.provider !== 'digitalocean' && v.workers !== undefined && v.workers > MAX_WORKERS
				? {
						problem: `${v.workers} workers is more than the local engine takes (${MAX_WORKERS}): every node is a container on this machine`,
						fix: `choose at most --workers ${MAX_WORKERS} locally, or --provider digitalocean for more`,
					}
				: undefined,
	},
	{
		flag: 'managers',
		check: v =>
			v.managers === 3 && v.workers !== undefined && v.workers < 2
				? {
						problem: '3 managers needs at least 2 workers (swarmbee promotes workerbee-1 and workerbee-2)',
						fix: 'pass --workers 2 or more, or --managers 1',
					}
				: undefined,
	},
];

/**
 * A saved spec's fields, with the meaning of those it lacks because it was
 * written before they existed (`savedBefore`): a cluster built without TLS
 * stays so until asked, although new clusters get TLS.
 */
export function asSavedBefore<T extends Record<string, unknown>>(saved: T): T {
	const filled: Record<string, unknown> = {...saved};
	for (const f of SPEC_FIELDS as readonly SpecField[])
		if (filled[f.key] === undefined && f.savedBefore !== undefined) filled[f.key] = f.savedBefore;
	return filled as T;
}

/** Loose input, as it comes from flags (text), a profile, a saved spec or the wizard (values). */
export type SpecFieldInput = {
	[K in SpecFieldKey]?: ValueOf<Extract<Field, {key: K}>> | string | number | boolean | string[];
};

function specField(key: SpecFieldKey): Field {
	return SPEC_FIELDS.find(f => f.key === key)!;
}

/** A field's default for a provider (the wizard offers these). */
export function fieldDefault<K extends SpecFieldKey>(
	key: K,
	provider: ProviderName,
): ValueOf<Extract<Field, {key: K}>> {
	return specField(key).fallback(provider) as ValueOf<Extract<Field, {key: K}>>;
}

/** A wizard answer checked by the field's own parser: true, or the same words the flag would get. */
export function checkAnswer(key: SpecFieldKey, answer: unknown, provider: ProviderName): true | string {
	const f = specField(key) as SpecField;
	const parsed = f.parse(answer, {provider, fallback: f.fallback(provider)});
	return 'problem' in parsed ? `${parsed.problem}: ${parsed.fix}` : true;
}

/** node:util parseArgs options for every field: `--memory-limit` takes text, `--side-load` is a switch. */
export function specParseOptions(): Record<string, {type: 'string' | 'boolean'}> {
	const options: Record<string, {type: 'string' | 'boolean'}> = {};
	for (const f of SPEC_FIELDS as readonly SpecField[]) {
		options[f.flag] = {type: f.value ? 'string' : 'boolean'};
		if (f.negatable) options[`no-${f.flag}`] = {type: 'boolean'};
	}
	return options;
}

/**
 * The fields given on the command line, as loose input (absent flags stay
 * absent). A switch and its `--no-` form together are refused.
 */
export function specInputFromFlags(values: Record<string, string | boolean | undefined>): SpecFieldInput {
	const input: Record<string, unknown> = {};
	for (const f of SPEC_FIELDS as readonly SpecField[]) {
		if (f.value) {
			if (values[f.flag] !== undefined) input[f.key] = values[f.flag];
			continue;
		}
		const on = values[f.flag] === true;
		const off = f.negatable === true && values[`no-${f.flag}`] === true;
		if (on && off)
			throw new InputError(`--${f.flag} and --no-${f.flag} contradict each other`, {nextSteps: ['pass one of them']});
		if (on) input[f.key] = true;
		else if (off) input[f.key] = false;
	}
	return input as SpecFieldInput;
}

/**
 *     --memory-limit SIZE              memory per database server, e.g. 450m, 1g (default 450m)
 *     --encrypt-overlay / --no-encrypt-overlay
 *                                      IPsec on the overlay (default off: …)
 */
export function specUsageLines(width = 33): string[] {
	const lines: string[] = [];
	for (const f of SPEC_FIELDS as readonly SpecField[]) {
		const left = f.value ? `--${f.flag} ${f.value}` : f.negatable ? `--${f.flag} / --no-${f.flag}` : `--${f.flag}`;
		const [first, ...more] = f.help.split('\n');
		if (left.length < width) lines.push(`  ${left.padEnd(width)}${first}`);
		else lines.push(`  ${left}`, `  ${' '.repeat(width)}${first}`);
		for (const line of more) lines.push(`  ${' '.repeat(width)}${line}`);
	}
	return lines;
}

/** The flags that answer the wizard's questions: `[--provider local|digitalocean] [--workers N] …`. */
export function profileFlagsUsage(): string {
	return (SPEC_FIELDS as readonly SpecField[])
		.filter(f => f.profile)
		.map(f => `[--${f.flag}${f.value ? ` ${f.value}` : ''}]`)
		.join(' ');
}

/** The keys a profile keeps (what the wizard asks). */
export const PROFILE_KEYS = (SPEC_FIELDS as readonly SpecField[])
	.filter(f => f.profile)
	.map(f => f.key as SpecFieldKey);

const JSON_TYPES = {
	string: {type: 'string'},
	integer: {type: 'integer'},
	boolean: {type: 'boolean'},
	'string-list': {type: 'array', items: {type: 'string'}},
} as const;

/** JSON Schema of one saved profile, for conf to check profiles.json against. */
export function profileSchema(): object {
	const properties: Record<string, object> = {savedAt: {type: 'string'}};
	for (const f of SPEC_FIELDS as readonly SpecField[]) if (f.profile) properties[f.key] = JSON_TYPES[f.json];
	return {type: 'object', properties, additionalProperties: false};
}
