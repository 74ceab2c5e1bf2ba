import {pause} from '../source/concurrency.js';
import {OVERLAY_NETWORK} from '../source/cluster/overlay.js';
import {ensurePassword} from '../source/cluster/password.js';
import {checkHealth} from '../source/cluster/rethinkdb.js';
import {sideLoadImage} from '../source/cluster/side-load.js';
import {
	passwordSecretContent, passwordSecretName, renderStackFile, secretEnsureCommand, stackDeployCommand, stackHash,
	stackServiceName, stackServicesCommand,
} from '../source/cluster/stack.js';
import type {RethinkdbHealth} from '../source/cluster/rethinkdb.js';
import {parseJsonLines} from '../source/cluster/swarm.js';
import {ExternalError} from '../source/errors.js';
import {event} from '../source/events.js';
import {writeFileAtomic} from '../source/files.js';
import {liveNodes} from '../source/store/journal.js';
import {sideLoadsDatabase} from './preflight.js';
import type {ClusterContext, Step, StepIO} from './types.js';

const REMOTE_STACK_FILE = '/root/.swarmbee/stack.yml';

export function isHealthy(health: RethinkdbHealth): boolean {
	return !health.error && health.connected === health.expected && health.missing.length === 0 && !health.issues.some(i => i.critical);
}

export function describeHealth(health: RethinkdbHealth): string {
	const base = `${health.connected} of ${health.expected} servers connected`;
	if (health.error) return `${base} (${health.error})`;
	const extra = [
		health.missing.length > 0 ? `missing: ${health.missing.join(', ')}` : '',
		health.issues.length > 0 ? `issues: ${health.issues.map(i => `${i.type}${i.critical ? ' (critical)' : ''}`).join(', ')}` : '',
	].filter(Boolean);
	return extra.length > 0 ? `${base}; ${extra.join('; ')}` : base;
}

/** Polls the database's own view of itself until every server is connected with no critical issue. */
export async function waitForHealthy(ctx: ClusterContext, io: StepIO, step: string, timeoutMs = 300_000): Promise<RethinkdbHealth> {
	const nodes = liveNodes(ctx.journal.value).map(n => n.name);
	const password = ensurePassword(ctx.paths.rethinkdbPassword);
	const deadline = Date.now() + timeoutMs;
	let health: RethinkdbHealth | undefined;
	let last = '';
	while (Date.now() < deadline) {
		health = await checkHealth({ssh: ctx.ssh, manager: nodes[0]!, nodes, password, signal: io.signal});
		const said = describeHealth(health);
		if (said !== last) io.emit(event({type: 'step-progress', step, message: `RethinkDB: ${said}`}));
		last = said;
		if (isHealthy(health)) return health;
		await pause(2_000, io.signal);
	}
	throw new ExternalError(`RethinkDB did not come together within ${timeoutMs / 1000} s: ${describeHealth(health!)}`, {
		nextSteps: [
			`see each server's log on its node: docker service logs ${stackServiceName(nodes[0]!)}`,
			`run swarmbee up ${ctx.spec.name} again once the cause is fixed`,
		],
	});
}

/**
 * RethinkDB, one server per node: the stack file is rendered (and kept in the
 * cluster's folder), the admin password goes in as a Docker secret, images
 * are side-loaded where nodes cannot pull, and `docker stack deploy` runs on
 * queenbee. Done when the database itself says every server is connected.
 */
export const deployStep: Step = {
	id: 'deploy',
	title: 'RethinkDB',
	async run(ctx, io) {
		const {spec, journal, ssh, paths, docker} = ctx;
		if (spec.database === 'none') return {changed: false, summary: 'skipped (--database none)'};
		const {signal} = io;
		const nodes = liveNodes(journal.value).map(n => n.name);
		const password = ensurePassword(paths.rethinkdbPassword);
		const secret = passwordSecretName(password);
		const stack = renderStackFile({cluster: spec.name, nodes, image: spec.rethinkdbImage, memoryLimitBytes: spec.memoryLimitBytes, network: OVERLAY_NETWORK, secret});
		writeFileAtomic(paths.stack, stack, 0o600);
		const hash = stackHash(stack);
		let changed = false;

		const sideLoad = sideLoadsDatabase(ctx);
		if (sideLoad) {
			const [local] = await docker.inspect<{Id: string}>('image', [spec.rethinkdbImage], {signal});
			const loaded = await sideLoadImage(docker, ssh, liveNodes(journal.value), {tag: spec.rethinkdbImage, id: local!.Id}, {
				signal,
				onProgress: (node, message) => io.emit(event({type: 'node-state', node, state: 'running', detail: message})),
			});
			if (loaded.loaded.length > 0) {
				changed = true;
				io.emit(event({type: 'step-progress', step: 'deploy', message: `${spec.rethinkdbImage} side-loaded into ${loaded.loaded.length} node(s)`}));
			}
		}

		const manager = await ssh.get(nodes[0]!, signal);
		const services = parseJsonLines<{Name: string}>((await manager.exec(stackServicesCommand, {signal})).stdout);
		const deployed = new Set(services.map(s => s.Name));
		const complete = nodes.every(node => deployed.has(stackServiceName(node))) && services.length === nodes.length;
		if (journal.value.database?.stackHash !== hash || !complete) {
			await manager.run(secretEnsureCommand(secret), {signal, stdin: passwordSecretContent(password)});
			await manager.run('mkdir -p -m 700 /root/.swarmbee', {signal});
			await manager.upload(REMOTE_STACK_FILE, stack, 0o600);
			io.emit(event({type: 'step-progress', step: 'deploy', message: `docker stack deploy: ${nodes.length} servers (stack file: ${paths.stack})`}));
			await manager.run(stackDeployCommand(REMOTE_STACK_FILE, sideLoad ? 'never' : 'always'), {signal});
			journal.update(j => {
				j.database = {image: spec.rethinkdbImage, stackHash: hash, secret, deployedAt: new Date().toISOString()};
			});
			changed = true;
		}
		const health = await waitForHealthy(ctx, io, 'deploy');
		return {changed, summary: `${describeHealth(health)}${changed ? '' : ', unchanged'}`};
	},
};
