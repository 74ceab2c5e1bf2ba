/**
 * DigitalOcean provider benchmark, in the emulator's paper mode: the
 * provider's part of a bring-up (preflight → tags, VPC, key, firewall →
 * droplets requested → all active with a public IPv4; no SSH, paper droplets
 * have none) for 1+3 and 1+20 nodes, with a simulated boot of 45 s.
 *
 * Targets: 1+20 takes at most 1.3× the wall time of 1+3; at most 20 + 4 API
 * requests per node; never more than 250 requests in any 60 s.
 *
 *     npm run build && node dist/bench/do-paper.js [--boot-delay 45s] [--workers 3,20]
 */
import {parseDuration} from '../test/emulator/main.js';
import {startEmulator} from '../test/emulator/server.js';
import {DigitalOceanProvider} from '../source/providers/digitalocean/provider.js';
import type {MachinePlan, ProviderContext} from '../source/providers/types.js';
import {generateKeyPair} from '../source/ssh/keys.js';
import {planNodes, resolveSpec} from '../source/spec.js';
import {defined} from '../source/errors.js';

const HELP = `node dist/bench/do-paper.js [--boot-delay 45s] [--boot-p90 90s] [--seed 1] [--workers 3,20,50,100]

The DigitalOcean provider's part of a bring-up (preflight, infrastructure,
droplets requested, all active with a public IPv4) against the emulator's
paper mode, for each worker count side by side: wall time, API requests and
the busiest minute. --boot-delay is the median boot, --boot-p90 its 90th
percentile (a seeded lognormal spread; without it every droplet boots alike).`;

if (process.argv.includes('--help') || process.argv.includes('-h')) {
	console.log(HELP);
	process.exit(0);
}

function flag(name: string, fallback: string): string {
	const index = process.argv.indexOf(`--${name}`);
	return index > 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const bootDelayMs = parseDuration(flag('boot-delay', '45s'));
const bootP90 = flag('boot-p90', '');
const bootP90Ms = bootP90 ? parseDuration(bootP90) : undefined;
const seed = Number(flag('seed', '1'));
const workerCounts = flag('workers', '3,20').split(',').map(Number);

interface Row {
	nodes: number;
	wallMs: number;
	steps: Record<string, number>;
	requests: number;
	/** The slowest droplet's boot, as the emulator drew it: the part no client controls. */
	slowestBootMs: number;
	budget: number;
	maxPerMinute: number;
	creates: number;
	polls: number;
}

async function bringUp(workers: number): Promise<Row> {
	const emulator = await startEmulator({bootDelayMs, bootP90Ms, seed, account: {droplet_limit: 200}});
	try {
		const provider = new DigitalOceanProvider({token: emulator.token, apiUrl: emulator.url});
		const spec = resolveSpec({name: `bench-do-${workers}`, provider: 'digitalocean', workers});
		const clusterKey = generateKeyPair('bench');
		const ctx: ProviderContext = {spec, owner: `bench-${process.pid}`, sshPublicKey: clusterKey.publicKey};
		const plans: MachinePlan[] = planNodes(spec).map(n => ({
			...n,
			hostKey: generateKeyPair(n.name),
			authorizedKey: clusterKey.publicKey,
		}));
		const steps: Record<string, number> = {};
		const started = Date.now();
		let mark = started;
		const lap = (step: string) => {
			steps[step] = Date.now() - mark;
			mark = Date.now();
		};
		await provider.preflight(ctx);
		lap('preflight');
		const {infra} = await provider.ensureInfra(ctx);
		lap('infra');
		await provider.listMachines(ctx);
		const outcomes = await provider.createMachines(ctx, plans, infra, () => {});
		lap('droplets');
		const wallMs = Date.now() - started;
		const failed = outcomes.filter(o => !o.machine?.publicAddress);
		if (failed.length > 0) throw new Error(`${failed.length} droplets did not come up: ${failed[0]?.error?.message}`);
		const row: Row = {
			nodes: plans.length,
			wallMs,
			steps,
			requests: emulator.requests.length,
			slowestBootMs: Math.max(...emulator.liveDroplets().map(d => d.bootAt - d.createdAt)),
			budget: 20 + 4 * plans.length,
			maxPerMinute: emulator.maxPerMinute(),
			creates: emulator.count({method: 'POST', path: '/v2/droplets'}),
			polls: emulator.count({method: 'GET', path: '/v2/droplets'}),
		};
		await provider.destroy(ctx, {includeForeign: false});
		return row;
	} finally {
		await emulator.close();
	}
}

/** A lap in seconds; a lap not taken shows as "?". */
const seconds = (ms: number | undefined) => (ms === undefined ? '?' : (ms / 1000).toFixed(1));

const rows: Row[] = [];
for (const workers of workerCounts) {
	const row = await bringUp(workers);
	rows.push(row);
	console.log(
		`1+${row.nodes - 1}: ${(row.wallMs / 1000).toFixed(1)} s (preflight ${seconds(row.steps['preflight'])}, infra ${seconds(row.steps['infra'])}, droplets ${seconds(row.steps['droplets'])}); ` +
			`${row.requests} requests (budget ${row.budget}; ${row.creates} creates, ${row.polls} droplet lists); at most ${row.maxPerMinute} in any 60 s; slowest boot ${(row.slowestBootMs / 1000).toFixed(1)} s, swarmbee's own part ${((row.wallMs - row.slowestBootMs) / 1000).toFixed(1)} s`,
	);
}
const small = defined(rows[0], 'no worker counts were measured');
const large = defined(rows.at(-1), 'no worker counts were measured');
const ratio = large.wallMs / small.wallMs;
const checks = {
	ratio: ratio <= 1.3,
	requests: rows.every(r => r.requests <= r.budget),
	perMinute: rows.every(r => r.maxPerMinute <= 250),
};
console.log(
	`1+${large.nodes - 1} / 1+${small.nodes - 1} wall time: ${ratio.toFixed(2)}× (target ≤ 1.3×); simulated boot ${bootDelayMs / 1000} s`,
);
console.log(JSON.stringify({bench: 'do-paper', bootDelayMs, rows, ratio: Math.round(ratio * 100) / 100, checks}));
if (!Object.values(checks).every(Boolean)) {
	console.log(
		`missed: ${Object.entries(checks)
			.filter(([, ok]) => !ok)
			.map(([k]) => k)
			.join(', ')}`,
	);
	process.exitCode = 1;
}
