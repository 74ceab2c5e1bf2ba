import {sideLoadsDatabase} from '../source/nodes/side-load.js';
import {ensureLocalImage} from '../source/docker/local-image.js';
import {findRethinkdbSource} from '../source/docker/rethinkdb-image.js';
import {providerContext, type ClusterContext, type Step} from './types.js';

/** Where the real server's source folder is at hand (our CI, offline machines), how to build its image instead of pulling. */
function offlineImageHint(env: NodeJS.ProcessEnv): string[] {
	try {
		findRethinkdbSource(env);
		return [
			'or, offline, build RethinkDB 2.4.4 from its source folder once and use it: --rethinkdb-image "$(npm run -s rethinkdb-image)" (in swarmbee\'s folder)',
		];
	} catch {
		return [];
	}
}

/**
 * Everything that can be checked before anything exists: the engine or API,
 * sizes, images, capacity, whether the name is free, and the database image
 * when it will be side-loaded. Failing here creates nothing, not even the
 * cluster's state folder.
 */
export const preflightStep: Step<
	Pick<ClusterContext, 'spec' | 'journal' | 'clusterKey' | 'provider' | 'docker'> & {
		options?: ClusterContext['options'];
	}
> = {
	id: 'preflight',
	title: 'Preflight checks',
	async run(ctx, io) {
		const {progress} = io;
		if (ctx.options?.notice) io.warn(ctx.options.notice);
		const lines = await ctx.provider.preflight(providerContext(ctx, io));
		for (const line of lines) progress(line);
		if (sideLoadsDatabase(ctx.spec, ctx.provider.capabilities)) {
			const image = await ensureLocalImage(ctx.docker, ctx.spec.rethinkdbImage, {
				signal: io.signal,
				onLine: line => progress(`pulling ${ctx.spec.rethinkdbImage}: ${line}`),
				why: `Nodes on the ${ctx.provider.name} provider load the database image from this machine's engine.`,
				alternatives: offlineImageHint(process.env),
			});
			progress(`database image ${ctx.spec.rethinkdbImage} ${image.pulled ? 'pulled' : 'present'} on this engine`);
		}
		return {changed: false, summary: lines[0] ?? 'ok'};
	},
};
