import {InputError} from '../errors.js';
import {formatError, formatTable} from '../render/format.js';
import type {CommandIO} from '../session/io.js';
import {clusterStore} from '../session/open.js';
import type {CommandArgs} from './args.js';

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	if (positionals.length > 0) throw new InputError('ls takes no arguments');
	return lsCommand({json: Boolean(values.json)}, io);
}

/**
 * Every cluster that can be read, then each one that cannot, with what is
 * wrong and what to do: one damaged file never hides the others. Exits 1
 * when any is damaged, so a script notices.
 *
 *     skipped /home/u/…/clusters/Notes: no cluster can have that name
 *     NAME   PROVIDER  NODES  STATE  UPDATED
 *     demo   local     4/4    ready  2026-11-25 12:04
 *     error: cluster broken cannot be read: /home/u/…/clusters/broken/journal.json is not valid JSON (cut short or edited?)
 *       try: restore it from a copy if you have one; otherwise move it away …
 */
async function lsCommand(options: {json: boolean}, io: CommandIO): Promise<number> {
	const store = clusterStore(io);
	const saved = store.list();
	const skipped = store.skipped();
	const clusters = saved
		.filter(c => !c.damage)
		.map(c => ({
			name: c.name,
			provider: c.spec?.provider ?? c.journal?.provider ?? 'unknown',
			nodes: c.journal?.nodes.filter(n => n.state !== 'planned').length ?? 0,
			planned: c.spec ? 1 + c.spec.workers : 0,
			state: c.journal?.state ?? 'saved',
			updatedAt: c.journal?.updatedAt ?? null,
		}));
	const damaged = saved.flatMap(c => (c.damage ? [{name: c.name, ...c.damage}] : []));
	const code = damaged.length > 0 ? 1 : 0;
	if (options.json) {
		io.stdout.write(`${JSON.stringify({home: store.home, clusters, damaged, skipped})}\n`);
		return code;
	}
	// What is in clusters/ but no cluster is said, not hidden.
	for (const s of skipped) io.stderr.write(`skipped ${s.entry}: ${s.why}\n`);
	if (clusters.length === 0 && damaged.length === 0) {
		io.stdout.write(`no clusters in ${store.home}; create one with: swarmbee up demo\n`);
		return 0;
	}
	if (clusters.length > 0) {
		const rows = clusters.map(c => [
			c.name,
			c.provider,
			`${c.nodes}/${c.planned}`,
			c.state,
			c.updatedAt ? c.updatedAt.replace('T', ' ').slice(0, 16) : '-',
		]);
		io.stdout.write(`${formatTable([['NAME', 'PROVIDER', 'NODES', 'STATE', 'UPDATED'], ...rows]).join('\n')}\n`);
	}
	for (const d of damaged)
		io.stderr.write(
			`${formatError({kind: 'input', message: `cluster ${d.name} cannot be read: ${d.message}`, ...(d.hint ? {hint: d.hint} : {}), nextSteps: d.nextSteps}).join('\n')}\n`,
		);
	return code;
}
