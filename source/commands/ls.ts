import {InputError} from '../errors.js';
import {swarmbeeHome} from '../paths.js';
import {formatTable} from '../render/format.js';
import {ClusterStore} from '../store/cluster-store.js';
import type {CommandArgs, CommandIO} from './io.js';

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	if (positionals.length > 0) throw new InputError('ls takes no arguments');
	return lsCommand({json: Boolean(values.json)}, io);
}

/**
 *     NAME   PROVIDER  NODES  STATE  UPDATED
 *     demo   local     4      ready  2026-11-25 12:04
 */
async function lsCommand(options: {json: boolean}, io: CommandIO): Promise<number> {
	const store = new ClusterStore(swarmbeeHome(io.env));
	const clusters = store.list().map(c => ({
		name: c.name,
		provider: c.spec?.provider ?? c.journal?.provider ?? 'unknown',
		nodes: c.journal?.nodes.filter(n => n.state !== 'planned').length ?? 0,
		planned: c.spec ? 1 + c.spec.workers : 0,
		state: c.journal?.state ?? 'saved',
		updatedAt: c.journal?.updatedAt ?? null,
	}));
	if (options.json) {
		io.stdout.write(`${JSON.stringify({home: store.home, clusters})}\n`);
		return 0;
	}
	if (clusters.length === 0) {
		io.stdout.write(`no clusters in ${store.home}; create one with: swarmbee up demo\n`);
		return 0;
	}
	const rows = clusters.map(c => [c.name, c.provider, `${c.nodes}/${c.planned}`, c.state, c.updatedAt ? c.updatedAt.replace('T', ' ').slice(0, 16) : '-']);
	io.stdout.write(`${formatTable([['NAME', 'PROVIDER', 'NODES', 'STATE', 'UPDATED'], ...rows]).join('\n')}\n`);
	return 0;
}
