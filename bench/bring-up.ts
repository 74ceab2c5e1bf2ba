/**
 * Bring-up benchmark: `swarmbee up` of a 1+N local cluster with images
 * already built, per-step timings, then a second `up` of the same cluster
 * (the no-op: nothing changed, so no playbook runs), then `down`. Targets
 * for 1+3: under 90 s wall on a 2-core machine (for the Swarm alone:
 * `--database none`); the no-op at most 15% of the fresh bring-up.
 *
 *     npm run build && node dist/bench/bring-up.js [--workers 3] [--runs 1] [--database none|rethinkdb|none,rethinkdb]
 *
 * `--database none` (the default) times the Swarm alone; `rethinkdb` adds
 * the deploy step with the real RethinkDB 2.4.4 server (its image built from
 * ../shared/rethinkdb, side-loaded as on every local cluster). A list runs
 * each kind in every run, one after the other, so the figures come from the
 * same run of the same machine.
 */
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import type {RunEvent} from '../source/events.js';
import {DockerCli} from '../source/docker/cli.js';
import {ensureImage, packagedImage} from '../source/docker/images.js';
import {ensureNodeImage} from '../source/providers/local/node.js';
import {ensureRethinkdbImage} from '../source/docker/rethinkdb-image.js';
import {cli, flag} from './common.js';
import {defined} from '../source/errors.js';

const workers = flag('workers', 3);
const runs = flag('runs', 1);
const databaseIndex = process.argv.indexOf('--database');
const databases = ((databaseIndex > 0 ? process.argv[databaseIndex + 1] : undefined) ?? 'none').split(',');
if (databases.some(d => d !== 'none' && d !== 'rethinkdb'))
	throw new Error('--database is none, rethinkdb, or both: none,rethinkdb');
const home = mkdtempSync(path.join(tmpdir(), 'swarmbee-bench-'));

/** CPU time used by the whole machine so far, in ms (Linux /proc/stat; 0 elsewhere). */
function machineCpuMs(): number {
	try {
		const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
		// user nice system idle iowait irq softirq steal: all but idle and iowait
		const busy = fields.slice(0, 8).reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0);
		return busy * (1000 / 100);
	} catch {
		return 0;
	}
}

async function swarmbee(
	args: string[],
	onEvent?: (e: RunEvent) => void,
): Promise<{events: RunEvent[]; exitCode: number; stderr: string}> {
	const child = execa(process.execPath, [cli, ...args], {reject: false, env: {SWARMBEE_HOME: home}});
	const events: RunEvent[] = [];
	// Events as they come, so the CPU can be read when each step ends.
	for await (const line of child) {
		if (!line.startsWith('{')) continue;
		const e = JSON.parse(line) as RunEvent;
		events.push(e);
		onEvent?.(e);
	}
	const result = await child;
	return {events, exitCode: result.exitCode ?? -1, stderr: String(result.stderr)};
}

/**
 * What the deploy step spent its time on, from its own events: when each
 * node had the image (seconds into the step) and when the database servers
 * were all connected. `images 2.1/9.8/10.4/11.0 s, deployed 12.3 s, 4 of 4 connected 31.0 s`
 */
function deployTimeline(events: RunEvent[]): string | undefined {
	const started = events.find(e => e.type === 'step-started' && e.step === 'deploy');
	if (!started) return undefined;
	const since = (e: RunEvent) => ((Date.parse(e.at) - Date.parse(started.at)) / 1000).toFixed(1);
	const inDeploy = events.filter(e => Date.parse(e.at) >= Date.parse(started.at));
	const end = inDeploy.findIndex(e => e.type === 'step-finished' || e.type === 'step-failed');
	const deploy = end < 0 ? inDeploy : inDeploy.slice(0, end + 1);
	const loaded = deploy.filter(e => e.type === 'node-state' && /loaded$/.test(e.detail ?? ''));
	const saved = deploy.find(e => e.type === 'step-progress' && /saved/.test(e.message));
	const stack = deploy.find(e => e.type === 'step-progress' && /^docker stack deploy/.test(e.message));
	const connected = deploy.filter(e => e.type === 'node-state' && e.detail === 'database server connected');
	const finished = deploy.at(-1);
	if (!finished) return '';
	return [
		saved ? `image saved ${since(saved)} s` : '',
		loaded.length > 0 ? `loaded into nodes ${loaded.map(since).join('/')} s` : '',
		stack ? `stack deployed ${since(stack)} s` : '',
		connected.length > 0 ? `servers connected ${connected.map(since).join('/')} s` : '',
		`step done ${since(finished)} s`,
	]
		.filter(Boolean)
		.join(', ');
}

try {
	// "Images cached": build them first, outside the timing.
	const docker = new DockerCli();
	await ensureNodeImage(docker, 'debian:bookworm', {preinstall: true});
	await ensureImage(docker, packagedImage('probe'));
	const flagsFor: Record<string, string[]> = {none: ['--database', 'none']};
	if (databases.includes('rethinkdb'))
		flagsFor['rethinkdb'] = ['--rethinkdb-image', (await ensureRethinkdbImage(docker)).tag];

	const rows: Record<string, Array<Record<string, number>>> = Object.fromEntries(databases.map(d => [d, []]));
	for (let run = 1; run <= runs; run++)
		for (const database of databases) {
			const databaseFlags = defined(flagsFor[database], `no flags for --database ${database}`);
			const name = `bench-${process.pid}-${run}-${database === 'none' ? 'swarm' : 'rdb'}`;
			const started = Date.now();
			// CPU the whole machine spent per step: on 2 cores the steps are CPU-bound, so this says where time can be won.
			const cpu: Record<string, number> = {};
			let cpuAtStart = machineCpuMs();
			const cpuBefore = cpuAtStart;
			const up = await swarmbee(['up', name, '--workers', String(workers), ...databaseFlags, '--yes', '--json'], e => {
				if (e.type === 'step-started') cpuAtStart = machineCpuMs();
				if (e.type === 'step-finished') cpu[e.step] = machineCpuMs() - cpuAtStart;
			});
			const wall = Date.now() - started;
			const cpuTotal = machineCpuMs() - cpuBefore;
			// The same cluster again, as a user running `up` twice: the whole process, start-up included.
			const againStarted = Date.now();
			const again = up.exitCode === 0 ? await swarmbee(['up', name, '--json']) : undefined;
			const noop = Date.now() - againStarted;
			const down = await swarmbee(['down', name, '--yes', '--forget']);
			if (up.exitCode !== 0) throw new Error(`up failed (exit ${up.exitCode}): ${up.stderr}`);
			if (again?.exitCode !== 0) throw new Error(`the second up failed (exit ${again?.exitCode}): ${again?.stderr}`);
			if (down.exitCode !== 0) throw new Error(`down failed: ${down.stderr}`);
			const row: Record<string, number> = {wall};
			for (const e of up.events) if (e.type === 'step-finished') row[e.step] = e.durationMs;
			row.cpu = cpuTotal;
			row.noop = noop;
			rows[database]?.push(row);
			const steps = Object.keys(row).filter(k => k !== 'wall' && k !== 'cpu' && k !== 'noop');
			const seconds = (ms: number) => (ms / 1000).toFixed(1);
			const noopSteps = again.events.flatMap(e =>
				e.type === 'step-finished' ? [`${e.step} ${seconds(e.durationMs)}s`] : [],
			);
			console.log(
				`run ${run} (--database ${database}): 1+${workers} up in ${seconds(wall)} s  (${steps.map(k => `${k} ${seconds(row[k] ?? 0)}s`).join(', ')})`,
			);
			console.log(
				`       CPU used by the machine: ${seconds(cpuTotal)} s  (${steps.map(k => `${k} ${seconds(cpu[k] ?? 0)}s`).join(', ')})`,
			);
			console.log(
				`       no-op up again: ${seconds(noop)} s, ${((100 * noop) / wall).toFixed(1)}% of the bring-up  (${noopSteps.join(', ')})`,
			);
			const timeline = deployTimeline(up.events);
			if (timeline) console.log(`       deploy: ${timeline}`);
		}
	for (const database of databases) {
		const best = defined(rows[database], `no rows for ${database}`).reduce((a, b) =>
			(a.wall ?? 0) <= (b.wall ?? 0) ? a : b,
		);
		const ratio = (best.noop ?? Infinity) / (best.wall ?? 1);
		console.log(
			JSON.stringify({
				bench: 'bring-up',
				nodes: 1 + workers,
				database,
				runs,
				bestWallMs: best.wall,
				noopMs: best.noop,
				noopRatio: Number(ratio.toFixed(3)),
				steps: best,
			}),
		);
		if (database === 'none' && (best.wall ?? Infinity) > 90_000 && workers <= 3) {
			console.log('over the 90 s target');
			process.exitCode = 1;
		}
		if (ratio > 0.15) {
			console.log(`the no-op up (--database ${database}) is over 15% of the bring-up`);
			process.exitCode = 1;
		}
	}
} finally {
	rmSync(home, {recursive: true, force: true});
}
