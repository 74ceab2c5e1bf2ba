import {execFileSync} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {execa, type ResultPromise} from 'execa';
import {describe} from 'vitest';
import type {RunEvent} from '../../source/events.js';

export const CLI = path.resolve(import.meta.dirname, '../../dist/source/cli.js');

function engineReady(): boolean {
	try {
		execFileSync('docker', ['info'], {stdio: 'ignore', timeout: 20_000});
		return true;
	} catch {
		return false;
	}
}

export const hasEngine = engineReady();

/** Whether tmux is installed: the tests of a real terminal drive the CLI in it. */
export function hasTmux(): boolean {
	try {
		execFileSync('tmux', ['-V'], {stdio: 'ignore'});
		return true;
	} catch {
		return false;
	}
}

if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`);
if (!hasEngine && process.env['CI']) {
	// In CI the engine is part of the test bed: its absence is a failure, never a skip.
	throw new Error(
		'CI is set but no Docker engine answers `docker info`: .ci/run must start one (../shared/testbed/docker-engine.sh)',
	);
}

/** End-to-end suites run on a real engine; without one (and outside CI) they are skipped. */
export const describeWithEngine = hasEngine ? describe : describe.skip;

export {rethinkdbImage} from './rethinkdb-containers.js';

export function uniqueName(prefix: string): string {
	return `${prefix}-${Math.random().toString(36).slice(2, 6)}`;
}

export function newHome(): {home: string; remove: () => void} {
	const home = mkdtempSync(path.join(tmpdir(), 'swarmbee-e2e-'));
	return {home, remove: () => rmSync(home, {recursive: true, force: true})};
}

export interface CliResult {
	exitCode: number;
	stdout: string;
	stderr: string;
}

export function spawnCli(
	args: string[],
	home: string,
	env: Record<string, string> = {},
): ResultPromise<{reject: false; all: false}> {
	return execa('node', [CLI, ...args], {
		reject: false,
		env: {SWARMBEE_HOME: home, ...env},
		stdin: 'ignore',
	}) as unknown as ResultPromise<{reject: false; all: false}>;
}

export async function cli(args: string[], home: string, env: Record<string, string> = {}): Promise<CliResult> {
	const result = await spawnCli(args, home, env);
	return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)};
}

export function events(stdout: string): RunEvent[] {
	return stdout
		.split('\n')
		.filter(line => line.startsWith('{'))
		.map(line => JSON.parse(line) as RunEvent);
}

function docker(args: string[]): string {
	return execFileSync('docker', args, {encoding: 'utf8'}).trim();
}

export function dockerIn(container: string, command: string): string {
	return docker(['exec', container, 'sh', '-c', command]);
}

/** Everything on the engine carrying the cluster's label. */
export function labelled(cluster: string): {containers: string[]; networks: string[]; volumes: string[]} {
	const filter = `label=swarmbee.cluster=${cluster}`;
	const list = (args: string[]) => docker(args).split('\n').filter(Boolean).sort();
	return {
		containers: list(['ps', '-a', '--filter', filter, '--format', '{{.Names}}']),
		networks: list(['network', 'ls', '--filter', filter, '--format', '{{.Name}}']),
		volumes: list(['volume', 'ls', '--filter', filter, '--format', '{{.Name}}']),
	};
}

export function containerIds(cluster: string): Record<string, string> {
	const lines = docker(['ps', '-a', '--filter', `label=swarmbee.cluster=${cluster}`, '--format', '{{.Names}} {{.ID}}'])
		.split('\n')
		.filter(Boolean);
	return Object.fromEntries(lines.map(line => line.split(' ') as [string, string]));
}

/** Removes whatever a test left with the cluster's label (the test's own cleanup, not the product's). */
export function purge(cluster: string): void {
	const filter = `label=swarmbee.cluster=${cluster}`;
	const ids = (args: string[]) => docker(args).split('\n').filter(Boolean);
	const containers = ids(['ps', '-aq', '--filter', filter]);
	if (containers.length > 0) docker(['rm', '-f', '-v', ...containers]);
	const networks = ids(['network', 'ls', '-q', '--filter', filter]);
	if (networks.length > 0) docker(['network', 'rm', ...networks]);
	const volumes = ids(['volume', 'ls', '-q', '--filter', filter]);
	if (volumes.length > 0) docker(['volume', 'rm', '-f', ...volumes]);
}
