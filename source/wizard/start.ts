import {formatTable} from '../render/format.js';
import type {ClusterStore, SavedCluster} from '../store/cluster-store.js';
import type {WizardPrompts} from './prompts.js';

type StartChoice = {kind: 'new'} | {kind: 'run'; argv: string[]} | {kind: 'quit'};

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
	return [c.name, c.spec?.provider ?? c.journal?.provider ?? '?', `${nodes}/${planned}`, c.damage ? 'damaged' : c.journal?.state ?? 'saved', c.journal?.updatedAt?.replace('T', ' ').slice(0, 16) ?? '-'];
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
export async function runStartScreen(prompts: WizardPrompts, clusters: ClusterStore, commands: readonly string[]): Promise<StartChoice> {
	const saved = clusters.list();
	if (saved.length > 0) {
		prompts.say(`Saved clusters in ${clusters.home}`);
		for (const line of formatTable([['NAME', 'PROVIDER', 'NODES', 'STATE', 'UPDATED'], ...saved.map(summary)])) prompts.say(line);
		for (const c of saved) if (c.damage) prompts.say(`${c.name} cannot be read: ${c.damage.message}; ${c.damage.nextSteps[0] ?? ''}`);
	} else {
		prompts.say(`No saved clusters in ${clusters.home} yet.`);
	}
	const picked = await prompts.select<string>({
		message: 'What now?',
		choices: [
			...saved.map(c => {
				const [, provider, nodes, state] = summary(c);
				return {value: `cluster:${c.name}`, name: `${c.name} (${provider}, ${state}, ${nodes} nodes)`};
			}),
			{value: 'new', name: 'new cluster', description: 'a few questions, then swarmbee builds it'},
			{value: 'quit', name: 'quit'},
		],
	});
	if (picked === 'new') return {kind: 'new'};
	if (picked === 'quit') return {kind: 'quit'};
	const name = picked.slice('cluster:'.length);
	const command = await prompts.select<string>({
		message: `${name}:`,
		choices: [...ACTIONS.filter(a => commands.includes(a.command)).map(a => ({value: a.command, name: a.name(name)})), {value: 'back', name: 'quit'}],
	});
	if (command === 'back') return {kind: 'quit'};
	if (command === 'scale') {
		const workers = await prompts.input({message: 'Workers besides queenbee', validate: v => (/^\d+$/.test(v.trim()) ? true : 'a whole number')});
		return {kind: 'run', argv: ['scale', name, '--workers', workers.trim()]};
	}
	return {kind: 'run', argv: [command, name]};
}
