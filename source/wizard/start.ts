import {registerSecret} from '../redact.js';
import {formatTable} from '../render/format.js';
import {MAX_WORKERS} from '../spec-fields.js';
import type {ClusterStore, SavedCluster} from '../store/cluster-store.js';
import type {CatalogFor} from './catalog.js';
import type {ProfileStore} from './profiles.js';
import type {WizardPrompts} from './prompts.js';
import type {TokenSink} from '../store/tokens.js';
import {askToken, TOKEN_ENV} from './wizard.js';

/** `token`: asked for here (masked) when a DigitalOcean cluster's action needs one; handed over in memory. */
type StartChoice = {kind: 'new'} | {kind: 'run'; argv: string[]; token?: string} | {kind: 'quit'};

/** Actions that talk to the provider's API (tunnel and stack need only SSH and files). */
const NEEDS_API = new Set(['up', 'status', 'scale', 'down']);

interface StartDeps {
	env?: NodeJS.ProcessEnv;
	/** Saved answers: those of no cluster (a create that stopped before anything existed) are offered again. */
	profiles?: Pick<ProfileStore, 'loadToken'> & Partial<Pick<ProfileStore, 'list' | 'remove'>>;
	catalogFor?: CatalogFor;
	/** Where a token found or asked for goes, in memory, for the command that follows. */
	credentials?: TokenSink;
}

/** What the start screen offers for a saved cluster, when this build has the command. */
const ACTIONS: Array<{command: string; name: (cluster: string) => string}> = [
	{command: 'up', name: c => `resume / repair: swarmbee up ${c}`},
	{command: 'status', name: c => `watch: swarmbee status ${c} (dashboard)`},
	{command: 'tunnel', name: c => `tunnel to the RethinkDB panel: swarmbee tunnel ${c}`},
	{command: 'scale', name: c => `scale: swarmbee scale ${c} --workers N`},
	{command: 'down', name: c => `remove: swarmbee down ${c}`},
];

function summary(c: SavedCluster): string[] {
	const nodes = c.journal?.nodes.filter(n => n.state !== 'planned').length ?? 0;
	const planned = c.spec ? 1 + c.spec.workers : 0;
	return [
		c.name,
		c.spec?.provider ?? c.journal?.provider ?? '?',
		`${nodes}/${planned}`,
		c.damage ? 'damaged' : (c.journal?.state ?? 'saved'),
		c.journal?.updatedAt?.replace('T', ' ').slice(0, 16) ?? '-',
	];
}

/**
 * `swarmbee` with no arguments, in a terminal: the saved clusters with
 * their state, and what can be done with each, or a new cluster.
 *
 *     Saved clusters in ~/.config/swarmbee-nodejs
 *     NAME  PROVIDER  NODES  STATE  UPDATED
 *     demo  local     4/4    ready  2026-11-25 12:04
 *     ? What now?
 *     ❯ demo (local, ready, 4/4 nodes)
 *       new cluster
 *       quit
 *
 * `commands` are the commands this build has: actions for the others
 * (tunnel, scale before they land) are not offered.
 */
export async function runStartScreen(
	prompts: WizardPrompts,
	clusters: ClusterStore,
	commands: readonly string[],
	deps: StartDeps = {},
): Promise<StartChoice> {
	const saved = clusters.list();
	const answers = () => (deps.profiles?.list?.() ?? []).filter(p => !clusters.exists(p.name));
	if (saved.length > 0) {
		prompts.say(`Saved clusters in ${clusters.home}`);
		for (const line of formatTable([['NAME', 'PROVIDER', 'NODES', 'STATE', 'UPDATED'], ...saved.map(summary)]))
			prompts.say(line);
		for (const c of saved)
			if (c.damage) prompts.say(`${c.name} cannot be read: ${c.damage.message}; ${c.damage.nextSteps[0] ?? ''}`);
	} else {
		prompts.say(`No saved clusters in ${clusters.home} yet.`);
	}
	if (answers().length > 0)
		prompts.say(
			`Saved answers of clusters not created yet: ${answers()
				.map(p => p.name)
				.join(', ')} (a create stopped before anything existed)`,
		);
	for (;;) {
		const picked = await prompts.select<string>({
			message: 'What now?',
			choices: [
				...saved.map(c => {
					const [, provider, nodes, state] = summary(c);
					return {value: `cluster:${c.name}`, name: `${c.name} (${provider}, ${state}, ${nodes} nodes)`};
				}),
				...answers().map(({name, profile}) => ({
					value: `answers:${name}`,
					name: `${name}: saved answers, not created yet (${profile.provider ?? '?'}, ${1 + (profile.workers ?? 0)} nodes)`,
				})),
				{value: 'new', name: 'new cluster', description: 'a few questions, then swarmbee builds it'},
				{value: 'quit', name: 'quit'},
			],
		});
		if (picked === 'new') return {kind: 'new'};
		if (picked === 'quit') return {kind: 'quit'};
		if (picked.startsWith('answers:')) {
			const name = picked.slice('answers:'.length);
			const what = await prompts.select<string>({
				message: `${name} (saved answers):`,
				choices: [
					{value: 'change', name: `change an answer first: swarmbee up --profile ${name} (the wizard, from them)`},
					{value: 'up', name: `create it with them: swarmbee up ${name} --profile ${name}`},
					...(deps.profiles?.remove ? [{value: 'forget', name: 'forget these answers'}] : []),
					{value: 'back', name: 'back to the list'},
					{value: 'quit', name: 'quit'},
				],
			});
			if (what === 'back') continue;
			if (what === 'quit') return {kind: 'quit'};
			if (what === 'forget') {
				deps.profiles?.remove?.(name);
				prompts.say(`Forgot the answers saved as ${name}.`);
				continue;
			}
			return {kind: 'run', argv: what === 'change' ? ['up', '--profile', name] : ['up', name, '--profile', name]};
		}
		const name = picked.slice('cluster:'.length);
		const cluster = saved.find(c => c.name === name);
		const command = await prompts.select<string>({
			message: `${name}:`,
			choices: [
				...ACTIONS.filter(a => commands.includes(a.command)).map(a => ({value: a.command, name: a.name(name)})),
				{value: 'back', name: 'back to the list'},
				{value: 'quit', name: 'quit'},
			],
		});
		if (command === 'back') continue;
		if (command === 'quit') return {kind: 'quit'};
		let argv = [command, name];
		if (command === 'scale') {
			const now = cluster?.spec?.workers;
			const workers = await prompts.input({
				message: `Workers besides queenbee (${now === undefined ? '' : `now ${now}; `}1-${MAX_WORKERS})`,
				...(now === undefined ? {} : {default: String(now)}),
				validate: v => {
					const n = Number(v.trim());
					return /^\d+$/.test(v.trim()) && n >= 1 && n <= MAX_WORKERS
						? true
						: `a whole number from 1 to ${MAX_WORKERS}${now === undefined ? '' : ` (it has ${now} now)`}`;
				},
			});
			argv = ['scale', name, '--workers', workers.trim()];
		}
		const provider = cluster?.spec?.provider ?? cluster?.journal?.provider;
		// A cloud cluster whose token is neither in the environment nor saved: asked for here, as the wizard does.
		if (provider === 'digitalocean' && NEEDS_API.has(command) && !deps.env?.[TOKEN_ENV]?.trim()) {
			const saved = deps.profiles?.loadToken(name);
			if (saved) {
				registerSecret(saved);
				deps.credentials?.hand(provider, saved);
				return {kind: 'run', argv, token: saved};
			}
			if (deps.catalogFor) {
				prompts.say(
					`${name} is on DigitalOcean and no token is at hand ($${TOKEN_ENV} is not set, none was saved for it).`,
				);
				const token = await askToken(prompts, deps.catalogFor);
				deps.credentials?.hand(provider, token);
				return {kind: 'run', argv, token};
			}
		}
		return {kind: 'run', argv};
	}
}
