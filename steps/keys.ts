import {counted} from '../source/render/format.js';
import {ensureKeyPair, fingerprint, hostKeyFile, loadKeyPair, saveKeyPair} from '../source/ssh/keys.js';
import {planNodes} from '../source/spec.js';
import type {ClusterContext, Step} from './types.js';

/**
 * The cluster's SSH key (root login on every node; runCluster made it in
 * memory for a new cluster, written here, after preflight passed) and one
 * host key per planned node. Host keys are made here, before the machines,
 * so the first connection to a node is already verified: no trust on first
 * use.
 */
export const keysStep: Step<Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'clusterKey'>> = {
	id: 'keys',
	title: 'SSH keys',
	async run(ctx, io) {
		const {spec, paths, journal, clusterKey} = ctx;
		let made = 0;
		if (!loadKeyPair(paths.clusterKey)) {
			saveKeyPair(paths.clusterKey, clusterKey);
			made++;
		}
		for (const plan of planNodes(spec)) {
			const record = journal.value.nodes.find(n => n.name === plan.name);
			// A node that exists keeps the key it was given; only planned ones may get a new one.
			if (record && record.state !== 'planned') continue;
			const host = ensureKeyPair(hostKeyFile(paths.hostKeysDir, plan.name), `${plan.name}.${spec.name}`);
			if (host.created) made++;
			const hostKey = {publicKey: host.pair.publicKey, fingerprint: fingerprint(host.pair.publicKey)};
			journal.update(j => {
				const existing = j.nodes.find(n => n.name === plan.name);
				if (existing) {
					existing.hostKey = hostKey;
					existing.role = plan.role;
				} else {
					j.nodes.push({name: plan.name, index: plan.index, role: plan.role, state: 'planned', hostKey});
				}
				j.nodes.sort((a, b) => a.index - b.index);
			});
		}
		io.progress(`cluster key ${fingerprint(clusterKey.publicKey)} (${paths.clusterKey})`);
		return {changed: made > 0, summary: made > 0 ? `${counted(made, 'key')} generated` : 'keys in place'};
	},
};
