import {ensureLocalImage} from '../source/docker/local-image.js';
import {ensureRethinkdbImage, findRethinkdbSource} from '../source/docker/rethinkdb-image.js';
import {InputError} from '../source/errors.js';
import {sideLoadsDatabase} from '../source/nodes/side-load.js';
import {DEFAULT_RETHINKDB_IMAGE} from '../source/spec-fields.js';
import {providerContext, type ClusterContext, type Step, type StepIO} from './types.js';

type PreflightContext = Pick<ClusterContext, 'spec' | 'journal' | 'clusterKey' | 'provider' | 'docker'> & {
	options?: ClusterContext['options'];
};

/**
 * Everything that can be checked before anything exists: the engine or API,
 * sizes, images, capacity, whether the name is free, and the database image
 * when it will be side-loaded. Failing here creates nothing, not even the
 * cluster's state folder.
 */
export const preflightStep: Step<PreflightContext> = {
	id: 'preflight',
	title: 'Preflight checks',
	async run(ctx, io) {
		const {progress} = io;
		if (ctx.options?.notice) io.warn(ctx.options.notice);
		const lines = await ctx.provider.preflight(providerContext(ctx, io));
		for (const line of lines) progress(line);
		if (sideLoadsDatabase(ctx.spec, ctx.provider.capabilities)) await ensureDatabaseImage(ctx, io);
		return {changed: false, summary: lines[0] ?? 'ok'};
	},
};

/**
 * The database image nodes will be given, on this engine: there already,
 * pulled, or, where the official image cannot be pulled (offline, no Docker
 * Hub) and the real server's source folder is at hand, built from it once
 * (`npm run rethinkdb-image` does the same). The cluster then runs that
 * image, and its saved spec says so, so every later run uses the same one.
 * An image the user named is never replaced.
 */
async function ensureDatabaseImage(ctx: PreflightContext, io: StepIO): Promise<void> {
	const {spec} = ctx;
	const asked = spec.rethinkdbImage;
	const why = `Nodes on the ${ctx.provider.name} provider load the database image from this machine's engine.`;
	const found = sourceFolder();
	const source = asked === DEFAULT_RETHINKDB_IMAGE ? found : undefined;
	try {
		const image = await ensureLocalImage(ctx.docker, asked, {
			signal: io.signal,
			onLine: line => io.progress(`pulling ${asked}: ${line}`),
			why,
			// An image the user named is theirs to fix; the real server's source folder is one way out.
			alternatives: found
				? [
						`or build RethinkDB 2.4.4 from its source folder (${found}) once and use it: --rethinkdb-image "$(npm run -s rethinkdb-image)" (in swarmbee's folder)`,
					]
				: [],
		});
		io.progress(`database image ${asked} ${image.pulled ? 'pulled' : 'present'} on this engine`);
	} catch (error) {
		if (!(error instanceof InputError) || !source) throw error;
		const built = await ensureRethinkdbImage(ctx.docker, {
			signal: io.signal,
			onLine: line => io.progress(`building RethinkDB 2.4.4: ${line}`),
		});
		spec.rethinkdbImage = built.tag;
		io.progress(
			`${asked} cannot be pulled here: RethinkDB 2.4.4 ${built.built ? 'built' : 'found built'} from its source folder ${source} as ${built.tag}, which this cluster runs`,
		);
	}
}

/** The real server's source folder, where one is at hand (our CI, offline machines). */
function sourceFolder(): string | undefined {
	try {
		return findRethinkdbSource(process.env);
	} catch {
		return undefined;
	}
}
