import {CancelledError, InputError} from '../errors.js';
import {registerSecret} from '../redact.js';
import {formatTable} from '../render/format.js';
import {checkAnswer, fieldDefault, MAX_WORKERS, parseMemoryLimit} from '../spec-fields.js';
import {checkName, formatMemory, memoryFitProblem, planNodes, resolveSpec, type ClusterSpec, type ProviderName} from '../spec.js';
import type {ClusterStore} from '../store/cluster-store.js';
import type {CatalogAccount, CatalogFor, CatalogSize} from './catalog.js';
import {profileOf, type ProfileStore} from './profiles.js';
import type {WizardPrompts} from './prompts.js';

export const TOKEN_ENV = 'DIGITALOCEAN_ACCESS_TOKEN';

export interface WizardDeps {
	prompts: WizardPrompts;
	catalogFor: CatalogFor;
	clusters: ClusterStore;
	profiles: ProfileStore;
	env: NodeJS.ProcessEnv;
}

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
	return `${size.slug.padEnd(20)} ${formatMemory(size.memoryMb * 1024 * 1024)} RAM, ${size.vcpus} vCPU${size.vcpus === 1 ? '' : 's'}${price}`;
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
	const rows = nodes.map(n => [n.name, n.role, spec.size, formatMemory(size.memoryMb * 1024 * 1024), String(size.vcpus), billed ? size.priceMonthly.toFixed(2) : '-']);
	const lines = [
		`${spec.name} on ${spec.provider}, region ${spec.region}, image ${spec.image}`,
		...formatTable([['NODE', 'ROLE', 'SIZE', 'RAM', 'vCPUs', '$/MONTH'], ...rows]),
		`${spec.database === 'none' ? 'no database' : `RethinkDB (${spec.rethinkdbImage}): one server per node, ${spec.memoryLimit} of memory each`}; overlay ${spec.encryptOverlay ? 'encrypted (IPsec)' : 'not encrypted'}`,
	];
	lines.push(billed
		? `monthly cost: ${money(size.priceMonthly * nodes.length)} (about $${(size.priceHourly * nodes.length).toFixed(3)} an hour while it exists)`
		: 'monthly cost: nothing billed (local containers on this machine)');
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
 * The guided first-time setup. Asks, in order: provider; name; for
 * DigitalOcean the token (from $DIGITALOCEAN_ACCESS_TOKEN when set; checked
 * live, showing the account and droplet limit); size; region (only those
 * that can run the size); image; workers (within the droplet limit);
 * managers; memory per database server (within the size's RAM). Then a
 * summary of every node with the monthly cost, and a confirmation.
 *
 * Answers become a ClusterSpec through resolveSpec (the one validation),
 * and are saved as a profile; the token is saved only if the user says so.
 * Ctrl-C in any prompt throws CancelledError: nothing was created.
 */
export async function runWizard(deps: WizardDeps): Promise<WizardResult> {
	const {prompts, clusters, profiles, env} = deps;

	const provider = await prompts.select<ProviderName>({
		message: 'Where should the nodes run?',
		choices: [
			{value: 'local', name: 'local: containers on this machine\'s Docker engine', description: 'free, needs only Docker', disabled: deps.catalogFor('local').unavailable ?? false},
			{value: 'digitalocean', name: 'digitalocean: droplets in your DigitalOcean account', description: 'billed by DigitalOcean while the cluster exists', disabled: deps.catalogFor('digitalocean').unavailable ?? false},
		],
	});
	// The defaults flags would get, from SPEC_FIELDS.
	const defaults = {
		size: fieldDefault('size', provider), region: fieldDefault('region', provider), image: fieldDefault('image', provider),
		workers: fieldDefault('workers', provider), memoryLimit: fieldDefault('memoryLimit', provider), rethinkdbImage: fieldDefault('rethinkdbImage', provider),
	};

	const name = await prompts.input({
		message: 'Cluster name',
		default: freeName(clusters),
		validate: value => {
			const problem = checkName(value.trim());
			if (problem) return `${problem.problem}: ${problem.fix}`;
			if (clusters.exists(value.trim())) return `a cluster named ${value.trim()} exists already; resume it with swarmbee up ${value.trim()}, or choose another name`;
			return true;
		},
	}).then(value => value.trim());

	let token: string | undefined;
	let account: CatalogAccount | undefined;
	let typedToken = false;
	if (provider === 'digitalocean') {
		const fromEnv = env[TOKEN_ENV]?.trim() || profiles.loadToken(name);
		if (fromEnv) {
			registerSecret(fromEnv);
			account = await deps.catalogFor(provider, fromEnv).validateToken(fromEnv);
			token = fromEnv;
			prompts.say(`Using the token from ${env[TOKEN_ENV]?.trim() ? `$${TOKEN_ENV}` : profiles.tokenFile(name)}`);
		} else {
			token = await prompts.password({
				message: 'DigitalOcean API token (read and write)',
				validate: async value => {
					const candidate = value.trim();
					if (!candidate) return 'paste a token from https://cloud.digitalocean.com/account/api/tokens';
					registerSecret(candidate);
					try {
						account = await deps.catalogFor(provider, candidate).validateToken(candidate);
						return true;
					} catch (error) {
						return (error as Error).message;
					}
				},
			}).then(value => value.trim());
			typedToken = true;
		}
		if (!account) throw new InputError('the token could not be checked');
		prompts.say(`✔ account ${account.email}: droplet limit ${account.dropletLimit}, ${account.dropletCount} in use`);
	}
	const catalog = deps.catalogFor(provider, token);

	const sizes = (await catalog.sizes()).filter(s => s.available !== false);
	const sizeSlug = await prompts.select({
		message: 'Size of each node',
		default: sizes.some(s => s.slug === defaults.size) ? defaults.size : sizes[0]?.slug,
		choices: sizes.map(s => ({value: s.slug, name: describeSize(s)})),
	});
	const size = sizes.find(s => s.slug === sizeSlug)!;

	const regions = (await catalog.regions()).filter(r => r.available && size.regions.includes(r.slug) && (r.sizes.length === 0 || r.sizes.includes(size.slug)));
	if (regions.length === 0) throw new InputError(`no region can create ${size.slug} now`, {nextSteps: ['run swarmbee again and choose another size']});
	const region = regions.length === 1
		? regions[0]!.slug
		: await prompts.select({
			message: `Region (those that can run ${size.slug})`,
			default: regions.some(r => r.slug === defaults.region) ? defaults.region : regions[0]!.slug,
			choices: regions.map(r => ({value: r.slug, name: `${r.slug.padEnd(6)} ${r.name}`})),
		});
	if (regions.length === 1) prompts.say(`Region: ${regions[0]!.slug} (${regions[0]!.name})`);

	const images = await catalog.images();
	const image = images.length === 1
		? images[0]!.slug
		: await prompts.select({
			message: 'Image',
			default: images.some(i => i.slug === defaults.image) ? defaults.image : images[0]?.slug,
			choices: images.map(i => ({value: i.slug, name: `${i.slug.padEnd(16)} ${i.name}`})),
		});
	if (images.length === 1) prompts.say(`Image: ${images[0]!.slug} (${images[0]!.name})`);

	const room = account ? account.dropletLimit - account.dropletCount - 1 : MAX_WORKERS;
	const workers = Number(await prompts.input({
		message: `Workers besides queenbee (1-${Math.min(MAX_WORKERS, Math.max(1, room))})`,
		default: String(Math.max(1, Math.min(defaults.workers, room))),
		validate: value => {
			const n = Number(value.trim());
			if (!/^\d+$/.test(value.trim()) || n < 1 || n > MAX_WORKERS) return `a whole number from 1 to ${MAX_WORKERS}`;
			if (account && n > room) return `your account may have ${account.dropletLimit} droplets and has ${account.dropletCount}: at most ${Math.max(0, room)} workers fit (ask DigitalOcean to raise the limit for more)`;
			return true;
		},
	}));

	const managers = await prompts.select<1 | 3>({
		message: 'Swarm managers',
		choices: [
			{value: 1, name: '1: simplest (queenbee)'},
			{value: 3, name: '3: survives the loss of one (workerbee-1 and -2 join as managers)', disabled: workers < 2 ? 'needs 2 or more workers' : false},
		],
	});

	const database = await prompts.select<'rethinkdb' | 'none'>({
		message: 'Database',
		choices: [
			{value: 'rethinkdb', name: 'RethinkDB: one server per node, admin panel through an SSH tunnel'},
			{value: 'none', name: 'none: the Swarm only'},
		],
	});
	if (database === 'none') {
		const spec = resolveSpec({name, provider, managers, workers, size: size.slug, region, image, database});
		return finish(spec);
	}
	const rethinkdbImage = await prompts.input({
		message: 'RethinkDB image',
		default: defaults.rethinkdbImage,
		validate: value => checkAnswer('rethinkdbImage', value, provider),
	}).then(value => value.trim());

	const memoryLimit = await prompts.input({
		message: `Memory limit per database server (${formatMemory(size.memoryMb * 1024 * 1024)} RAM per node)`,
		default: memoryFitProblem({memoryLimit: defaults.memoryLimit, size: size.slug}, size.memoryMb) ? `${Math.floor(size.memoryMb * 0.9)}m` : defaults.memoryLimit,
		validate: value => {
			const parsed = parseMemoryLimit(value);
			// The field's own parser: the same words as for --memory-limit.
			if ('problem' in parsed) return `${parsed.problem}: ${parsed.fix}`;
			const fit = memoryFitProblem({memoryLimit: parsed.value, size: size.slug, ...parsed.derived}, size.memoryMb);
			return fit ? `${fit.problem}; ${fit.fix}` : true;
		},
	}).then(value => value.trim());

	return finish(resolveSpec({name, provider, managers, workers, size: size.slug, region, image, memoryLimit, database, rethinkdbImage}));

	async function finish(spec: ClusterSpec): Promise<WizardResult> {
	for (const line of formatPlanSummary(spec, size)) prompts.say(line);
	if (!(await prompts.confirm({message: `Create ${name}?`, default: true}))) throw new CancelledError('nothing was created.');

	profiles.save(name, profileOf(spec));
	let tokenFile: string | undefined;
	if (token && typedToken && (await prompts.confirm({message: `Save the token for next time? (a file of its own, readable only by you: ${profiles.tokenFile(name)})`, default: false}))) {
		tokenFile = profiles.saveToken(name, token);
	}
	const tokenNote = tokenFile ? `; token in ${tokenFile} (0600)` : token ? '; the token was not saved' : '';
	prompts.say(`Answers saved as profile ${name} in ${profiles.file}${tokenNote}`);
	return {spec, profile: name, ...(token ? {token} : {}), ...(tokenFile ? {tokenFile} : {})};
	}
}
