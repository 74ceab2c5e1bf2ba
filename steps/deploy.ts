import {
	describeHealth,
	lastingUnavailableTables,
	tablesUnavailableError,
	unavailableTables,
	waitForHealthy,
} from '../source/database/health.js';
import {emptyBeforeRemoval, removal} from '../source/database/leaving.js';
import {ensurePassword} from '../source/database/password.js';
import {sideLoadImage, sideLoadsDatabase} from '../source/nodes/side-load.js';
import {
	passwordSecretContent,
	passwordSecretName,
	renderStackFile,
	secretEnsureCommand,
	serverName,
	stackDeployCommand,
	stackHash,
	stackServiceName,
	stackServicesCommand,
} from '../source/database/stack.js';
import {parseJsonLines} from '../source/nodes/swarm.js';
import {writeFileAtomic} from '../source/files.js';
import {liveNodes} from '../source/store/journal.js';
import type {ClusterContext, Step} from './types.js';

const REMOTE_STACK_FILE = '/root/.swarmbee/stack.yml';

/**
 * RethinkDB, one server per node: the stack file is rendered (and kept in the
 * cluster's folder), the admin password goes in as a Docker secret, images
 * are side-loaded where nodes cannot pull, and `docker stack deploy` runs on
 * queenbee. Done when the database itself says every server is connected.
 */
export const deployStep: Step<Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'provider' | 'docker' | 'ssh'>> = {
	id: 'deploy',
	title: 'RethinkDB',
	async run(ctx, io) {
		const {spec, journal, ssh, paths, docker} = ctx;
		if (spec.database === 'none') return {changed: false, summary: 'skipped (--database none)'};
		const {signal} = io;
		const nodes = liveNodes(journal.value).map(n => n.name);
		const password = ensurePassword(paths.rethinkdbPassword);
		const secret = passwordSecretName(password);
		const {overlay, databaseOverlay} = journal.value.swarm ?? {};
		if (!overlay || !databaseOverlay) throw new Error('the network step records both overlays before deploy runs');
		const stack = renderStackFile({
			cluster: spec.name,
			nodes,
			image: spec.rethinkdbImage,
			memoryLimitBytes: spec.memoryLimitBytes,
			network: overlay,
			databaseNetwork: databaseOverlay,
			secret,
		});
		writeFileAtomic(paths.stack, stack, 0o600);
		const hash = stackHash(stack);
		let changed = false;

		const sideLoad = sideLoadsDatabase(spec, ctx.provider.capabilities);
		if (sideLoad) {
			const [local] = await docker.inspect<{Id: string}>('image', [spec.rethinkdbImage], {signal});
			const loaded = await sideLoadImage(
				docker,
				ssh,
				liveNodes(journal.value),
				{tag: spec.rethinkdbImage, id: local!.Id},
				{
					signal,
					onProgress: (node, message, done) => io.node(node).state(done ? 'running' : 'loading', message),
				},
			);
			if (loaded.loaded.length > 0) {
				changed = true;
				io.progress(`${spec.rethinkdbImage} side-loaded into ${loaded.loaded.length} node(s)`);
			}
		}

		const manager = await ssh.get(nodes[0]!, signal);
		const services = parseJsonLines<{Name: string}>((await manager.exec(stackServicesCommand, {signal})).stdout);
		const deployed = new Set(services.map(s => s.Name));
		const complete = nodes.every(node => deployed.has(stackServiceName(node))) && services.length === nodes.length;
		// Servers of nodes a scale-down removes whose services this deploy takes away.
		const leaving = journal.value.nodes
			.filter(n => n.state === 'deleting' && deployed.has(stackServiceName(n.name)))
			.map(n => n.name);
		if (journal.value.database?.stackHash !== hash || !complete) {
			await manager.run(secretEnsureCommand(secret), {signal, stdin: passwordSecretContent(password)});
			await manager.run('mkdir -p -m 700 /root/.swarmbee', {signal});
			await manager.upload(REMOTE_STACK_FILE, stack, 0o600);
			io.progress(`docker stack deploy: ${nodes.length} servers (stack file: ${paths.stack})`);
			// The last moment before a leaving server's service goes: what arrived on it since its tables moved moves too.
			if (leaving.length > 0) await emptyBeforeRemoval(removal(ctx, password, signal, io.progress), leaving);
			await manager.run(
				stackDeployCommand(REMOTE_STACK_FILE, sideLoad ? 'never' : journal.value.database ? 'changed' : 'always'),
				{signal},
			);
			journal.update(j => {
				j.database = {image: spec.rethinkdbImage, stackHash: hash, secret, deployedAt: new Date().toISOString()};
			});
			changed = true;
		}
		// Each node's row says whether its server is connected yet: the live view's "n of m".
		const said = new Map<string, boolean>();
		const health = await waitForHealthy({
			ssh,
			nodes,
			password,
			cluster: spec.name,
			signal,
			gone: leaving.map(serverName),
			onChange: description => io.progress(`RethinkDB: ${description}`),
			onHealth: h => {
				const missing = new Set(h.missing);
				for (const node of nodes) {
					const connected = !missing.has(serverName(node)) && !h.error;
					if (said.get(node) === connected) continue;
					said.set(node, connected);
					io.node(node).state(
						connected ? 'running' : 'starting',
						connected ? 'database server connected' : 'database server not connected yet',
					);
				}
			},
		});
		// A table that cannot serve is never passed with a tick: a scale-down stops here (after a few seconds' grace);
		// up's tables step, next, reads it again and says what it is.
		const unavailable =
			leaving.length > 0
				? await lastingUnavailableTables({ssh, nodes, password, signal, first: health})
				: unavailableTables(health);
		if (unavailable.length > 0 && leaving.length > 0) throw tablesUnavailableError(unavailable, spec.name);
		const tables =
			unavailable.length > 0 ? `; ${unavailable.length} not available (the Tables step looks at them next)` : '';
		return {changed, summary: `${describeHealth(health)}${tables}${changed ? '' : ', unchanged'}`};
	},
};
