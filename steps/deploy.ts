import {
	describeHealth,
	lastingUnavailableTables,
	tablesUnavailableError,
	unavailableTables,
	waitForHealthy,
} from '../source/database/health.js';
import {emptyBeforeRemoval, removal} from '../source/database/leaving.js';
import {ensurePassword} from '../source/database/password.js';
import {outOfSequenceAgain} from '../source/nodes/restart.js';
import {sideLoadImage, sideLoadsDatabase} from '../source/nodes/side-load.js';
import {
	passwordSecretContent,
	passwordSecretName,
	REMOTE_STACK_FILE,
	renderStackFile,
	secretEnsureCommand,
	serverName,
	stackDeployCommand,
	stackHash,
	stackServiceName,
	stackServicesCommand,
} from '../source/database/stack.js';
import {driverTlsOf} from '../source/database/rethinkdb.js';
import {parseJsonLines} from '../source/nodes/swarm.js';
import {writeFileAtomic} from '../source/files.js';
import {liveNodes} from '../source/store/journal.js';
import {InputError} from '../source/errors.js';
import {
	certifiedNodes,
	ensureAuthority,
	ensureServerCertificates,
	readServerCertificate,
	removeServerCertificate,
	tlsFiles,
	trustedBundle,
} from '../source/database/tls-store.js';
import {
	describeMove,
	pruneTlsSecretsCommand,
	secretCreations,
	serverTlsForDeploy,
	tlsSecretNames,
	type TlsMaterial,
} from '../source/database/tls-rollout.js';
import {existsSync} from 'node:fs';
import type {ClusterContext, Step} from './types.js';

/**
 * The TLS files for this deploy (`--tls`, the default): the cluster's CA,
 * made at its first deploy and kept in its keys folder, and a certificate
 * for each server that has none. Files of servers that left are forgotten.
 * A server added while `certs rotate --ca` is unfinished is refused: its
 * certificate, from the new CA, would not be trusted yet by the others.
 */
async function tlsMaterial(
	ctx: Pick<ClusterContext, 'spec' | 'paths' | 'journal'>,
	nodes: string[],
	progress: (message: string) => void,
): Promise<TlsMaterial> {
	const files = tlsFiles(ctx.paths.tlsDir);
	const {authority, created} = await ensureAuthority(files, ctx.spec.name);
	if (created) progress(`made the cluster's CA (${files.caCert}; its key stays on this machine)`);
	const deployed = new Set(Object.keys(ctx.journal.value.database?.tls?.servers ?? {}));
	const newcomers = nodes.filter(node => !deployed.has(node) && !readServerCertificate(files, node));
	if (newcomers.length > 0 && existsSync(files.previousCaCert) && deployed.size > 0) {
		throw new InputError(`a CA rotation of ${ctx.spec.name} is unfinished, so a new server could not be trusted yet`, {
			nextSteps: [`finish it first: swarmbee certs ${ctx.spec.name} rotate --ca, then run this again`],
		});
	}
	const issued = await ensureServerCertificates(files, ctx.spec.name, authority, nodes);
	if (issued.length > 0) progress(`issued server certificates: ${issued.join(', ')}`);
	for (const node of certifiedNodes(files)) if (!nodes.includes(node)) removeServerCertificate(files, node);
	const servers: TlsMaterial['servers'] = {};
	for (const node of nodes) servers[node] = readServerCertificate(files, node)!;
	return {trusted: trustedBundle(files), servers};
}

/**
 * RethinkDB, one server per node: the stack file is rendered (and kept in the
 * cluster's folder), the admin password goes in as a Docker secret, images
 * are side-loaded where nodes cannot pull, and `docker stack deploy` runs on
 * queenbee. Done when the database itself says every server is connected.
 *
 * With TLS (`up --tls`; off by default, docs/tls.md), every server gets its certificate and key and the
 * cluster's CA as secrets named by content; a server that runs keeps the
 * ones it has (`certs rotate` changes them one server at a time). Moving an
 * existing cluster to TLS or off it restarts every server at once: the pause
 * is said before, measured after, and kept for the next estimate.
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
		const material = spec.tls ? await tlsMaterial(ctx, nodes, io.progress) : undefined;
		const tls = serverTlsForDeploy({nodes, deployed: journal.value.database, material});
		// The first server's wait for its peers on a restart comes with a deploy that restarts every server anyway.
		const seedWaits = !journal.value.database || journal.value.database.seedWaits === true || tls.move !== undefined;
		// Servers keep the image they run: the cluster's changes only through `swarmbee upgrade` (up refuses another one).
		const image = journal.value.database?.image ?? spec.rethinkdbImage;
		const images = journal.value.database?.images;
		const stack = renderStackFile({
			cluster: spec.name,
			nodes,
			image,
			...(images ? {images} : {}),
			memoryLimitBytes: spec.memoryLimitBytes,
			network: overlay,
			databaseNetwork: databaseOverlay,
			secret,
			...(tls.servers ? {tls: tls.servers} : {}),
			seedWaits,
		});
		writeFileAtomic(paths.stack, stack, 0o600);
		const hash = stackHash(stack);
		let changed = false;

		const sideLoad = sideLoadsDatabase(spec, ctx.provider.capabilities);
		// Every image the stack names (more than one while an upgrade is unfinished).
		for (const tag of sideLoad ? new Set([image, ...Object.values(images ?? {})]) : []) {
			const id = await docker.imageId(tag, {signal});
			if (!id)
				throw new InputError(`${tag}, which database servers of ${spec.name} run, is not on this machine's engine`, {
					hint: 'nodes on this provider load the database image from here',
					nextSteps: [`put it back (docker pull ${tag}, or build it again), then run this again`],
				});
			const loaded = await sideLoadImage(
				docker,
				ssh,
				liveNodes(journal.value),
				{tag, id},
				{
					signal,
					onProgress: (node, message, done) => io.node(node).state(done ? 'running' : 'loading', message),
				},
			);
			if (loaded.loaded.length > 0) {
				changed = true;
				io.progress(`${tag} side-loaded into ${loaded.loaded.length} node(s)`);
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
		const before = journal.value.database;
		const startsAll = !before || tls.move !== undefined;
		let deployedAt: number | undefined;
		if (before?.stackHash !== hash || !complete) {
			await manager.run(secretEnsureCommand(secret), {signal, stdin: passwordSecretContent(password)});
			for (const creation of secretCreations(tls.create))
				await manager.run(creation.command, {signal, stdin: creation.stdin});
			await manager.run('mkdir -p -m 700 /root/.swarmbee', {signal});
			await manager.upload(REMOTE_STACK_FILE, stack, 0o600);
			// Said before every server restarts at once, with what it costs (up asked first, in a terminal).
			if (tls.move) io.progress(describeMove(spec.name, tls.move, before));
			io.progress(`docker stack deploy: ${nodes.length} servers (stack file: ${paths.stack})`);
			// The last moment before a leaving server's service goes: what arrived on it since its tables moved moves too.
			if (leaving.length > 0) await emptyBeforeRemoval(removal(ctx, password, signal, io.progress), leaving);
			deployedAt = Date.now();
			// Deployed again while Swarm says a service changed under the update (its previous update recording its state).
			await outOfSequenceAgain(
				() =>
					manager.run(stackDeployCommand(REMOTE_STACK_FILE, sideLoad ? 'never' : before ? 'changed' : 'always'), {
						signal,
					}),
				{signal},
			);
			journal.update(j => {
				j.database = {
					image,
					stackHash: hash,
					secret,
					deployedAt: new Date().toISOString(),
					...(tls.servers && material ? {tls: {ca: material.trusted, servers: tls.servers}} : {}),
					...(before?.restartSeconds !== undefined ? {restartSeconds: before.restartSeconds} : {}),
					...(seedWaits ? {seedWaits} : {}),
					...(before?.images ? {images: before.images} : {}),
				};
			});
			changed = true;
		}
		const database = journal.value.database!;
		// Each node's row says whether its server is connected yet: the live view's "n of m".
		const said = new Map<string, boolean>();
		const health = await waitForHealthy({
			ssh,
			nodes,
			password,
			cluster: spec.name,
			signal,
			gone: leaving.map(serverName),
			...(database.tls ? {tls: {ca: database.tls.ca}} : {}),
			// After every server restarted at once, the pause lasts until every table is back.
			tablesReady: startsAll && deployedAt !== undefined,
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
				? await lastingUnavailableTables({ssh, nodes, password, signal, first: health, ...driverTlsOf(journal.value)})
				: unavailableTables(health);
		if (unavailable.length > 0 && leaving.length > 0) throw tablesUnavailableError(unavailable, spec.name);
		const tables =
			unavailable.length > 0 ? `; ${unavailable.length} not available (the Tables step looks at them next)` : '';
		let measured = '';
		if (startsAll && deployedAt !== undefined) {
			const seconds = (Date.now() - deployedAt) / 1000;
			journal.update(j => {
				j.database!.restartSeconds = Math.round(seconds * 10) / 10;
			});
			if (tls.move) {
				measured = `; moved ${tls.move === 'to tls' ? 'to TLS' : 'off TLS'} in one restart: every server connected and every table ready ${seconds.toFixed(1)} s after the deploy`;
				io.progress(
					`every server restarted ${tls.move === 'to tls' ? 'with' : 'without'} TLS: ${seconds.toFixed(1)} s until every server was connected and every table ready`,
				);
			}
		}
		if (deployedAt !== undefined && (database.tls || before?.tls)) {
			// Secrets no service names any more (a server's files before a move, a rotation, a removal) go.
			await manager.exec(pruneTlsSecretsCommand(tlsSecretNames(database.tls?.servers)), {signal});
		}
		return {changed, summary: `${describeHealth(health)}${measured}${tables}${changed ? '' : ', unchanged'}`};
	},
};
