import r from 'rethinkdb';
import {pollUntil} from '../concurrency.js';
import {ExternalError, InputError} from '../errors.js';
import {shellCommand} from '../shell.js';
import type {RemoteShell} from '../ssh/shell.js';
import {parseJsonLines} from '../nodes/swarm.js';
import {runningTaskCommand} from './rethinkdb.js';

/**
 * `swarmbee upgrade NAME --rethinkdb-image IMAGE`: the pure parts (which
 * versions may follow which) and the change of one server (its service
 * given the new image, waited for until its task runs it). The roll itself
 * (one server at a time, primaries off first, every table ready before the
 * next) is rolling.ts's; the step is steps/upgrade.ts.
 *
 * RethinkDB's own word on versions: servers of the same minor version
 * (2.4.x) form a cluster and may be upgraded one at a time; across minor
 * versions (2.3 to 2.4) the data files are migrated on first start and a
 * mixed cluster is not supported, so that is a dump and restore, not a roll.
 */

export interface RethinkdbVersion {
	major: number;
	minor: number;
	patch: number;
	/** As the server or binary says it (`rethinkdb 2.4.4~0bookworm (GCC 12.2.0)`), control characters removed. */
	text: string;
}

/** The version in `rethinkdb --version`'s first line or server_status' `process.version`; undefined when there is none. */
export function parseRethinkdbVersion(text: string): RethinkdbVersion | undefined {
	// biome-ignore lint/suspicious/noControlCharactersInRegex: a node's or image's words, shown: control characters go
	const line = (text.split('\n')[0] ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim();
	const match = /^rethinkdb (\d+)\.(\d+)\.(\d+)/.exec(line);
	if (!match) return undefined;
	return {major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3]), text: line.slice(0, 120)};
}

/** `2.4.4` */
export function versionNumber(version: RethinkdbVersion): string {
	return `${version.major}.${version.minor}.${version.patch}`;
}

/**
 * Why `target` may not replace what the servers run one server at a time,
 * or undefined when it may: the same major and minor version (a patch
 * release either way, or the same version rebuilt).
 */
export function versionRefusal(
	cluster: string,
	image: string,
	running: readonly RethinkdbVersion[],
	target: RethinkdbVersion,
): InputError | undefined {
	const other = running.find(v => v.major !== target.major || v.minor !== target.minor);
	if (!other) return undefined;
	return new InputError(
		`${image} is RethinkDB ${versionNumber(target)}, and the servers run ${versionNumber(other)}: not the same minor version, so it cannot be rolled in one server at a time`,
		{
			hint: `RethinkDB migrates its data files when a server of another minor version first starts, and servers of ${other.major}.${other.minor} and ${target.major}.${target.minor} do not form one cluster`,
			nextSteps: [
				`take a backup (swarmbee backup ${cluster}), make a cluster with the new image (swarmbee up NEW --rethinkdb-image ${image}) and restore into it (swarmbee restore NEW FILE)`,
				`or pick a ${other.major}.${other.minor}.x image: swarmbee upgrade ${cluster} --rethinkdb-image IMAGE`,
			],
		},
	);
}

/** `rethinkdb --version` of an image, run on a node with no network (the image is there, loaded or pulled). */
export function imageVersionCommand(image: string): string {
	return shellCommand(['docker', 'run', '--rm', '--network', 'none', '--entrypoint', 'rethinkdb', image, '--version']);
}

/** Each connected server's version, by name, from `rethinkdb.server_status`. */
export async function serverVersions(connection: r.Connection): Promise<Map<string, string>> {
	const rows = (await r
		.db('rethinkdb')
		.table('server_status')
		.map(row => ({name: row('name'), version: row('process')('version')}) as never)
		.coerceTo('array')
		.run(connection)) as unknown as Array<{name: string; version: string}>;
	return new Map(rows.map(row => [row.name, row.version]));
}

/**
 * Waits until the node's server service runs a task of `image`: the old
 * container stopped (its 30 s grace) and the new one started. The server
 * connecting and every table catching up is the roll's to wait for.
 */
export async function waitForTaskImage(
	manager: Pick<RemoteShell, 'run'>,
	node: string,
	image: string,
	options: {signal: AbortSignal; timeoutMs?: number; intervalMs?: number},
): Promise<void> {
	const timeoutMs = options.timeoutMs ?? 5 * 60_000;
	const polled = await pollUntil(
		async () =>
			parseJsonLines<{Image: string; CurrentState: string; Error?: string}>(
				await manager.run(runningTaskCommand(node), {signal: options.signal}),
			),
		tasks => tasks.some(t => sameImage(t.Image, image) && t.CurrentState.startsWith('Running')),
		{intervalMs: options.intervalMs ?? 1_000, timeoutMs, signal: options.signal},
	);
	if (polled.met) return;
	const task = polled.last?.[0];
	throw new ExternalError(`${node}'s database server did not start with ${image} within ${timeoutMs / 1000} s`, {
		hint: task
			? `its task: ${task.Image}, ${task.CurrentState}${task.Error ? `: ${task.Error}` : ''}`
			: 'Swarm has no task for it',
		nextSteps: [
			`see its log: swarmbee logs NAME ${node}`,
			'then run the same upgrade again: it goes on from this server',
		],
	});
}

/** A task's image as `docker service ps` shows it (a digest may follow the tag) against the one asked for. */
function sameImage(shown: string, image: string): boolean {
	return shown === image || shown.startsWith(`${image}@`);
}
