import {rmSync} from 'node:fs';
import {ExternalError} from '../source/errors.js';
import {readPublicKey} from '../source/ssh/keys.js';
import type {ClusterContext, Step} from './types.js';

/**
 * `down`: every container, network and volume (droplet, firewall, key,
 * tag) carrying the cluster's label that this state made, removed by the
 * provider, which then lists again to prove nothing is left. The journal
 * forgets the nodes either way; the saved spec stays (so `up` rebuilds the
 * cluster). Whatever is still there fails the step, named.
 */
export const destroyStep: Step<Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'provider' | 'options'>> = {
	id: 'destroy',
	title: 'Remove everything',
	async run(ctx, io) {
		const {spec, journal, paths} = ctx;
		const existed = journal.isPersisted;
		if (existed)
			journal.update(j => {
				j.state = 'destroying';
			});
		// The key on disk (not one made for this run) tells which uploaded SSH key is this cluster's (clouds).
		const report = await ctx.provider.destroy(
			{
				spec,
				owner: journal.value.owner,
				signal: io.signal,
				emit: io.emit,
				progress: io.progress,
				sshPublicKey: readPublicKey(paths.clusterKey),
			},
			{includeForeign: ctx.options.removeForeign ?? false},
		);
		if (existed) {
			journal.update(j => {
				j.nodes = [];
				delete j.infra;
				delete j.swarm;
				delete j.verifiedAt;
				j.steps = {};
			});
			// Host keys belonged to machines that are gone; new nodes get new ones.
			rmSync(paths.hostKeysDir, {recursive: true, force: true});
		}
		if (report.foreign.length > 0) {
			io.progress(`left alone (made by another swarmbee state; --force removes them): ${report.foreign.join(', ')}`);
		}
		const removed = `removed ${report.removed.join(', ')} of cluster ${spec.name}`;
		if (report.remaining.length > 0) {
			throw new ExternalError(`${removed}, but some is still there: ${report.remaining.join(', ')}`, {
				nextSteps: [`run swarmbee down ${spec.name} again`, 'remove what is named by hand if it stays'],
			});
		}
		return {changed: true, summary: `${removed}; nothing ${report.scope} remains`};
	},
};
