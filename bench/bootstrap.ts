/**
 * Bootstrap benchmark: the RethinkDB deploy of a fresh cluster, many times
 * in a row, on the real server. Each round removes the stack and every
 * server's volume (so every data directory is new and the servers race
 * again), runs `swarmbee up` (which deploys the stack again and waits for
 * every server to be connected, through a driver login with the cluster's
 * admin password), and reads every server's log for a password of its own.
 *
 *     npm run build && node dist/bench/bootstrap.js [--workers 3] [--rounds 10]
 *
 * A round fails when `up` fails (e.g. "Wrong password": a server imposed
 * another admin password) or a server generated a random password.
 */
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {execa} from 'execa';
import type {RunEvent} from '../source/events.js';
import {DockerCli} from '../source/docker/cli.js';
import {ensureRethinkdbImage} from '../source/docker/rethinkdb-image.js';
import {cli, flag} from './common.js';

const workers = flag('workers', 3);
const rounds = flag('rounds', 10);
const home = mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-'));
const name = `bench-boot-${process.pid}`;
const nodes = ['queenbee', ...Array.from({length: workers}, (_, i) => `workerbee-${i + 1}`)];
const inNode = (node: string, command: string) =>
	execFileSync('docker', ['exec', `swarmbee-${name}-${node}`, 'sh', '-c', command], {encoding: 'utf8'}).trim();

async function up(args: string[]): Promise<{exitCode: number; deployMs?: number; summary?: string; stderr: string}> {
	const result = await execa(process.execPath, [cli, 'up', name, ...args, '--yes', '--json'], {
		reject: false,
		env: {SWARMBEE_HOME: home},
	});
	const events = String(result.stdout)
		.split('\n')
		.filter(l => l.startsWith('{'))
		.map(l => JSON.parse(l) as RunEvent);
	const deploy = events.find(
		(e): e is Extract<RunEvent, {type: 'step-finished'}> => e.type === 'step-finished' && e.step === 'deploy',
	);
	return {
		exitCode: result.exitCode ?? -1,
		deployMs: deploy?.durationMs,
		summary: deploy?.summary,
		stderr: String(result.stderr),
	};
}

/** Every server's log, through the manager. */
function serverLogs(): string {
	return nodes
		.map(node => inNode('queenbee', `docker service logs --raw swarmbee_rdb-${node} 2>&1 || true`))
		.join('\n');
}

try {
	const image = (await ensureRethinkdbImage(new DockerCli())).tag;
	const results: Array<{round: number; ok: boolean; deployMs?: number; note: string}> = [];
	const first = await up(['--workers', String(workers), '--rethinkdb-image', image]);
	const round0 = {
		round: 0,
		ok: first.exitCode === 0,
		deployMs: first.deployMs,
		note: first.exitCode === 0 ? (first.summary ?? '') : (first.stderr.trim().split('\n')[0] ?? ''),
	};
	results.push(round0);
	console.log(
		`round 0 (fresh cluster): ${round0.ok ? 'ok' : 'FAILED'}, deploy ${((first.deployMs ?? 0) / 1000).toFixed(1)} s: ${round0.note}`,
	);
	if (first.exitCode !== 0) throw new Error(`the first up failed: ${first.stderr}`);
	for (let round = 1; round <= rounds; round++) {
		inNode('queenbee', 'docker stack rm swarmbee >/dev/null');
		// Wait until no server container is left on any node, then drop every data volume: all data directories start anew.
		for (const node of nodes) {
			while (inNode(node, 'docker ps -aq --filter label=com.docker.stack.namespace=swarmbee') !== '') await sleep(500);
			inNode(
				node,
				'docker volume ls -q --filter label=com.docker.stack.namespace=swarmbee | xargs -r docker volume rm >/dev/null',
			);
		}
		const result = await up([]);
		const logs = serverLogs();
		const own = (logs.match(/Generated random admin password/g) ?? []).length;
		const ok = result.exitCode === 0 && own === 0;
		const note =
			result.exitCode !== 0
				? result.stderr.trim().split('\n').slice(0, 2).join(' / ')
				: own > 0
					? `${own} server(s) generated a password of their own`
					: (result.summary ?? '');
		results.push({round, ok, deployMs: result.deployMs, note});
		console.log(
			`round ${round}: ${ok ? 'ok' : 'FAILED'}, deploy ${((result.deployMs ?? 0) / 1000).toFixed(1)} s: ${note}`,
		);
	}
	const deploys = results.map(r => (r.deployMs ?? 0) / 1000).sort((a, b) => a - b);
	const failed = results.filter(r => !r.ok).length;
	console.log(
		JSON.stringify({
			bench: 'bootstrap',
			nodes: nodes.length,
			rounds: results.length,
			failed,
			deploySeconds: {min: deploys[0], median: deploys[Math.floor(deploys.length / 2)], max: deploys.at(-1)},
		}),
	);
	if (failed > 0) process.exitCode = 1;
} finally {
	await execa(process.execPath, [cli, 'down', name, '--yes', '--forget'], {reject: false, env: {SWARMBEE_HOME: home}});
	rmSync(home, {recursive: true, force: true});
}
