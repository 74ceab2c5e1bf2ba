import r from 'rethinkdb';
import {pollUntil} from '../concurrency.js';
import {outOfSequenceAgain} from '../nodes/restart.js';
import {ExternalError, InputError} from '../errors.js';
import type {ClusterSpec} from '../spec.js';
import type {NodeShells} from '../ssh/shell.js';
import type {JournalHandle} from '../store/cluster-store.js';
import {liveNodes} from '../store/journal.js';
import {issueServerCertificate} from './certificate-authority.js';
import {databaseNodes, openDatabase} from './rethinkdb.js';
import {
	deployedStackInput,
	REMOTE_STACK_FILE,
	renderStackFile,
	serverName,
	type ServerTlsSecrets,
	stackDeployCommand,
	stackHash,
} from './stack.js';
import {pruneTlsSecretsCommand, secretCreations, tlsSecretNames, wantedServerTls} from './tls-rollout.js';
import {readAuthority, readServerCertificate, tlsFiles, trustedBundle, writeServerCertificate} from './tls-store.js';
import {certificateFacts} from './tls.js';

/**
 * `swarmbee certs NAME rotate`: a new certificate for every database server,
 * one server at a time. RethinkDB reads its certificate only when it starts,
 * so each server restarts with its new one; the next waits until that
 * server is connected again (a newer process than before) and every table
 * has all its replicas ready, so at most one server is ever away.
 *
 * The change itself is the stack swarmbee deployed with one server's
 * secrets replaced (new names, as they are named by content): `docker stack
 * deploy` then restarts that one service and no other. The journal records
 * each server's new secrets as soon as its stack is deployed, so a rotation
 * cut off half-way leaves servers each running a certificate of the same CA
 * (all valid) and a re-run rotates them all again.
 *
 * This is the minimum a rotation needs (issue 24); the shared one-server-
 * at-a-time primitive (`source/database/rolling.ts`, on the day2 branch)
 * also moves primaries off a server before it stops, which shortens the
 * failed-write window, and should replace `rollOne` here once on main.
 */

export interface RotatedServer {
	node: string;
	/** Serials (hex) of the certificate before and after. */
	before: string;
	after: string;
	/** From the stack deploy until the server was back and every table ready. */
	seconds: number;
}

export interface RotateInput {
	spec: Pick<ClusterSpec, 'name' | 'rethinkdbImage' | 'memoryLimitBytes'>;
	journal: JournalHandle;
	tlsDir: string;
	stackFile: string;
	password: string;
	ssh: NodeShells;
	signal: AbortSignal;
	progress: (node: string, message: string) => void;
	/** Per server, from its deploy until it is back and every table ready (default 5 minutes). */
	timeoutMs?: number;
	/** Test seam: writes the stack file kept in the cluster's folder. */
	writeStack: (file: string, content: string) => void;
}

/** The clusters whose servers do not run TLS have nothing to rotate: said with the way to turn it on. */
export function requireTls(
	journal: JournalHandle,
	cluster: string,
): {ca: string; servers: Record<string, ServerTlsSecrets>} {
	const tls = journal.value.database?.tls;
	if (!tls) {
		throw new InputError(`${cluster}'s database servers do not run with TLS, so there is no certificate to rotate`, {
			nextSteps: [`move it to TLS first: swarmbee up ${cluster} --tls (one restart of every server)`],
		});
	}
	return tls;
}

/** Each server's process start time, by server name: a restart shows as a newer one. */
async function serverStarts(connection: r.Connection): Promise<Map<string, string>> {
	const rows = (await r
		.db('rethinkdb')
		.table('server_status')
		.map(row => ({name: row('name'), started: row('process')('time_started')}) as never)
		.coerceTo('array')
		.run(connection)) as unknown as Array<{name: string; started: Date}>;
	return new Map(rows.map(row => [row.name, new Date(row.started).toISOString()]));
}

/** Whether every user table has every replica ready (`table_status.status.all_replicas_ready`). */
async function everyTableReady(connection: r.Connection): Promise<boolean> {
	const notReady = (await r
		.db('rethinkdb')
		.table('table_status')
		.filter(r.row('status')('all_replicas_ready').not())
		.count()
		.run(connection)) as unknown as number;
	return notReady === 0;
}

/** One look at the database through any server but `away` (which is restarting): its servers' starts and whether every table is ready. */
async function look(
	input: RotateInput,
	away: string,
): Promise<{starts: Map<string, string>; ready: boolean} | undefined> {
	const where = databaseNodes(input.journal.value);
	// Asked through another server first: the one restarting drops its connections.
	const nodes = [...where.nodes.filter(n => n !== away), ...where.nodes.filter(n => n === away)];
	let session: Awaited<ReturnType<typeof openDatabase>> | undefined;
	try {
		session = await openDatabase({
			ssh: input.ssh,
			manager: where.manager,
			nodes,
			password: input.password,
			signal: input.signal,
			timeoutSeconds: 8,
			...(where.tls ? {tls: where.tls} : {}),
		});
		return {starts: await serverStarts(session.connection), ready: await everyTableReady(session.connection)};
	} catch {
		return undefined;
	} finally {
		await session?.close();
	}
}

/** The stack as deployed, with the servers' TLS secrets the journal now records. */
function renderWith(input: RotateInput, servers: Record<string, ServerTlsSecrets>): string {
	return renderStackFile({...deployedStackInput(input.spec, input.journal.value, input.password), tls: servers});
}

/**
 * Rotates every server's certificate, one server at a time (the manager's
 * last: the stack is deployed from it). Refused up front when a server is
 * not connected or a table is not ready: a restart then could take a
 * table's majority away.
 */
export async function rotateServerCertificates(input: RotateInput): Promise<RotatedServer[]> {
	const {spec, journal, signal} = input;
	const tls = requireTls(journal, spec.name);
	const files = tlsFiles(input.tlsDir);
	const authority = readAuthority(files);
	if (!authority) {
		throw new InputError(`${spec.name}'s CA is not on this machine (${files.caCert})`, {
			nextSteps: ['restore the cluster folder from a copy: the CA key never leaves this machine'],
		});
	}
	const nodes = liveNodes(journal.value).map(n => n.name);
	const missing = nodes.filter(node => !tls.servers[node]);
	if (missing.length > 0) {
		throw new InputError(
			`${missing.join(', ')} ${missing.length === 1 ? 'has' : 'have'} no database server deployed yet`,
			{
				nextSteps: [`finish the cluster first: swarmbee up ${spec.name}`],
			},
		);
	}
	const first = await look(input, '');
	const expected = nodes.map(serverName);
	const absent = expected.filter(name => !first?.starts.has(name));
	if (!first || absent.length > 0 || !first.ready) {
		throw new ExternalError(
			first
				? absent.length > 0
					? `not every database server is connected (${absent.join(', ')} not), so restarting one could take a table's majority away`
					: "not every table has all its replicas ready, so restarting a server could take a table's majority away"
				: 'no database server answered',
			{nextSteps: [`see what is wrong: swarmbee status ${spec.name}; then run this again`]},
		);
	}
	const manager = databaseNodes(journal.value).manager;
	const order = [...nodes.filter(n => n !== manager), ...nodes.filter(n => n === manager)];
	const shell = await input.ssh.get(manager, signal);
	const rotated: RotatedServer[] = [];
	for (const node of order) {
		signal.throwIfAborted();
		const before = readServerCertificate(files, node);
		const pair = issueServerCertificate(authority, spec.name, node);
		writeServerCertificate(files, node, pair);
		input.progress(node, `new certificate, serial ${certificateFacts(pair.cert).serial}`);
		const wanted = wantedServerTls(node, {trusted: trustedBundle(files), servers: {[node]: pair}});
		for (const creation of secretCreations(wanted.contents))
			await shell.run(creation.command, {signal, stdin: creation.stdin});
		const servers = {...journal.value.database!.tls!.servers, [node]: wanted.secrets};
		const stack = renderWith(input, servers);
		const startedBefore = (await look(input, node))?.starts.get(serverName(node));
		await shell.upload(REMOTE_STACK_FILE, stack, 0o600);
		input.progress(node, 'restarting its server with the new certificate');
		const deployedAt = Date.now();
		// Swarm may refuse a service's update while its previous one records its state: asked again.
		await outOfSequenceAgain(() => shell.run(stackDeployCommand(REMOTE_STACK_FILE, 'never'), {signal}), {signal});
		input.writeStack(input.stackFile, stack);
		journal.update(j => {
			j.database!.tls!.servers[node] = wanted.secrets;
			j.database!.stackHash = stackHash(stack);
		});
		const back = await pollUntil(
			() => look(input, node),
			seen => {
				const started = seen?.starts.get(serverName(node));
				return started !== undefined && started !== startedBefore && seen!.ready;
			},
			{intervalMs: 1_000, timeoutMs: input.timeoutMs ?? 300_000, signal},
		);
		if (!back.met) {
			throw new ExternalError(
				`${node}'s server did not come back with its new certificate within ${(input.timeoutMs ?? 300_000) / 1000} s`,
				{
					nextSteps: [
						`see its log: swarmbee logs ${spec.name} ${node}`,
						`run this again once it is back: swarmbee certs ${spec.name} rotate (servers rotated so far keep their new certificates)`,
					],
				},
			);
		}
		const seconds = (Date.now() - deployedAt) / 1000;
		const after = certificateFacts(pair.cert).serial;
		rotated.push({node, before: before ? certificateFacts(before.cert).serial : '', after, seconds});
		input.progress(node, `back with serial ${after}, every table ready, ${seconds.toFixed(1)} s`);
	}
	// The old certificates' secrets no service names any more.
	await shell.exec(pruneTlsSecretsCommand(tlsSecretNames(journal.value.database!.tls!.servers)), {signal});
	return rotated;
}
