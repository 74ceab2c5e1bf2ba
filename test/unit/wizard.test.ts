import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {PassThrough} from 'node:stream';
import {stripVTControlCharacters} from 'node:util';
import {execa} from 'execa';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {CancelledError, InputError} from '../../source/errors.js';
import {resolveSpec} from '../../source/spec.js';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {catalogsFor, localCatalog, type CatalogFor, type WizardCatalog} from '../../source/wizard/catalog.js';
import {startEmulator} from '../emulator/server.js';
import {ProfileStore, profileInput} from '../../source/wizard/profiles.js';
import type {Choice, WizardPrompts} from '../../source/wizard/prompts.js';
import {runStartScreen} from '../../source/wizard/start.js';
import {formatPlanSummary, inAnswerWords, runWizard} from '../../source/wizard/wizard.js';

/** Ctrl-C at this prompt (what inquirerPrompts turns ExitPromptError into). */
const CTRL_C = Symbol('ctrl-c');

interface Typed {
	rejected: string[];
	value: string;
}

type Answer = unknown;

function isTyped(answer: Answer): answer is Typed {
	return typeof answer === 'object' && answer !== null && 'rejected' in answer;
}

/**
 * A stand-in for the terminal prompts: answers in order, each checked
 * against the question it answers; typed answers go through the prompt's own
 * validate, and `rejected` ones must fail it (their messages are kept).
 * It does not cover inquirer's key handling; the tmux test does.
 */
function scripted(script: Array<[RegExp, Answer]>) {
	const asked: Array<{kind: string; message: string; choices?: Array<Choice<unknown>>; default?: unknown}> = [];
	const said: string[] = [];
	const rejections: string[] = [];
	const next = async (
		kind: string,
		options: {
			message: string;
			choices?: Array<Choice<unknown>>;
			default?: unknown;
			validate?: (v: string) => true | string | Promise<true | string>;
		},
	) => {
		asked.push({kind, message: options.message, choices: options.choices, default: options.default});
		const step = script.shift();
		if (!step) throw new Error(`unexpected prompt: ${options.message}`);
		const [pattern, answer] = step;
		expect(options.message).toMatch(pattern);
		if (answer === CTRL_C) throw new CancelledError('nothing was created.');
		if (isTyped(answer)) {
			for (const bad of answer.rejected) {
				const verdict = await options.validate!(bad);
				expect(verdict, `${bad} should be refused`).not.toBe(true);
				rejections.push(String(verdict));
			}
			expect(await options.validate!(answer.value)).toBe(true);
			return answer.value;
		}
		if (options.choices) {
			const choice = options.choices.find(c => c.value === answer);
			expect(choice, `${String(answer)} is offered`).toBeDefined();
			expect(choice!.disabled ?? false).toBe(false);
		}
		if (options.validate && typeof answer === 'string') expect(await options.validate(answer)).toBe(true);
		return answer;
	};
	const prompts: WizardPrompts = {
		select: options => next('select', options) as never,
		input: options => next('input', options) as never,
		password: options => next('password', options) as never,
		confirm: options => next('confirm', options) as never,
		say: line => said.push(line),
	};
	return {prompts, asked, said, rejections, left: () => script.length};
}

/** A stand-in DigitalOcean catalog: the API's shapes, no network. */
function fakeDigitalOcean(): WizardCatalog & {tokens: string[]} {
	const tokens: string[] = [];
	return {
		tokens,
		async validateToken(token) {
			tokens.push(token);
			if (token !== 'dop_v1_good0123456789abcdef')
				throw new InputError('DigitalOcean refused the token (401 Unable to authenticate you)');
			return {email: 'sam@example.com', dropletLimit: 5, dropletCount: 2};
		},
		async sizes() {
			return [
				{
					slug: 's-1vcpu-512mb-10gb',
					memoryMb: 512,
					vcpus: 1,
					priceMonthly: 4,
					priceHourly: 0.00595,
					regions: ['nyc3'],
					available: true,
				},
				{
					slug: 's-1vcpu-1gb',
					memoryMb: 1024,
					vcpus: 1,
					priceMonthly: 6,
					priceHourly: 0.00893,
					regions: ['nyc3', 'ams3', 'sfo1'],
					available: true,
				},
				{
					slug: 's-2vcpu-4gb',
					memoryMb: 4096,
					vcpus: 2,
					priceMonthly: 24,
					priceHourly: 0.0357,
					regions: ['ams3'],
					available: true,
				},
				{
					slug: 'g-2vcpu-8gb',
					memoryMb: 8192,
					vcpus: 2,
					priceMonthly: 63,
					priceHourly: 0.094,
					regions: ['nyc3'],
					available: false,
				},
			];
		},
		async regions() {
			return [
				{
					slug: 'nyc3',
					name: 'New York 3',
					available: true,
					sizes: ['s-1vcpu-512mb-10gb', 's-1vcpu-1gb', 'g-2vcpu-8gb'],
				},
				{slug: 'ams3', name: 'Amsterdam 3', available: true, sizes: ['s-1vcpu-1gb', 's-2vcpu-4gb']},
				{slug: 'sfo1', name: 'San Francisco 1', available: false, sizes: ['s-1vcpu-1gb']},
			];
		},
		async images() {
			return [
				{slug: 'debian-12-x64', name: 'Debian 12 x64'},
				{slug: 'ubuntu-24-04-x64', name: 'Ubuntu 24.04 (LTS) x64'},
			];
		},
	};
}

/** Stores in a fresh folder for one test; `remove` cleans it up. */
function wizardStores() {
	let home = '';
	return {
		get home() {
			return home;
		},
		fresh() {
			home = mkdtempSync(path.join(tmpdir(), 'sb-wizard-'));
			return {clusters: new ClusterStore(home), profiles: new ProfileStore(home)};
		},
		remove: () => rmSync(home, {recursive: true, force: true}),
	};
}

describe('wizard', () => {
	const folder = wizardStores();
	const fresh = folder.fresh;
	afterEach(folder.remove);

	it('local: asks size, workers, managers and memory, shows every node, saves a profile', async () => {
		const stores = fresh();
		const s = scripted([
			[/Where should the nodes run/, 'local'],
			[/Cluster name/, {rejected: ['Bad_Name'], value: 'demo'}],
			[/Size of each node/, 's-1vcpu-1gb'],
			[/Workers besides queenbee \(1-50\)/, {rejected: ['0', '51', 'two'], value: '1'}],
			[/Swarm managers/, 1],
			[/Database/, 'rethinkdb'],
			[/RethinkDB image/, 'rethinkdb:2.4.4-bookworm-slim'],
			[/Memory limit per database server \(1 GiB RAM per node\)/, {rejected: ['lots', '128m', '1g'], value: '450m'}],
			[/Create demo\?/, true],
		]);
		const result = await runWizard({prompts: s.prompts, catalogFor: () => localCatalog, ...stores, env: {}});
		expect(s.left()).toBe(0);
		expect(result.spec).toEqual(
			resolveSpec({
				name: 'demo',
				provider: 'local',
				workers: 1,
				managers: 1,
				size: 's-1vcpu-1gb',
				memoryLimit: '450m',
				database: 'rethinkdb',
			}),
		);
		expect(result.token).toBeUndefined();
		expect(s.rejections).toEqual([
			expect.stringContaining('"Bad_Name" is not a valid cluster name'),
			'a whole number from 1 to 50',
			'a whole number from 1 to 50',
			'a whole number from 1 to 50',
			expect.stringContaining('a number with a unit'),
			expect.stringContaining('at least 256m'),
			// Said of answers, not flags (issue 15).
			'1g per database server does not fit on s-1vcpu-1gb (1024 MB of RAM per node); use at most 921m, or a larger size (go back to "Size of each node" from the summary)',
		]);
		// 3 managers needs 2 workers: offered, but disabled with the reason.
		expect(s.asked.find(a => a.message === 'Swarm managers')!.choices![1]).toMatchObject({
			value: 3,
			disabled: 'needs 2 or more workers',
		});
		expect(s.said).toContain("Region: local (this machine's Docker engine)");
		expect(s.said.join('\n')).toContain(
			[
				'demo on local, region local, image debian-12',
				'NODE         ROLE     SIZE         RAM    vCPUs  $/MONTH',
				'queenbee     manager  s-1vcpu-1gb  1 GiB  1      -',
				'workerbee-1  worker   s-1vcpu-1gb  1 GiB  1      -',
				'RethinkDB (rethinkdb:2.4.4-bookworm-slim): one server per node, 450m of memory each; overlay not encrypted',
				'monthly cost: nothing billed (local containers on this machine)',
			].join('\n'),
		);
		expect(stores.profiles.get('demo')).toMatchObject({
			provider: 'local',
			workers: 1,
			managers: 1,
			size: 's-1vcpu-1gb',
			region: 'local',
			image: 'debian-12',
			memoryLimit: '450m',
			database: 'rethinkdb',
			rethinkdbImage: 'rethinkdb:2.4.4-bookworm-slim',
		});
		expect(statSync(stores.profiles.file).mode & 0o777).toBe(0o600);
	});

	it('DigitalOcean: token checked live, regions that can run the size, droplet limit, cost; token saved only when asked, 0600', async () => {
		const stores = fresh();
		const catalog = fakeDigitalOcean();
		const catalogFor: CatalogFor = provider => (provider === 'digitalocean' ? catalog : localCatalog);
		const s = scripted([
			[/Where should the nodes run/, 'digitalocean'],
			[/Cluster name/, 'prod'],
			[/DigitalOcean API token/, {rejected: ['', 'dop_v1_bad0123456789abcdef'], value: 'dop_v1_good0123456789abcdef'}],
			[/Size of each node/, 's-1vcpu-1gb'],
			[/Region \(those that can run s-1vcpu-1gb\)/, 'ams3'],
			[/Image/, 'debian-12-x64'],
			[/Workers besides queenbee \(1-2\)/, {rejected: ['3'], value: '2'}],
			[/Swarm managers/, 3],
			[/Database/, 'rethinkdb'],
			[/RethinkDB image/, 'rethinkdb:2.4.4-bookworm-slim'],
			[/Memory limit per database server/, {rejected: ['4g'], value: '700m'}],
			[/Create prod\?/, true],
			[/Save the token for next time\?/, true],
		]);
		const result = await runWizard({prompts: s.prompts, catalogFor, ...stores, env: {}});
		expect(s.left()).toBe(0);
		expect(result.spec).toMatchObject({
			name: 'prod',
			provider: 'digitalocean',
			size: 's-1vcpu-1gb',
			region: 'ams3',
			image: 'debian-12-x64',
			workers: 2,
			managers: 3,
			memoryLimit: '700m',
			encryptOverlay: false,
		});
		expect(result.token).toBe('dop_v1_good0123456789abcdef');
		expect(s.rejections[0]).toContain('paste a token');
		expect(s.rejections[1]).toBe('DigitalOcean refused the token (401 Unable to authenticate you)');
		expect(s.rejections[2]).toBe(
			'your account may have 5 droplets and has 2: at most 2 workers fit (ask DigitalOcean to raise the limit for more)',
		);
		expect(s.said).toContain('✔ account sam@example.com: droplet limit 5, 2 in use');
		// Only available regions that offer the size; only available sizes.
		expect(s.asked.find(a => a.message.startsWith('Region'))!.choices!.map(c => c.value)).toEqual(['nyc3', 'ams3']);
		expect(s.asked.find(a => a.message.startsWith('Size'))!.choices!.map(c => c.value)).not.toContain('g-2vcpu-8gb');
		expect(s.asked.find(a => a.message.startsWith('Size'))!.choices![1]!.name).toMatch(
			/s-1vcpu-1gb +1 GiB RAM, 1 vCPU, \$6\.00\/month/,
		);
		const summary = s.said.join('\n');
		expect(summary).toContain('workerbee-2  manager  s-1vcpu-1gb  1 GiB  1      6.00');
		expect(summary).toContain('monthly cost: $18.00 (about $0.027 an hour while it exists)');
		const tokenFile = path.join(folder.home, 'tokens', 'prod');
		expect(result.tokenFile).toBe(tokenFile);
		expect(readFileSync(tokenFile, 'utf8')).toBe('dop_v1_good0123456789abcdef\n');
		expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
		expect(statSync(path.dirname(tokenFile)).mode & 0o777).toBe(0o700);
		expect(readFileSync(stores.profiles.file, 'utf8')).not.toContain('dop_v1');
	});

	it('DigitalOcean: takes the token from the environment and never offers to save it', async () => {
		const stores = fresh();
		const catalog = fakeDigitalOcean();
		const s = scripted([
			[/Where should the nodes run/, 'digitalocean'],
			[/Cluster name/, 'prod'],
			[/Size of each node/, 's-2vcpu-4gb'],
			[/Image/, 'ubuntu-24-04-x64'],
			[/Workers besides queenbee/, '1'],
			[/Swarm managers/, 1],
			[/Database/, 'rethinkdb'],
			[/RethinkDB image/, 'rethinkdb:2.4.4-bookworm-slim'],
			[/Memory limit per database server \(4 GiB RAM per node\)/, '2g'],
			[/Create prod\?/, true],
		]);
		const result = await runWizard({
			prompts: s.prompts,
			catalogFor: () => catalog,
			...stores,
			env: {DIGITALOCEAN_ACCESS_TOKEN: 'dop_v1_good0123456789abcdef'},
		});
		expect(s.left()).toBe(0);
		expect(catalog.tokens).toEqual(['dop_v1_good0123456789abcdef']);
		expect(s.said).toContain('Using the token from $DIGITALOCEAN_ACCESS_TOKEN');
		// One region can run s-2vcpu-4gb: no question, just said.
		expect(s.said).toContain('Region: ams3 (Amsterdam 3)');
		expect(result.spec.region).toBe('ams3');
		expect(result.tokenFile).toBeUndefined();
	});

	it('DigitalOcean for real: the catalog over the API client, against the emulator (paper mode)', async () => {
		const emulator = await startEmulator({bootDelayMs: 0});
		try {
			const catalogFor = catalogsFor({DIGITALOCEAN_API_URL: emulator.url});
			const catalog = catalogFor('digitalocean', emulator.token);
			expect(catalogFor('digitalocean', emulator.token)).toBe(catalog);
			const account = await catalog.validateToken(emulator.token);
			expect(account).toMatchObject({dropletCount: 0});
			expect(account.dropletLimit).toBeGreaterThan(0);
			const wrong = catalogFor('digitalocean', 'dop_v1_not-a-real-token-0000');
			await expect(wrong.validateToken('dop_v1_not-a-real-token-0000')).rejects.toThrow(
				/^DigitalOcean refused the token \(401 /,
			);
			const sizes = await catalog.sizes();
			expect(sizes.find(size => size.slug === 's-1vcpu-1gb')).toMatchObject({memoryMb: 1024, vcpus: 1});
			expect(
				(await catalog.regions()).some(region => region.slug === 'nyc3' && region.sizes.includes('s-1vcpu-1gb')),
			).toBe(true);
			expect((await catalog.images()).map(image => image.slug)).toContain('debian-12-x64');
			// Only images whose first boot swarmbee can carry out are offered (issue 15).
			expect((await catalog.images()).map(image => image.slug)).not.toContain('fedora-42-x64');
			expect((await catalog.images()).map(image => image.slug)).not.toContain('rockylinux-9-x64');
			expect(catalogFor('digitalocean').unavailable).toBeUndefined();
		} finally {
			await emulator.close();
		}
	});

	it('Ctrl-C in a prompt: cancelled, nothing saved', async () => {
		const stores = fresh();
		const s = scripted([
			[/Where should the nodes run/, 'local'],
			[/Cluster name/, 'demo'],
			[/Size of each node/, CTRL_C],
		]);
		await expect(runWizard({prompts: s.prompts, catalogFor: () => localCatalog, ...stores, env: {}})).rejects.toThrow(
			CancelledError,
		);
		expect(stores.profiles.list()).toEqual([]);
		expect(stores.clusters.list()).toEqual([]);
	});

	it('answering no at the summary creates and saves nothing', async () => {
		const stores = fresh();
		const s = scripted([
			[/Where/, 'local'],
			[/name/, 'demo'],
			[/Size/, 's-1vcpu-2gb'],
			[/Workers/, '3'],
			[/managers/, 3],
			[/Database/, 'rethinkdb'],
			[/RethinkDB image/, 'rethinkdb:2.4.4-bookworm-slim'],
			[/Memory/, '1g'],
			[/Create demo\?/, false],
		]);
		await expect(runWizard({prompts: s.prompts, catalogFor: () => localCatalog, ...stores, env: {}})).rejects.toThrow(
			'nothing was created',
		);
		expect(stores.profiles.list()).toEqual([]);
	});

	it('asks no memory limit when there is no database', async () => {
		const stores = fresh();
		const s = scripted([
			[/Where/, 'local'],
			[/name/, 'demo'],
			[/Size/, 's-1vcpu-1gb'],
			[/Workers/, '1'],
			[/managers/, 1],
			[/Database/, 'none'],
			[/Create demo\?/, true],
		]);
		const result = await runWizard({prompts: s.prompts, catalogFor: () => localCatalog, ...stores, env: {}});
		expect(s.left()).toBe(0);
		expect(result.spec.database).toBe('none');
		expect(s.said.join('\n')).toContain('no database; overlay not encrypted');
	});

	it('summarises every node with its cost', () => {
		const spec = resolveSpec({name: 'x', provider: 'digitalocean', workers: 1});
		expect(
			formatPlanSummary(spec, {
				slug: 's-1vcpu-1gb',
				memoryMb: 1024,
				vcpus: 1,
				priceMonthly: 6,
				priceHourly: 0.00893,
				regions: [],
			}),
		).toEqual([
			'x on digitalocean, region nyc3, image debian-12-x64',
			'NODE         ROLE     SIZE         RAM    vCPUs  $/MONTH',
			'queenbee     manager  s-1vcpu-1gb  1 GiB  1      6.00',
			'workerbee-1  worker   s-1vcpu-1gb  1 GiB  1      6.00',
			'RethinkDB (rethinkdb:2.4.4-bookworm-slim): one server per node, 450m of memory each; overlay not encrypted',
			'monthly cost: $12.00 (about $0.018 an hour while it exists)',
		]);
	});

	it('a profile is what up starts from: flags win, a saved token comes along in memory', () => {
		const stores = fresh();
		stores.profiles.save('prod', {
			provider: 'digitalocean',
			managers: 1,
			workers: 2,
			size: 's-1vcpu-1gb',
			region: 'ams3',
			image: 'debian-12-x64',
			memoryLimit: '700m',
		});
		stores.profiles.saveToken('prod', 'dop_v1_saved0123456789abcdef');
		const envBefore = JSON.stringify(process.env);
		const handed: Array<[string, string]> = [];
		const input = profileInput(
			stores.profiles,
			'prod',
			{workers: '3', region: undefined},
			{
				hand: (provider, token) => handed.push([provider, token]),
			},
		);
		expect(resolveSpec({name: 'prod2', ...input})).toMatchObject({
			provider: 'digitalocean',
			workers: 3,
			region: 'ams3',
			memoryLimit: '700m',
		});
		// In memory, for the provider alone: not in the answers, and not in an environment a child would inherit.
		expect(handed).toEqual([['digitalocean', 'dop_v1_saved0123456789abcdef']]);
		expect(JSON.stringify(input)).not.toContain('dop_v1');
		expect(JSON.stringify(process.env)).toBe(envBefore);
		expect(() => profileInput(stores.profiles, 'nope', {})).toThrow('there is no profile named nope');
	});
});

describe('wizard: careful with money and with answers (issue 15)', () => {
	const {fresh, remove} = wizardStores();
	afterEach(remove);

	it('an account with room for one droplet stops right after the token, saying why, instead of an impossible worker range', async () => {
		const stores = fresh();
		const catalog = {
			...fakeDigitalOcean(),
			validateToken: async () => ({email: 'sam@example.com', dropletLimit: 3, dropletCount: 2}),
		};
		const s = scripted([
			[/Where/, 'digitalocean'],
			[/Cluster name/, 'prod'],
			[/token/, {rejected: [], value: 'dop_v1_x'}],
		]);
		const error = await runWizard({prompts: s.prompts, catalogFor: () => catalog, ...stores, env: {}}).then(
			() => undefined,
			(e: unknown) => e as InputError,
		);
		expect(error).toBeInstanceOf(InputError);
		expect(error!.message).toBe(
			'your DigitalOcean account has room for 1 more droplet, and a cluster needs at least 2 (queenbee and one worker)',
		);
		expect(error!.nextSteps[0]).toContain('ask DigitalOcean to raise the limit');
		expect(s.asked.some(a => a.message.startsWith('Workers'))).toBe(false);
	});

	it('the summary shows SSH exposure, encryption, the playbook and the command line; "change an answer" goes back', async () => {
		const stores = fresh();
		const s = scripted([
			[/Where/, 'local'],
			[/Cluster name/, 'demo'],
			[/Size/, 's-1vcpu-1gb'],
			[/Workers/, '1'],
			[/managers/, 1],
			[/Database/, 'none'],
			[/Create demo\?/, 'change'],
			[/Which answer\?/, 6],
			// Asked again from there, the earlier answer offered as the default.
			[/Workers/, '2'],
			[/managers/, 3],
			[/Database/, 'none'],
			[/Create demo\?/, true],
		]);
		const result = await runWizard({prompts: s.prompts, catalogFor: () => localCatalog, ...stores, env: {}});
		expect(s.left()).toBe(0);
		expect(result.spec).toMatchObject({workers: 2, managers: 3});
		const which = s.asked.find(a => a.message.startsWith('Which answer'))!;
		expect(which.choices!.map(c => c.name)).toContain('Workers besides queenbee: 1');
		expect(s.asked.filter(a => a.message.startsWith('Workers'))[1]!.default).toBe('1');
		const summary = s.said.join('\n');
		expect(summary).toContain(
			'SSH (the only public port): from anywhere (0.0.0.0/0, ::/0; --ssh-from CIDR narrows it)',
		);
		expect(summary).toContain('overlay network: not encrypted');
		expect(summary).toContain("playbook: swarmbee's only");
		expect(summary).toContain(
			'the same without questions:\nswarmbee up demo --provider local --workers 2 --managers 3 --database none',
		);
	});

	it("after the wizard, errors are said in its questions' words", () => {
		expect(inAnswerWords('or use an image you have: --rethinkdb-image IMAGE')).toBe(
			'or use an image you have: another answer to "RethinkDB image"',
		);
		expect(inAnswerWords('use at most 921m, or a larger --size')).toContain(
			'a larger size (go back to "Size of each node" from the summary)',
		);
		expect(inAnswerWords('pass --yes')).toBe('pass --yes');
	});
});

describe('start screen', () => {
	let home: string;
	afterEach(() => rmSync(home, {recursive: true, force: true}));

	it('resuming a DigitalOcean cluster without a token asks for it, masked and checked; back returns to the list', async () => {
		home = mkdtempSync(path.join(tmpdir(), 'sb-start15-'));
		const clusters = new ClusterStore(home);
		const spec = resolveSpec({name: 'prod', provider: 'digitalocean', workers: 1});
		clusters.saveSpec(spec);
		clusters.openJournal(spec).persist();
		const catalog = fakeDigitalOcean();
		const s = scripted([
			[/What now\?/, 'cluster:prod'],
			[/prod:/, 'back'],
			[/What now\?/, 'cluster:prod'],
			[/prod:/, 'up'],
			[/DigitalOcean API token/, {rejected: ['dop_v1_bad0123456789abcdef'], value: 'dop_v1_good0123456789abcdef'}],
		]);
		const choice = await runStartScreen(s.prompts, clusters, ['up', 'status', 'down'], {
			env: {},
			profiles: {loadToken: () => undefined},
			catalogFor: () => catalog,
		});
		expect(choice).toEqual({kind: 'run', argv: ['up', 'prod'], token: 'dop_v1_good0123456789abcdef'});
		expect(s.asked.find(a => a.message.startsWith('DigitalOcean API token'))!.kind).toBe('password');
		// With the token in the environment, nothing is asked.
		const quiet = scripted([
			[/What now\?/, 'cluster:prod'],
			[/prod:/, 'status'],
		]);
		expect(
			await runStartScreen(quiet.prompts, clusters, ['up', 'status'], {
				env: {DIGITALOCEAN_ACCESS_TOKEN: 'dop_v1_env'},
				catalogFor: () => catalog,
			}),
		).toEqual({kind: 'run', argv: ['status', 'prod']});
	});

	it('lists saved clusters with state and offers what this build can do with one', async () => {
		home = mkdtempSync(path.join(tmpdir(), 'sb-start-'));
		const clusters = new ClusterStore(home);
		const spec = resolveSpec({name: 'demo', workers: 1});
		clusters.saveSpec(spec);
		clusters.openJournal(spec).persist();
		const s = scripted([
			[/What now\?/, 'cluster:demo'],
			[/demo:/, 'status'],
		]);
		expect(await runStartScreen(s.prompts, clusters, ['up', 'status', 'down', 'ls'])).toEqual({
			kind: 'run',
			argv: ['status', 'demo'],
		});
		expect(s.said[0]).toBe(`Saved clusters in ${home}`);
		expect(s.said[1]).toMatch(/^NAME +PROVIDER +NODES +STATE +UPDATED$/);
		expect(s.said[2]).toMatch(/^demo +local +0\/2 +creating +\d{4}-\d\d-\d\d \d\d:\d\d$/);
		expect(s.asked[0]!.choices!.map(c => c.name)).toEqual(['demo (local, creating, 0/2 nodes)', 'new cluster', 'quit']);
		// tunnel and scale are offered once their commands exist.
		expect(s.asked[1]!.choices!.map(c => c.value)).toEqual(['up', 'status', 'down', 'back', 'quit']);
		const later = scripted([
			[/What now\?/, 'cluster:demo'],
			[/demo:/, 'scale'],
			[/Workers besides queenbee \(now 1; 1-50\)/, {rejected: ['0', '51'], value: '4'}],
		]);
		expect(await runStartScreen(later.prompts, clusters, ['up', 'status', 'tunnel', 'scale', 'down'])).toEqual({
			kind: 'run',
			argv: ['scale', 'demo', '--workers', '4'],
		});
		const fresh = scripted([[/What now\?/, 'new']]);
		expect(await runStartScreen(fresh.prompts, new ClusterStore(path.join(home, 'empty')), [])).toEqual({kind: 'new'});
		expect(fresh.said[0]).toContain('No saved clusters');
	});
});

describe('answers of a create that stopped before anything existed', () => {
	const folder = wizardStores();
	afterEach(folder.remove);

	it('are offered by the start screen (not "No saved clusters" and defaults), and the wizard starts from them', async () => {
		const stores = folder.fresh();
		const first = scripted([
			[/Where/, 'local'],
			[/Cluster name/, 'nc-wiz'],
			[/Size/, 's-2vcpu-4gb'],
			[/Workers/, '3'],
			[/managers/, 1],
			[/Database/, 'rethinkdb'],
			[/RethinkDB image/, 'swarmbee-rethinkdb:0123456789ab'],
			[/Memory limit/, '1800m'],
			[/Create nc-wiz\?/, true],
		]);
		await runWizard({prompts: first.prompts, catalogFor: () => localCatalog, ...stores, env: {}});
		expect(first.said.at(-1)).toMatch(/^Answers saved as profile nc-wiz in /);
		// The create stopped in preflight: no cluster was saved. The start screen offers the answers.
		expect(stores.clusters.exists('nc-wiz')).toBe(false);
		const start = scripted([
			[/What now\?/, 'answers:nc-wiz'],
			[/nc-wiz \(saved answers\):/, 'change'],
		]);
		expect(await runStartScreen(start.prompts, stores.clusters, ['up'], {profiles: stores.profiles})).toEqual({
			kind: 'run',
			argv: ['up', '--profile', 'nc-wiz'],
		});
		expect(start.said).toContain(
			'Saved answers of clusters not created yet: nc-wiz (a create stopped before anything existed)',
		);
		expect(start.asked[0]!.choices!.map(c => c.name)).toContain(
			'nc-wiz: saved answers, not created yet (local, 4 nodes)',
		);
		// `up --profile nc-wiz`: every question offers the saved answer.
		const again = scripted([
			[/Where/, 'local'],
			[/Cluster name/, 'nc-wiz'],
			[/Size/, 's-2vcpu-4gb'],
			[/Workers/, '3'],
			[/managers/, 1],
			[/Database/, 'rethinkdb'],
			[/RethinkDB image/, 'rethinkdb:2.4.4-bookworm-slim'],
			[/Memory limit/, '1800m'],
			[/Create nc-wiz\?/, true],
		]);
		const answers = stores.profiles.get('nc-wiz')!;
		const result = await runWizard({
			prompts: again.prompts,
			catalogFor: () => localCatalog,
			...stores,
			env: {},
			from: {name: 'nc-wiz', answers},
		});
		const offered = Object.fromEntries(again.asked.map(a => [a.message.split(' (')[0], a.default]));
		expect(offered).toMatchObject({
			'Where should the nodes run?': 'local',
			'Cluster name': 'nc-wiz',
			'Size of each node': 's-2vcpu-4gb',
			'Workers besides queenbee': '3',
			Database: 'rethinkdb',
			'RethinkDB image': 'swarmbee-rethinkdb:0123456789ab',
			'Memory limit per database server': '1800m',
		});
		expect(result.spec).toMatchObject({name: 'nc-wiz', workers: 3, rethinkdbImage: 'rethinkdb:2.4.4-bookworm-slim'});
		// Forgotten on request: the list no longer offers them.
		const forget = scripted([
			[/What now\?/, 'answers:nc-wiz'],
			[/nc-wiz \(saved answers\):/, 'forget'],
			[/What now\?/, 'quit'],
		]);
		await runStartScreen(forget.prompts, stores.clusters, ['up'], {profiles: stores.profiles});
		expect(forget.asked[2]!.choices!.map(c => c.value)).toEqual(['new', 'quit']);
		expect(stores.profiles.get('nc-wiz')).toBeUndefined();
	});
});

describe('the database image, checked when it is asked (local: nodes load it from this engine)', () => {
	let dir = '';
	const stores = wizardStores();
	afterEach(() => {
		rmSync(dir, {recursive: true, force: true});
		stores.remove();
	});

	/**
	 * A docker CLI first on PATH that answers as the real one does on an
	 * offline machine whose engine holds one image swarmbee built from
	 * RethinkDB's source: registries cannot be reached.
	 */
	function offlineEngine(): NodeJS.ProcessEnv {
		dir = mkdtempSync(path.join(tmpdir(), 'sb-wizard-images-'));
		const offline =
			'failed to configure transport: error pinging v2 registry: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host';
		writeFileSync(
			path.join(dir, 'docker'),
			[
				'#!/bin/sh',
				'case "$1 $2 $3" in',
				'  "image inspect swarmbee-rethinkdb:7db37ad4e884") echo \'[{"Id":"sha256:524b1d227e5f"}]\' ;;',
				'  "image inspect "*) echo "[]"; echo "Error response from daemon: No such image: $3" >&2; exit 1 ;;',
				`  "manifest inspect "*) echo '${offline}' >&2; exit 1 ;;`,
				'  "images --format "*)',
				'    echo \'{"Repository":"swarmbee-rethinkdb","Tag":"7db37ad4e884","CreatedSince":"22 minutes ago\\u001b[31m","Size":"110MB"}\'',
				'    echo \'{"Repository":"debian","Tag":"bookworm","CreatedSince":"3 weeks ago","Size":"117MB"}\'',
				'    echo \'{"Repository":"rethinkdb","Tag":"<none>","CreatedSince":"3 weeks ago","Size":"120MB"}\' ;;',
				'  *) echo "unexpected: $*" >&2; exit 2 ;;',
				'esac',
				'',
			].join('\n'),
		);
		chmodSync(path.join(dir, 'docker'), 0o755);
		return {PATH: `${dir}:${process.env['PATH'] ?? ''}`};
	}

	const firstAnswers = (image: Answer): Array<[RegExp, Answer]> => [
		[/Where/, 'local'],
		[/Cluster name/, 'nc-wiz'],
		[/Size/, 's-1vcpu-1gb'],
		[/Workers/, '1'],
		[/managers/, 1],
		[/Database/, 'rethinkdb'],
		[/RethinkDB image \(nodes load it from this Docker engine\)/, image],
	];
	it("offline with no source folder: the official image cannot be chosen, the engine's image is offered first, a typed one is checked", async () => {
		const env = {...offlineEngine(), SWARMBEE_RETHINKDB_SOURCE: path.join(dir, 'no-source-here')};
		const s = scripted([
			...firstAnswers('\u0000another'),
			[/^RethinkDB image$/, {rejected: ['rethinkdb:2.4.3', 'Bad Image'], value: 'swarmbee-rethinkdb:7db37ad4e884'}],
			[/Memory limit/, '450m'],
			[/Create nc-wiz\?/, true],
		]);
		const result = await runWizard({prompts: s.prompts, catalogFor: catalogsFor(env), ...stores.fresh(), env});
		const question = s.asked.find(a => a.message.startsWith('RethinkDB image ('))!;
		const choices = question.choices!;
		expect(choices[0]).toMatchObject({
			value: 'rethinkdb:2.4.4-bookworm-slim',
			disabled: 'not on this engine, cannot be pulled here',
		});
		expect(choices[0]!.description).toMatch(/^not on this engine and cannot be pulled here \(.*no such host\)$/);
		expect(choices[1]).toMatchObject({value: 'swarmbee-rethinkdb:7db37ad4e884', disabled: false});
		// Text from the engine is shown without its escapes.
		expect(choices[1]!.name).toMatch(/^swarmbee-rethinkdb:7db37ad4e884 +on this engine \(22 minutes ago, 110MB\)$/);
		expect(choices[1]!.description).toMatch(/: built by swarmbee from RethinkDB 2\.4\.4's source$/);
		// A list line fits 120 columns with the prompt's marks (inquirer would cut it mid-word).
		for (const c of choices) expect(c.name.length + 4).toBeLessThanOrEqual(120);
		expect(choices.map(c => c.value)).not.toContain('debian:bookworm');
		expect(question.default).toBe('swarmbee-rethinkdb:7db37ad4e884');
		expect(s.rejections[0]).toMatch(/^rethinkdb:2\.4\.3 is not on this engine and cannot be pulled here/);
		expect(s.said).toContain('RethinkDB image swarmbee-rethinkdb:7db37ad4e884: on this engine');
		expect(result.spec.rethinkdbImage).toBe('swarmbee-rethinkdb:7db37ad4e884');
	});

	it('offline with the source folder at hand: the official image is offered, said to be built from it at create (as preflight does)', async () => {
		const env = offlineEngine();
		mkdirSync(path.join(dir, 'rethinkdb'));
		writeFileSync(path.join(dir, 'rethinkdb', 'Dockerfile'), 'FROM debian:bookworm\n');
		const withSource = {...env, SWARMBEE_RETHINKDB_SOURCE: path.join(dir, 'rethinkdb')};
		const s = scripted([
			...firstAnswers('rethinkdb:2.4.4-bookworm-slim'),
			[/Memory limit/, '450m'],
			[/Create nc-wiz\?/, true],
		]);
		await runWizard({prompts: s.prompts, catalogFor: catalogsFor(withSource), ...stores.fresh(), env: withSource});
		const question = s.asked.find(a => a.message.startsWith('RethinkDB image ('))!;
		expect(question.default).toBe('rethinkdb:2.4.4-bookworm-slim');
		expect(question.choices![0]!.name).toMatch(
			/^rethinkdb:2\.4\.4-bookworm-slim +built from the source folder at create$/,
		);
		expect(question.choices![0]!.description).toContain(
			`its registry cannot be reached from here: RethinkDB 2.4.4 is built from its source folder (${path.join(dir, 'rethinkdb')}) at create`,
		);
	});
});

describe('inquirer prompts', () => {
	afterEach(() => {
		vi.doUnmock('@inquirer/prompts');
		vi.resetModules();
	});

	it.each([
		{options: undefined, says: 'nothing was created.'},
		// The start screen has started nothing (issue 15).
		{options: {cancelled: 'nothing was done.'}, says: 'nothing was done.'},
	])('Ctrl-C (ExitPromptError) becomes "cancelled: $says", not a stack trace', async ({options, says}) => {
		vi.resetModules();
		vi.doMock('@inquirer/prompts', () => ({
			select: async () => {
				throw Object.assign(new Error('User force closed the prompt with SIGINT'), {name: 'ExitPromptError'});
			},
		}));
		const {inquirerPrompts} = await import('../../source/wizard/prompts.js');
		const {CancelledError: Cancelled} = await import('../../source/errors.js');
		const prompts = await inquirerPrompts(new PassThrough(), options);
		const asking = prompts.select({message: 'x', choices: [{value: 1, name: 'one'}]});
		await expect(asking).rejects.toBeInstanceOf(Cancelled);
		await expect(asking).rejects.toThrow(says);
	});

	/** A terminal `columns` wide for the real inquirer prompts: keystrokes in, what a person sees out. */
	function terminal(columns: number) {
		const input = new PassThrough();
		const output = Object.assign(new PassThrough(), {isTTY: true, columns, rows: 40});
		let written = '';
		output.on('data', (chunk: Buffer) => {
			written += chunk.toString();
		});
		return {
			input,
			output,
			/** The last drawing of the prompt, without escapes, as lines. */
			screen: () => stripVTControlCharacters(written.slice(written.lastIndexOf('\u001b[G'))).split('\n'),
			written: () => written,
		};
	}

	it("at 120 columns an answer's validation message is broken between words, never inside one", async () => {
		const {inquirerPrompts} = await import('../../source/wizard/prompts.js');
		const t = terminal(120);
		const prompts = await inquirerPrompts(t.output, {input: t.input});
		const message =
			'5000m per database server does not fit on s-1vcpu-1gb (1024 MB of RAM per node); use at most 921m, or a larger size (go back to "Size of each node" from the summary)';
		const answer = prompts.input({
			message: 'Memory limit per database server',
			validate: value => (value === '450m' ? true : message),
		});
		t.input.write('5000m\r');
		await vi.waitFor(() => expect(t.written()).toContain('summary)'));
		const lines = t.screen();
		const error = lines.slice(lines.findIndex(line => line.startsWith('> ')));
		expect(error.length).toBeGreaterThan(1);
		for (const line of error) expect(line.length).toBeLessThanOrEqual(120);
		// Joined again at the breaks, the message is whole: no word was cut.
		expect(error.map(line => line.replace(/^> /, '').trim()).join(' ')).toBe(message);
		t.input.write('\u0015450m\r');
		await expect(answer).resolves.toBe('450m');
	});

	it('the command to copy is never wrapped onto an indented line: it fits, or goes on with shell line continuations a shell takes', async () => {
		const command =
			'swarmbee up nc-wiz --provider local --workers 3 --size s-2vcpu-4gb --memory-limit 1800m --rethinkdb-image swarmbee-rethinkdb:0123456789ab';
		const {inquirerPrompts} = await import('../../source/wizard/prompts.js');
		for (const columns of [200, 120, 60]) {
			const t = terminal(columns);
			const prompts = await inquirerPrompts(t.output, {input: t.input});
			prompts.say(command, {command: true});
			const lines = t.written().trimEnd().split('\n');
			for (const line of lines) expect(line.length).toBeLessThanOrEqual(columns);
			if (columns >= command.length) expect(lines).toEqual([command]);
			else expect(lines.slice(0, -1).every(line => line.endsWith(' \\'))).toBe(true);
			// Pasted into a shell, it is the same command, word for word.
			const pasted = lines.join('\n').replace(/^swarmbee /, "printf '%s\\n' ");
			const {stdout} = await execa('bash', ['-c', pasted]);
			expect(stdout.split('\n')).toEqual(command.split(' ').slice(1));
		}
	});
});
