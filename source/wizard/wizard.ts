import {CancelledError, InputError} from '../errors.js';
import {registerSecret} from '../redact.js';
import {counted, formatTable} from '../render/format.js';
import {checkAnswer, fieldDefault, MAX_WORKERS, parseMemoryLimit} from '../spec-fields.js';
import {
	checkName,
	formatMemory,
	memoryFitProblem,
	planNodes,
	resolveSpec,
	type ClusterSpec,
	type ProviderName,
} from '../spec.js';
import type {ClusterStore} from '../store/cluster-store.js';
import type {TokenSink} from '../store/tokens.js';
import type {DatabaseImageChoice} from '../docker/database-images.js';
import type {CatalogAccount, CatalogFor, CatalogSize} from './catalog.js';
import {profileOf, type ProfileStore} from './profiles.js';
import type {WizardPrompts} from './prompts.js';

export const TOKEN_ENV = 'DIGITALOCEAN_ACCESS_TOKEN';

/** The database image question's last choice: a name to type (and have checked). */
const ANOTHER_IMAGE = '\u0000another';

export interface WizardDeps {
	prompts: WizardPrompts;
	catalogFor: CatalogFor;
	clusters: ClusterStore;
	profiles: ProfileStore;
	env: NodeJS.ProcessEnv;
	/** Where the token the wizard found or asked for goes, in memory, for the run that follows (the session's credentials). */
	credentials?: TokenSink;
	/** Saved answers to start from (a profile, e.g. of a create that stopped before anything existed): each question offers its answer. */
	from?: {name: string; answers: SavedAnswers};
}

/** A profile's answers, as the wizard takes them back. */
export type SavedAnswers = ReturnType<typeof profileOf>;

interface WizardResult {
	spec: ClusterSpec;
	/** The profile the answers were saved as (named after the cluster). */
	profile: string;
	/** The DigitalOcean token, in memory only; saved to its own file only if the user asked. */
	token?: string;
	tokenFile?: string;
}

function money(dollars: number): string {
	return `$${dollars.toFixed(2)}`;
}

/** `s-1vcpu-1gb  1 GiB RAM, 1 vCPU, $6.00/month` */
export function describeSize(size: CatalogSize): string {
	const price = size.priceMonthly > 0 ? `, ${money(size.priceMonthly)}/month` : '';
	return `${size.slug.padEnd(20)} ${formatMemory(size.memoryMb * 1024 * 1024)} RAM, ${counted(size.vcpus, 'vCPU')}${price}`;
}

/**
 * Every node and what it costs, before anything is created:
 *
 *     demo on digitalocean, region nyc3, image debian-12-x64
 *     NODE         ROLE     SIZE         RAM    vCPUs  $/MONTH
 *     queenbee     manager  s-1vcpu-1gb  1 GiB  1      6.00
 *     workerbee-1  worker   s-1vcpu-1gb  1 GiB  1      6.00
 *     RethinkDB: one server per node, 450m of memory each; overlay encrypted
 *     monthly cost: $12.00 (about $0.018 an hour)
 */
export function formatPlanSummary(spec: ClusterSpec, size: CatalogSize): string[] {
	const nodes = planNodes(spec);
	const billed = size.priceMonthly > 0;
	const rows = nodes.map(n => [
		n.name,
		n.role,
		spec.size,
		formatMemory(size.memoryMb * 1024 * 1024),
		String(size.vcpus),
		billed ? size.priceMonthly.toFixed(2) : '-',
	]);
	const lines = [
		`${spec.name} on ${spec.provider}, region ${spec.region}, image ${spec.image}`,
		...formatTable([['NODE', 'ROLE', 'SIZE', 'RAM', 'vCPUs', '$/MONTH'], ...rows]),
		`${spec.database === 'none' ? 'no database' : `RethinkDB (${spec.rethinkdbImage}): one server per node, ${spec.memoryLimit} of memory each`}; overlay ${spec.encryptOverlay ? 'encrypted (IPsec)' : 'not encrypted'}`,
	];
	lines.push(
		billed
			? `monthly cost: ${money(size.priceMonthly * nodes.length)} (about $${(size.priceHourly * nodes.length).toFixed(3)} an hour while it exists)`
			: 'monthly cost: nothing billed (local containers on this machine)',
	);
	return lines;
}

/** The first `demo`, `demo-2`, … that no saved cluster uses. */
function freeName(clusters: ClusterStore): string {
	for (let i = 1; ; i++) {
		const name = i === 1 ? 'demo' : `demo-${i}`;
		if (!clusters.exists(name)) return name;
	}
}

/**
 * A wizard answer's fix in the words of its questions, not of flags: the
 * answers' validators share the fields' parsers, whose fixes name flags.
 *
 *     use at most 921m, or a larger --size  →  use at most 921m, or a larger size (go back to "Size of each node" from the summary)
 */
const QUESTIONS: Record<string, string> = {
	size: 'Size of each node',
	region: 'Region',
	image: 'Image',
	workers: 'Workers besides queenbee',
	managers: 'Swarm managers',
	'memory-limit': 'Memory limit per database server',
	'rethinkdb-image': 'RethinkDB image',
	database: 'Database',
	provider: 'Where should the nodes run?',
};

export function inAnswerWords(text: string): string {
	return text
		.replace(/a larger --size\b/g, `a larger size (go back to "${QUESTIONS['size']}" from the summary)`)
		.replace(/--([a-z-]+)(?: ("[^"]*"|[^\s,;)]+))?/g, (whole, flag: string, value?: string) => {
			const question = QUESTIONS[flag];
			if (!question) return whole;
			// A placeholder (IMAGE, N) asks for another answer; a real value is the answer to give.
			if (!value || /^[A-Z|]+$/.test(value)) return `another answer to "${question}"`;
			// A shell substitution is something to run first: its output is the answer.
			const substituted = /^"\$\((.*)\)"$/.exec(value)?.[1];
			return substituted
				? `the output of \`${substituted}\` as the answer to "${question}"`
				: `${value} as the answer to "${question}"`;
		});
}

/**
 * The command line that builds the same cluster without questions (the
 * token stays in the environment: never a flag).
 *
 *     swarmbee up demo --provider digitalocean --workers 2 --size s-1vcpu-1gb --region nyc3 --image debian-12-x64 --memory-limit 450m
 */
export function equivalentCommand(spec: ClusterSpec): string {
	const flags: string[] = [`--provider ${spec.provider}`, `--workers ${spec.workers}`];
	if (spec.managers !== 1) flags.push(`--managers ${spec.managers}`);
	if (spec.provider !== 'local' || spec.size !== fieldDefault('size', spec.provider)) flags.push(`--size ${spec.size}`);
	if (spec.provider !== 'local') flags.push(`--region ${spec.region}`, `--image ${spec.image}`);
	if (spec.database === 'none') flags.push('--database none');
	else {
		if (spec.memoryLimit !== fieldDefault('memoryLimit', spec.provider))
			flags.push(`--memory-limit ${spec.memoryLimit}`);
		if (spec.rethinkdbImage !== fieldDefault('rethinkdbImage', spec.provider))
			flags.push(`--rethinkdb-image ${spec.rethinkdbImage}`);
	}
	return `swarmbee up ${spec.name} ${flags.join(' ')}`;
}

/** What the summary adds under the nodes: who reaches SSH, the overlay, the playbook, and the command line's heading. */
function summaryNotes(spec: ClusterSpec): string[] {
	const anywhere = spec.sshFrom.some(source => source === '0.0.0.0/0' || source === '::/0');
	return [
		`SSH (the only public port): from ${anywhere ? `anywhere (${spec.sshFrom.join(', ')}; --ssh-from CIDR narrows it)` : spec.sshFrom.join(', ')}`,
		`overlay network: ${spec.encryptOverlay ? 'encrypted (IPsec)' : 'not encrypted (--encrypt-overlay turns IPsec on where the provider carries it)'}`,
		`playbook: ${spec.playbook ? `${spec.playbook}, after swarmbee's` : "swarmbee's only (--playbook FILE adds yours)"}`,
		`the same without questions${spec.provider === 'digitalocean' ? ` (the token in $${TOKEN_ENV})` : ''}:`,
	];
}

/**
 * The guided first-time setup. Asks, in order: provider; name; for
 * DigitalOcean the token (from $DIGITALOCEAN_ACCESS_TOKEN when set; checked
 * live, showing the account and droplet limit; an account with no room for
 * two droplets stops here, saying why); size; region (only those that can
 * run the size); image (only those whose first boot swarmbee supports);
 * workers (within the droplet limit); managers; database; memory per
 * database server (within the size's RAM). Then a summary of every node
 * with the monthly cost, SSH exposure, encryption, playbook and the
 * equivalent command line, and a choice: create, change an answer (back to
 * that question, later answers kept as defaults), or cancel.
 *
 * Answers become a ClusterSpec through resolveSpec (the one validation),
 * and are saved as a profile; the token is saved only if the user says so.
 * Ctrl-C in any prompt throws CancelledError: nothing was created.
 */
export async function runWizard(deps: WizardDeps): Promise<WizardResult> {
	const {prompts, clusters, profiles, env} = deps;
	/** Every answer so far; asked again, a question offers its answer as the default. */
	const a: {
		provider?: ProviderName;
		name?: string;
		size?: CatalogSize;
		region?: string;
		image?: string;
		workers?: number;
		managers?: 1 | 3;
		database?: 'rethinkdb' | 'none';
		rethinkdbImage?: string;
		memoryLimit?: string;
	} = {};
	let token: string | undefined;
	let account: CatalogAccount | undefined;
	let typedToken = false;
	const saved = deps.from?.answers;
	if (deps.from) {
		a.name = deps.from.name;
		if (saved?.provider) a.provider = saved.provider;
		if (saved?.managers === 1 || saved?.managers === 3) a.managers = saved.managers;
		if (saved?.database) a.database = saved.database;
	}
	/** What a question offers first: the saved answer for this provider, else the field's default. */
	const defaultsFor = (provider: ProviderName) => {
		const mine = saved?.provider === provider ? saved : undefined;
		return {
			size: mine?.size ?? fieldDefault('size', provider),
			region: mine?.region ?? fieldDefault('region', provider),
			image: mine?.image ?? fieldDefault('image', provider),
			workers: mine?.workers ?? fieldDefault('workers', provider),
			memoryLimit: mine?.memoryLimit ?? fieldDefault('memoryLimit', provider),
			rethinkdbImage: mine?.rethinkdbImage ?? fieldDefault('rethinkdbImage', provider),
		};
	};

	interface Question {
		label: string;
		/** Shown in "change an answer". */
		answer: () => string;
		ask: () => Promise<void>;
		when?: () => boolean;
	}
	const questions: Question[] = [
		{
			label: 'Where should the nodes run?',
			answer: () => a.provider ?? '',
			ask: async () => {
				const provider = await prompts.select<ProviderName>({
					message: 'Where should the nodes run?',
					...(a.provider ? {default: a.provider} : {}),
					choices: [
						{
							value: 'local',
							name: "local: containers on this machine's Docker engine",
							description: 'free, needs only Docker',
							disabled: deps.catalogFor('local').unavailable ?? false,
						},
						{
							value: 'digitalocean',
							name: 'digitalocean: droplets in your DigitalOcean account',
							description: 'billed by DigitalOcean while the cluster exists',
							disabled: deps.catalogFor('digitalocean').unavailable ?? false,
						},
					],
				});
				// Another provider: what was chosen for the last one does not carry over.
				if (a.provider && a.provider !== provider)
					for (const key of ['size', 'region', 'image', 'workers', 'memoryLimit', 'rethinkdbImage'] as const)
						delete a[key];
				a.provider = provider;
			},
		},
		{
			label: 'Cluster name',
			answer: () => a.name ?? '',
			ask: async () => {
				a.name = await prompts
					.input({
						message: 'Cluster name',
						default: a.name ?? freeName(clusters),
						validate: value => {
							const problem = checkName(value.trim());
							if (problem) return `${problem.problem}: ${problem.fix}`;
							if (clusters.exists(value.trim()))
								return `a cluster named ${value.trim()} exists already; resume it from the start screen (swarmbee), or choose another name`;
							return true;
						},
					})
					.then(value => value.trim());
			},
		},
		{
			label: 'DigitalOcean API token',
			answer: () => (token ? 'given' : ''),
			when: () => a.provider === 'digitalocean',
			ask: async () => {
				const fromEnv = env[TOKEN_ENV]?.trim() || profiles.loadToken(a.name!);
				if (fromEnv && !typedToken) {
					registerSecret(fromEnv);
					account = await deps.catalogFor('digitalocean', fromEnv).validateToken(fromEnv);
					token = fromEnv;
					prompts.say(`Using the token from ${env[TOKEN_ENV]?.trim() ? `$${TOKEN_ENV}` : profiles.tokenFile(a.name!)}`);
				} else {
					token = await askToken(prompts, deps.catalogFor, found => (account = found));
					typedToken = true;
				}
				if (!account) throw new InputError('the token could not be checked');
				prompts.say(
					`✔ account ${account.email}: droplet limit ${account.dropletLimit}, ${account.dropletCount} in use`,
				);
				// A cluster is two droplets at least: with less room, no answer to the worker question could be right.
				const room = account.dropletLimit - account.dropletCount;
				if (room < 2) {
					throw new InputError(
						`your DigitalOcean account has room for ${Math.max(0, room)} more droplet${room === 1 ? '' : 's'}, and a cluster needs at least 2 (queenbee and one worker)`,
						{
							hint: `the account may have ${account.dropletLimit} droplets and has ${account.dropletCount}.`,
							nextSteps: [
								'remove droplets you do not need, or ask DigitalOcean to raise the limit (cloud.digitalocean.com → Settings → Team)',
								'then run swarmbee again; or build on this machine: choose local',
							],
						},
					);
				}
			},
		},
		{
			label: 'Size of each node',
			answer: () => a.size?.slug ?? '',
			ask: async () => {
				const sizes = (await deps.catalogFor(a.provider!, token).sizes()).filter(s => s.available !== false);
				const wanted = a.size?.slug ?? defaultsFor(a.provider!).size;
				const slug = await prompts.select({
					message: 'Size of each node',
					default: sizes.some(s => s.slug === wanted) ? wanted : sizes[0]?.slug,
					choices: sizes.map(s => ({value: s.slug, name: describeSize(s)})),
				});
				a.size = sizes.find(s => s.slug === slug)!;
			},
		},
		{
			label: 'Region',
			answer: () => a.region ?? '',
			ask: async () => {
				const size = a.size!;
				const regions = (await deps.catalogFor(a.provider!, token).regions()).filter(
					r => r.available && size.regions.includes(r.slug) && (r.sizes.length === 0 || r.sizes.includes(size.slug)),
				);
				if (regions.length === 0)
					throw new InputError(`no region can create ${size.slug} now`, {
						nextSteps: ['run swarmbee again and choose another size'],
					});
				a.region = await chooseOne(prompts, regions, a.region ?? defaultsFor(a.provider!).region, {
					label: 'Region',
					message: `Region (those that can run ${size.slug})`,
					name: r => `${r.slug.padEnd(6)} ${r.name}`,
				});
			},
		},
		{
			label: 'Image',
			answer: () => a.image ?? '',
			ask: async () => {
				const images = await deps.catalogFor(a.provider!, token).images();
				a.image = await chooseOne(prompts, images, a.image ?? defaultsFor(a.provider!).image, {
					label: 'Image',
					message:
						a.provider === 'digitalocean'
							? "Image (Debian and Ubuntu only: a node's first boot uses apt and `service ssh`)"
							: 'Image',
					name: i => `${i.slug.padEnd(16)} ${i.name}`,
				});
			},
		},
		{
			label: 'Workers besides queenbee',
			answer: () => String(a.workers ?? ''),
			ask: async () => {
				const room = account ? account.dropletLimit - account.dropletCount - 1 : MAX_WORKERS;
				const most = Math.min(MAX_WORKERS, Math.max(1, room));
				a.workers = Number(
					await prompts.input({
						message: `Workers besides queenbee (1-${most})`,
						default: String(Math.max(1, Math.min(a.workers ?? defaultsFor(a.provider!).workers, room))),
						validate: value => {
							const n = Number(value.trim());
							if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_WORKERS) return `a whole number from 1 to ${most}`;
							if (account && n > room)
								return `your account may have ${account.dropletLimit} droplets and has ${account.dropletCount}: at most ${Math.max(0, room)} workers fit (ask DigitalOcean to raise the limit for more)`;
							return true;
						},
					}),
				);
			},
		},
		{
			label: 'Swarm managers',
			answer: () => String(a.managers ?? ''),
			ask: async () => {
				a.managers = await prompts.select<1 | 3>({
					message: 'Swarm managers',
					...(a.managers && (a.managers === 1 || a.workers! >= 2) ? {default: a.managers} : {}),
					choices: [
						{value: 1, name: '1: simplest (queenbee)'},
						{
							value: 3,
							name: '3: survives the loss of one (workerbee-1 and -2 join as managers)',
							disabled: a.workers! < 2 ? 'needs 2 or more workers' : false,
						},
					],
				});
			},
		},
		{
			label: 'Database',
			answer: () => a.database ?? '',
			ask: async () => {
				a.database = await prompts.select<'rethinkdb' | 'none'>({
					message: 'Database',
					...(a.database ? {default: a.database} : {}),
					choices: [
						{value: 'rethinkdb', name: 'RethinkDB: one server per node, admin panel through an SSH tunnel'},
						{value: 'none', name: 'none: the Swarm only'},
					],
				});
			},
		},
		{
			label: 'RethinkDB image',
			answer: () => a.rethinkdbImage ?? '',
			when: () => a.database === 'rethinkdb',
			ask: async () => {
				const wanted = a.rethinkdbImage ?? defaultsFor(a.provider!).rethinkdbImage;
				const images = deps.catalogFor(a.provider!, token).databaseImages;
				const formatProblem = (value: string) => {
					const verdict = checkAnswer('rethinkdbImage', value, a.provider!);
					return verdict === true ? undefined : inAnswerWords(verdict);
				};
				// Nodes that pull it themselves: only its name can be checked here.
				if (!images) {
					a.rethinkdbImage = await prompts
						.input({message: 'RethinkDB image', default: wanted, validate: value => formatProblem(value) ?? true})
						.then(value => value.trim());
					return;
				}
				// Nodes load it from this engine: offer what it can give them, checked now rather than after "create".
				const offered = await images.offer(wanted);
				const width = Math.max(...offered.map(c => c.image.length));
				const usable = offered.filter(c => c.usable);
				const picked = await prompts.select<string>({
					message: 'RethinkDB image (nodes load it from this Docker engine)',
					default: usable.some(c => c.image === wanted) ? wanted : (usable[0]?.image ?? ANOTHER_IMAGE),
					choices: [
						// Short in the list (inquirer cuts a long line mid-word); said in full under the one highlighted.
						...offered.map(c => ({
							value: c.image,
							name: c.usable ? `${c.image.padEnd(width)}  ${c.short}` : c.image,
							description: c.says,
							disabled: c.usable ? (false as const) : c.short,
						})),
						{value: ANOTHER_IMAGE, name: 'another image (type its name; it is checked here)'},
					],
				});
				if (picked !== ANOTHER_IMAGE) {
					a.rethinkdbImage = picked;
					return;
				}
				let found: DatabaseImageChoice | undefined;
				a.rethinkdbImage = await prompts
					.input({
						message: 'RethinkDB image',
						...(usable.some(c => c.image === wanted) ? {} : {default: wanted}),
						validate: async value => {
							const problem = formatProblem(value);
							if (problem) return problem;
							found = await images.check(value.trim());
							return found.usable
								? true
								: `${value.trim()} is ${found.says}: pull or load it into this engine first, choose another, or answer "none" to "Database"`;
						},
					})
					.then(value => value.trim());
				if (found) prompts.say(`RethinkDB image ${found.image}: ${found.says}`);
			},
		},
		{
			label: 'Memory limit per database server',
			answer: () => a.memoryLimit ?? '',
			when: () => a.database === 'rethinkdb',
			ask: async () => {
				const size = a.size!;
				const fallback = defaultsFor(a.provider!).memoryLimit;
				const suggested =
					a.memoryLimit ??
					(memoryFitProblem({memoryLimit: fallback, size: size.slug}, size.memoryMb)
						? `${Math.floor(size.memoryMb * 0.9)}m`
						: fallback);
				a.memoryLimit = await prompts
					.input({
						message: `Memory limit per database server (${formatMemory(size.memoryMb * 1024 * 1024)} RAM per node)`,
						default: suggested,
						validate: value => {
							const parsed = parseMemoryLimit(value);
							// The field's own parser: the same words as for --memory-limit, said of answers.
							if ('problem' in parsed) return inAnswerWords(`${parsed.problem}: ${parsed.fix}`);
							const fit = memoryFitProblem(
								{memoryLimit: parsed.value, size: size.slug, ...parsed.derived},
								size.memoryMb,
							);
							return fit ? inAnswerWords(`${fit.problem}; ${fit.fix}`) : true;
						},
					})
					.then(value => value.trim());
			},
		},
	];

	let from = 0;
	for (;;) {
		for (let i = from; i < questions.length; i++) {
			const question = questions[i]!;
			if (question.when && !question.when()) continue;
			await question.ask();
		}
		const spec = resolveSpec({
			name: a.name!,
			provider: a.provider!,
			managers: a.workers! < 2 ? 1 : a.managers!,
			workers: a.workers!,
			size: a.size!.slug,
			region: a.region!,
			image: a.image!,
			database: a.database!,
			...(a.database === 'rethinkdb' ? {memoryLimit: a.memoryLimit!, rethinkdbImage: a.rethinkdbImage!} : {}),
		});
		for (const line of [...formatPlanSummary(spec, a.size!), ...summaryNotes(spec)]) prompts.say(line);
		// On a line of its own, as it is to be pasted: continued with `\` where the terminal is narrower, never indented.
		prompts.say(equivalentCommand(spec), {command: true});
		const next = await prompts.select<boolean | 'change'>({
			message: `Create ${spec.name}?`,
			default: true,
			choices: [
				{value: true, name: `yes, create ${spec.name}`},
				{value: 'change', name: 'change an answer first'},
				{value: false, name: 'no, cancel (nothing is created)'},
			],
		});
		if (next === false) throw new CancelledError('nothing was created.');
		if (next === true) return finish(spec);
		const asked = questions.map((q, i) => ({q, i})).filter(({q}) => !q.when || q.when());
		from = await prompts.select<number>({
			message: 'Which answer? (later questions are asked again, with your answers as defaults)',
			choices: asked.map(({q, i}) => ({value: i, name: `${q.label}: ${q.answer()}`})),
		});
		// Asked again on purpose: a token from the environment is not re-read, a typed one is typed again.
		if (questions[from]!.label === 'DigitalOcean API token') typedToken = true;
	}

	async function finish(spec: ClusterSpec): Promise<WizardResult> {
		const name = spec.name;
		profiles.save(name, profileOf(spec));
		let tokenFile: string | undefined;
		if (
			token &&
			typedToken &&
			(await prompts.confirm({
				message: `Save the token for next time? (a file of its own, readable only by you: ${profiles.tokenFile(name)})`,
				default: false,
			}))
		) {
			tokenFile = profiles.saveToken(name, token);
		}
		const tokenNote = tokenFile ? `; token in ${tokenFile} (0600)` : token ? '; the token was not saved' : '';
		prompts.say(`Answers saved as profile ${name} in ${profiles.file}${tokenNote}`);
		if (token) deps.credentials?.hand(spec.provider, token);
		return {spec, profile: name, ...(token ? {token} : {}), ...(tokenFile ? {tokenFile} : {})};
	}
}

/** One choice is said, not asked (`Region: local (this machine's Docker engine)`); more are a select, the wanted one first chosen. */
async function chooseOne<T extends {slug: string; name: string}>(
	prompts: WizardPrompts,
	items: T[],
	wanted: string,
	ask: {label: string; message: string; name: (item: T) => string},
): Promise<string> {
	if (items.length === 1) {
		prompts.say(`${ask.label}: ${items[0]!.slug} (${items[0]!.name})`);
		return items[0]!.slug;
	}
	return prompts.select({
		message: ask.message,
		default: items.some(i => i.slug === wanted) ? wanted : items[0]?.slug,
		choices: items.map(i => ({value: i.slug, name: ask.name(i)})),
	});
}

/**
 * The masked token question, checked live: the wizard's, and the start
 * screen's when a saved DigitalOcean cluster has no token at hand.
 */
export async function askToken(
	prompts: WizardPrompts,
	catalogFor: CatalogFor,
	onAccount: (account: CatalogAccount) => void = () => {},
): Promise<string> {
	return prompts
		.password({
			message: 'DigitalOcean API token (read and write)',
			validate: async value => {
				const candidate = value.trim();
				if (!candidate) return 'paste a token from https://cloud.digitalocean.com/account/api/tokens';
				registerSecret(candidate);
				try {
					onAccount(await catalogFor('digitalocean', candidate).validateToken(candidate));
					return true;
				} catch (error) {
					return (error as Error).message;
				}
			},
		})
		.then(value => value.trim());
}
