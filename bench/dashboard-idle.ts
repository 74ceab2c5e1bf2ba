/**
 * What the dashboard costs while nobody touches it: the real Dashboard
 * (real Ink, a fake 120x45 terminal) with the real data source on a running
 * cluster, for `--seconds` at the default 5 s refresh. Reports this
 * process's CPU seconds per minute, SSH round-trips per refresh, the
 * refreshes' duration, and, for local nodes, the CPU the node containers
 * spent per minute with the dashboard against the same time without it.
 *
 *     npm run build && SWARMBEE_HOME=… node dist/bench/dashboard-idle.js NAME [--seconds 60]
 *
 * With `--emulator` instead of a cluster: the API requests one open dashboard
 * spends in an hour of 5 s refreshes (720, on a virtual clock) on a 1+3 of
 * the DigitalOcean emulator (paper droplets answer no SSH: the worst case,
 * every refresh with nodes silent). Target: ≤ 60.
 *
 *     npm run build && node dist/bench/dashboard-idle.js --emulator
 */
import {existsSync, readFileSync} from 'node:fs';
import {execFileSync} from 'node:child_process';
import {PassThrough, Writable} from 'node:stream';
import {setTimeout as sleep} from 'node:timers/promises';
import {createDashboardSource} from '../source/observe/dashboard-data.js';
import {readPassword} from '../source/database/password.js';
import {openCluster} from '../source/session/open.js';

if (process.argv.includes('--emulator')) {
	const {startEmulator} = await import('../test/emulator/server.js');
	const {DigitalOceanProvider} = await import('../source/providers/digitalocean/provider.js');
	const {generateKeyPair} = await import('../source/ssh/keys.js');
	const {planNodes, resolveSpec} = await import('../source/spec.js');
	const {newJournal} = await import('../source/store/journal.js');
	const emulator = await startEmulator({bootDelayMs: 0});
	const spec = resolveSpec({name: 'bench-dash', provider: 'digitalocean', workers: 3, database: 'none'});
	const doProvider = new DigitalOceanProvider({token: emulator.token, apiUrl: emulator.url});
	const key = generateKeyPair('bench-dash');
	const ctx = {spec, owner: 'bench', sshPublicKey: key.publicKey};
	const {infra} = await doProvider.ensureInfra(ctx);
	const plans = planNodes(spec).map(n => ({...n, hostKey: generateKeyPair(n.name), authorizedKey: key.publicKey}));
	await doProvider.createMachines(ctx, plans, infra, () => {});
	const benchJournal = newJournal(spec.name, 'digitalocean', 'bench');
	benchJournal.nodes = plans.map(
		(p, index) =>
			({name: p.name, index, role: p.role, state: 'running', hostKey: {publicKey: 'k', fingerprint: 'f'}}) as never,
	);
	let clock = Date.now();
	const dashboard = createDashboardSource({
		spec,
		journal: benchJournal,
		provider: doProvider,
		now: () => clock,
	});
	const before = emulator.requests.length;
	for (let refresh = 0; refresh < 720; refresh++, clock += 5_000) await dashboard.load();
	const spent = emulator.requests.length - before;
	await dashboard.close();
	await emulator.close();
	console.log(
		`DigitalOcean emulator, 1+3, 720 refreshes 5 s apart (one hour), no node answering over SSH: ${spent} API requests (target ≤ 60; 5,000 an hour per token)`,
	);
	console.log(
		JSON.stringify({bench: 'dashboard-idle', mode: 'emulator', refreshes: 720, apiRequests: spent, target: 60}),
	);
	process.exit(spent <= 60 ? 0 : 1);
}

function flag(name: string, fallback: number): number {
	const index = process.argv.indexOf(`--${name}`);
	return index > 0 ? Number(process.argv[index + 1]) : fallback;
}

const name = process.argv[2];
if (!name || name.startsWith('--')) throw new Error('usage: node dist/bench/dashboard-idle.js NAME [--seconds 60]');
const seconds = flag('seconds', 60);
const refreshMs = flag('refresh', 5_000);

// Ink draws only the final frame in CI; this measures the interactive screen.
delete process.env['CI'];
delete process.env['CONTINUOUS_INTEGRATION'];
process.env['NODE_ENV'] ??= 'production';

const session = await openCluster(
	name,
	{env: process.env, interactive: false, stdout: process.stdout},
	{needs: ['ssh']},
);
const {spec, paths} = session;
const journal = session.journal.value;

/** The node containers' CPU time (local nodes, cgroup v1 or v2 on this engine), ns; undefined where it cannot be read. */
function nodesCpuNs(): number | undefined {
	if (spec.provider !== 'local') return undefined;
	let total = 0;
	for (const node of journal.nodes) {
		const id = execFileSync('docker', ['inspect', '-f', '{{.Id}}', `swarmbee-${name}-${node.name}`], {
			encoding: 'utf8',
		}).trim();
		const v1 = `/sys/fs/cgroup/cpuacct/docker/${id}/cpuacct.usage`;
		const v2 = `/sys/fs/cgroup/system.slice/docker-${id}.scope/cpu.stat`;
		if (existsSync(v1)) total += Number(readFileSync(v1, 'utf8'));
		else if (existsSync(v2)) total += Number(/usage_usec (\d+)/.exec(readFileSync(v2, 'utf8'))?.[1] ?? 0) * 1000;
		else return undefined;
	}
	return total;
}

async function nodesPerMinute(ms: number): Promise<number | undefined> {
	const before = nodesCpuNs();
	await sleep(ms);
	const after = nodesCpuNs();
	return before === undefined || after === undefined ? undefined : ((after - before) / 1e9) * (60_000 / ms);
}

console.log(
	`${name}: ${journal.nodes.length} ${spec.provider} nodes; ${seconds} s without the dashboard, then ${seconds} s with it (refresh ${refreshMs / 1000} s)`,
);
const baseline = await nodesPerMinute(seconds * 1000);

const source = createDashboardSource({
	spec,
	journal,
	provider: session.provider,
	ssh: session.ssh,
	password: readPassword(paths.rethinkdbPassword),
	logsDir: paths.logsDir,
});
let refreshes = 0;
let refreshMsTotal = 0;
let roundTrips = 0;
const load = async (signal: AbortSignal) => {
	const started = performance.now();
	const snapshot = await source.load(signal);
	refreshMsTotal += performance.now() - started;
	refreshes++;
	roundTrips += snapshot.roundTrips;
	return snapshot;
};
const stdout = Object.assign(new Writable({write: (_chunk, _encoding, done) => done()}), {
	isTTY: true,
	columns: 120,
	rows: 45,
}) as unknown as NodeJS.WriteStream;
const stdin = Object.assign(new PassThrough(), {
	isTTY: true,
	setRawMode: () => stdin,
	ref: () => stdin,
	unref: () => stdin,
}) as unknown as NodeJS.ReadStream;
const {render} = await import('ink');
const React = await import('react');
const {Dashboard} = await import('../components/Dashboard.js');

const cpuStart = process.cpuUsage();
const nodesBefore = nodesCpuNs();
const started = performance.now();
const instance = render(React.createElement(Dashboard, {load, refreshMs, onQuit: () => {}}), {
	stdout,
	stdin,
	stderr: stdout,
	exitOnCtrlC: false,
	patchConsole: false,
	maxFps: 10,
});
await sleep(seconds * 1000);
instance.unmount();
const elapsed = performance.now() - started;
const nodesAfter = nodesCpuNs();
const cpu = process.cpuUsage(cpuStart);
await source.close();
await session.close();

const perMinute = ((cpu.user + cpu.system) / 1e6) * (60_000 / elapsed);
const withDashboard =
	nodesBefore === undefined || nodesAfter === undefined
		? undefined
		: ((nodesAfter - nodesBefore) / 1e9) * (60_000 / elapsed);
console.log(
	`refreshes: ${refreshes} in ${(elapsed / 1000).toFixed(1)} s, ${(refreshMsTotal / Math.max(1, refreshes) / 1000).toFixed(2)} s each on average`,
);
console.log(
	`SSH round-trips per refresh: ${(roundTrips / Math.max(1, refreshes)).toFixed(2)} (one command per node; the database is asked over one kept connection)`,
);
console.log(`this process: ${perMinute.toFixed(2)} CPU seconds per minute`);
if (baseline !== undefined && withDashboard !== undefined) {
	console.log(
		`node containers: ${withDashboard.toFixed(2)} CPU s/min with the dashboard, ${baseline.toFixed(2)} without: ${(withDashboard - baseline).toFixed(2)} CPU s/min more`,
	);
}
const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
console.log(`load average at the end: ${load1}`);
