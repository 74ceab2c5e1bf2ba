import {rotateServerCertificates, type RotatedServer} from '../source/database/tls-rotate.js';
import {writeFileAtomic} from '../source/files.js';
import type {ClusterSpec} from '../source/spec.js';
import type {NodeShells} from '../source/ssh/shell.js';
import type {ClusterPaths, JournalHandle} from '../source/store/cluster-store.js';
import type {Step} from './types.js';

export interface RotateContext {
	spec: ClusterSpec;
	paths: ClusterPaths;
	journal: JournalHandle;
	ssh: NodeShells;
	password: string;
	/** Filled by the step: each server's serials and how long it took to come back. */
	rotated?: RotatedServer[];
}

/**
 * `swarmbee certs NAME rotate`: a new certificate for every database server,
 * one server restarted at a time (source/database/tls-rotate.ts).
 */
export const rotateStep: Step<RotateContext> = {
	id: 'rotate',
	title: 'Rotate server certificates',
	async run(ctx, io) {
		ctx.rotated = await rotateServerCertificates({
			spec: ctx.spec,
			journal: ctx.journal,
			tlsDir: ctx.paths.tlsDir,
			stackFile: ctx.paths.stack,
			password: ctx.password,
			ssh: ctx.ssh,
			signal: io.signal,
			progress: (node, message) => io.node(node).state('running', message),
			writeStack: (file, content) => writeFileAtomic(file, content, 0o600),
		});
		const slowest = Math.max(...ctx.rotated.map(s => s.seconds));
		return {
			changed: ctx.rotated.length > 0,
			summary: `${ctx.rotated.length} server certificates replaced, one server at a time (the slowest back in ${slowest.toFixed(1)} s)`,
		};
	},
};
