import {shellCommand, shq} from '../shell.js';
import type {Journal} from '../store/journal.js';
import type {KeyAndCertificate} from './certificate-authority.js';
import {secretEnsureCommand, type ServerTlsSecrets} from './stack.js';
import {serverTlsSecrets, TLS_SECRET_PREFIX} from './tls.js';

/**
 * Which TLS files each server is deployed with, decided from what runs
 * (the journal) and what this machine holds (tls-store.ts): the deploy
 * step and `certs rotate` both render the stack from it.
 */

type DatabaseRecord = NonNullable<Journal['database']>;

/** A Swarm secret to make (when missing) before the stack names it. */
export interface SecretContent {
	name: string;
	content: string;
}

/** The TLS files on this machine: the CAs servers trust now, and each server's certificate and key. */
export interface TlsMaterial {
	trusted: string;
	servers: Record<string, KeyAndCertificate>;
}

/** One server's secrets as this machine's files make them, with their contents. */
export function wantedServerTls(
	node: string,
	material: TlsMaterial,
): {secrets: ServerTlsSecrets; contents: SecretContent[]} {
	const pair = material.servers[node];
	if (!pair) throw new Error(`no certificate for ${node} on this machine`);
	const secrets = serverTlsSecrets(node, {trusted: material.trusted, cert: pair.cert});
	return {
		secrets,
		contents: [
			{name: secrets.ca, content: material.trusted},
			{name: secrets.cert, content: pair.cert},
			{name: secrets.key, content: pair.key},
		],
	};
}

/** `to tls`: every server restarts at once with TLS; `to plain`: without. */
export type TlsMove = 'to tls' | 'to plain';

/**
 * The servers' TLS for a deploy (`up`, `scale`). A server that runs keeps
 * the files it runs with: a new certificate reaches it through `certs
 * rotate`, one server at a time, never through `up`, which would restart
 * every server at once. New servers get this machine's files. A move
 * between plain and TLS changes every server (they cannot talk across it).
 *
 * `material` is absent when the spec asks for no TLS.
 */
export function serverTlsForDeploy(input: {
	nodes: readonly string[];
	deployed: DatabaseRecord | undefined;
	material: TlsMaterial | undefined;
}): {servers?: Record<string, ServerTlsSecrets>; create: SecretContent[]; move?: TlsMove} {
	const {deployed, material} = input;
	if (!material) return {create: [], ...(deployed?.tls ? {move: 'to plain' as const} : {})};
	const move: TlsMove | undefined = deployed && !deployed.tls ? 'to tls' : undefined;
	const servers: Record<string, ServerTlsSecrets> = {};
	const create = new Map<string, string>();
	for (const node of input.nodes) {
		const running = move ? undefined : deployed?.tls?.servers[node];
		if (running) {
			servers[node] = running;
			continue;
		}
		const wanted = wantedServerTls(node, material);
		servers[node] = wanted.secrets;
		for (const secret of wanted.contents) create.set(secret.name, secret.content);
	}
	return {
		servers,
		create: [...create].map(([name, content]) => ({name, content})),
		...(move ? {move} : {}),
	};
}

/** Makes each secret that does not exist yet (content on stdin, never in a command line). */
export function secretCreations(secrets: readonly SecretContent[]): Array<{command: string; stdin: string}> {
	return secrets.map(secret => ({command: secretEnsureCommand(secret.name), stdin: secret.content}));
}

/**
 * Removes swarmbee's TLS secrets that no server names any more (Swarm
 * refuses to remove one a task still uses, which is left for next time).
 */
export function pruneTlsSecretsCommand(keep: readonly string[]): string {
	const kept = ` ${keep.join(' ')} `;
	return [
		`for s in $(${shellCommand(['docker', 'secret', 'ls', '--filter', `name=${TLS_SECRET_PREFIX}`, '--format', '{{.Name}}'])}); do`,
		`  case ${shq(kept)} in *" $s "*) ;; *) docker secret rm "$s" >/dev/null 2>&1 || true ;; esac`,
		'done',
	].join('\n');
}

/** Every secret the servers' TLS names. */
export function tlsSecretNames(servers: Record<string, ServerTlsSecrets> | undefined): string[] {
	return [...new Set(Object.values(servers ?? {}).flatMap(s => [s.ca, s.cert, s.key]))].sort();
}

/**
 * What a restart of every server at once is said to cost beforehand: the
 * last such restart of this cluster as measured (its first start counts),
 * or 30 s when none was measured; "at most" leaves room for a busy
 * machine or a cloud's slower disks.
 */
export function restartEstimate(database: Pick<DatabaseRecord, 'restartSeconds'> | undefined): {
	about: number;
	atMost: number;
	measured: boolean;
} {
	const measured = database?.restartSeconds;
	const about = Math.max(5, Math.ceil(measured ?? 30));
	return {about, atMost: about * 2 + 10, measured: measured !== undefined};
}

/**
 *     moving demo to TLS restarts every database server at once (a TLS server and a plain one cannot talk):
 *     reads and writes pause for about 14 s, at most 38 s (its servers last took 13.2 s to come up)
 */
export function describeMove(cluster: string, move: TlsMove, database: DatabaseRecord | undefined): string {
	const estimate = restartEstimate(database);
	const basis = estimate.measured
		? `its servers last took ${database!.restartSeconds!.toFixed(1)} s to come up`
		: 'no restart of this cluster was measured yet';
	return `moving ${cluster} ${move === 'to tls' ? 'to TLS' : 'off TLS'} restarts every database server at once (a TLS server and a plain one cannot talk): reads and writes pause for about ${estimate.about} s, at most ${estimate.atMost} s (${basis})`;
}
