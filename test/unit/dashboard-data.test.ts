import {afterEach, describe, expect, it, vi} from 'vitest';
import {
	createDashboardSource,
	managerCommand,
	parseServices,
	serviceListCommand,
	serviceTasksCommand,
} from '../../source/observe/dashboard-data.js';
import {assessHealth, describeLiveHealth} from '../../source/observe/live-health.js';
import {
	nodeStatsCommand,
	nodeUsage,
	parseDockerSize,
	parseLoadAverage,
	parseNodeStats,
	parseServerStats,
} from '../../source/observe/node-stats.js';
import {noServerAnswers} from '../../source/database/rethinkdb.js';
import {CancelledError} from '../../source/errors.js';
import type {Provider} from '../../source/providers/types.js';
import type {ClusterSpec} from '../../source/spec.js';
import {SshConnection} from '../../source/ssh/connection.js';
import {SshPool} from '../../source/ssh/pool.js';
import {sshTarget} from '../../source/nodes/targets.js';
import type {Journal} from '../../source/store/journal.js';

/** What nodeStatsCommand printed on a local node (cgroup v1, recorded on this engine). */
const LOCAL_OUTPUT = (clock: string, cpuNs: string) => `@@swarmbee clock
${clock}
@@swarmbee loadavg
13.12 8.28 7.83 3/1417 1282
@@swarmbee cpus
2
@@swarmbee meminfo
MemTotal:        1048576 kB
MemAvailable:     943718 kB
@@swarmbee cgroup
memory 347242496
limit 1073741824
inactive 246259712
cpu_ns ${cpuNs}
quota 100000 100000
@@swarmbee server
{"BlockIO":"0B / 0B","CPUPerc":"9.00%","MemPerc":"1.00%","MemUsage":"4MiB / 1GiB","Name":"swarmbee-probe.1"}
{"BlockIO":"0B / 0B","CPUPerc":"0.35%","MemPerc":"4.88%","MemUsage":"21.97MiB / 450MiB","Name":"swarmbee_rdb-workerbee-1.1.p2oy"}
`;

/** A droplet: its own /proc. */
const MACHINE_OUTPUT = (busy: number, idle: number) => `@@swarmbee clock
1796161652143020415
@@swarmbee loadavg
0.42 0.30 0.21 1/234 5678
@@swarmbee cpus
1
@@swarmbee meminfo
MemTotal:        2014464 kB
MemAvailable:    1007232 kB
@@swarmbee stat
cpu  ${busy} 0 0 ${idle} 0 0 0 0 0 0
@@swarmbee server
`;

describe('dashboard data', () => {
	it("builds its remote commands as values: one per node, the manager's with Swarm's questions first", () => {
		expect(serviceListCommand).toBe("docker service ls --format '{{json .}}'");
		expect(serviceTasksCommand).toBe(
			`ids=$(docker service ls -q); [ -z "$ids" ] || docker service ps --no-trunc --format '{{json .}}' $ids`,
		);
		const local = nodeStatsCommand('container');
		expect(local).toContain("docker stats --no-stream --format '{{json .}}' 2>/dev/null");
		expect(local).not.toContain('docker ps');
		expect(local).toContain('cpuacct.usage');
		expect(local).not.toContain('/proc/stat');
		expect(nodeStatsCommand('machine')).toContain('head -n 1 /proc/stat');
		const manager = managerCommand('machine');
		expect(manager.indexOf("docker node ls --format '{{json .}}' || echo '@@swarmbee swarm-refused'")).toBeLessThan(
			manager.indexOf('@@swarmbee clock'),
		);
	});

	it("reads a local node from its cgroup, not the static meminfo or this machine's /proc/stat", () => {
		const first = parseNodeStats(LOCAL_OUTPUT('1000000000000', '14000000000'), 'container', 'workerbee-1');
		expect(first).toMatchObject({
			cpus: 1,
			memory: {used: 347_242_496 - 246_259_712, total: 1_073_741_824},
			load: {load1: 13.12},
		});
		expect(first.server).toEqual({
			memory: {used: Math.round(21.97 * 1024 ** 2), limit: 450 * 1024 ** 2},
			cpuPercent: 0.35,
		});
		// 5 s later, 1.25 s of CPU used on its one CPU: 25 %.
		const second = parseNodeStats(LOCAL_OUTPUT('1005000000000', '15250000000'), 'container', 'workerbee-1');
		expect(nodeUsage(undefined, first).cpu).toBeNull();
		expect(nodeUsage(first, second).cpu).toBeCloseTo(0.25);
	});

	it('reads a droplet from /proc', () => {
		const first = parseNodeStats(MACHINE_OUTPUT(1000, 9000), 'machine');
		const second = parseNodeStats(MACHINE_OUTPUT(1300, 9700), 'machine');
		expect(first.memory).toEqual({used: (2_014_464 - 1_007_232) * 1024, total: 2_014_464 * 1024});
		expect(first.server).toBeNull();
		expect(nodeUsage(first, second).cpu).toBeCloseTo(0.3);
	});

	it('parses docker sizes and stats lines, and load averages', () => {
		expect([
			parseDockerSize('21.97MiB'),
			parseDockerSize('1.5GiB'),
			parseDockerSize('12kB'),
			parseDockerSize('0B'),
			parseDockerSize('x'),
		]).toEqual([Math.round(21.97 * 1024 ** 2), 1.5 * 1024 ** 3, 12_000, 0, undefined]);
		expect(parseServerStats('')).toBeNull();
		expect(parseServerStats('{"MemUsage":"--"}')).toBeNull();
		expect(parseLoadAverage('0.42 0.30 0.21 1/234 5678\n')).toEqual({load1: 0.42, load5: 0.3, load15: 0.21});
		expect(parseLoadAverage('')).toBeNull();
	});

	it('parses services, counting running from the tasks on Ready nodes (never 1/1 beside 0 running)', () => {
		const services = [
			{
				ID: 's1',
				Name: 'rethinkdb',
				Mode: 'global',
				Replicas: '2/2',
				Image: 'rethinkdb:2.4.4@sha256:0123abcd',
				Ports: '',
			},
			{
				ID: 's2',
				Name: 'swarmbee_rdb-workerbee-1',
				Mode: 'replicated',
				Replicas: '1/1',
				Image: 'rethinkdb:2.4.4',
				Ports: '',
			},
		]
			.map(s => JSON.stringify(s))
			.join('\n');
		const tasks = [
			{
				ID: 't1',
				Name: 'rethinkdb.abc',
				Node: 'queenbee',
				DesiredState: 'Running',
				CurrentState: 'Running 2 minutes ago',
				Error: '',
			},
			{
				ID: 't2',
				Name: 'rethinkdb.def',
				Node: 'workerbee-1',
				DesiredState: 'Running',
				CurrentState: 'Running 2 minutes ago',
				Error: '',
			},
			{
				ID: 't3',
				Name: 'rethinkdb.def',
				Node: 'workerbee-1',
				DesiredState: 'Shutdown',
				CurrentState: 'Failed 3 minutes ago',
				Error: '"task: non-zero exit (1)"',
			},
			{
				ID: 't5',
				Name: ' \\_ rethinkdb.def',
				Node: 'workerbee-1',
				DesiredState: 'Shutdown',
				CurrentState: 'Failed 9 minutes ago',
				Error: 'task: non-zero exit (1)',
			},
			// The manager has not heard yet that workerbee-1 went away: Docker still says Running and 1/1.
			{
				ID: 't4',
				Name: 'swarmbee_rdb-workerbee-1.1',
				Node: 'workerbee-1',
				DesiredState: 'Running',
				CurrentState: 'Running 5 minutes ago',
				Error: '',
			},
		]
			.map(t => JSON.stringify(t))
			.join('\n');
		const parsed = parseServices(services, tasks, new Set(['queenbee']));
		expect(
			parsed.map(s => [s.name, s.replicas, s.running, s.desired, s.notRunningOn, s.failures, s.lastError, s.serverOf]),
		).toEqual([
			['rethinkdb', '2/2', 1, 2, ['workerbee-1'], 2, 'task: non-zero exit (1)', undefined],
			['swarmbee_rdb-workerbee-1', '1/1', 0, 1, ['workerbee-1'], 0, '', 'workerbee-1'],
		]);
		expect(parsed[0]!.image).toBe('rethinkdb:2.4.4');
		expect(parseServices('', '')).toEqual([]);
	});

	it('the live verdict: ready, degraded naming what, down; never the journal', () => {
		const nodes = [
			{name: 'queenbee', role: 'manager' as const, state: 'ready' as const, machine: 'running' as const},
			{name: 'workerbee-1', role: 'worker' as const, state: 'stopped' as const, machine: 'stopped' as const},
		];
		const db = {
			connected: 1,
			expected: 2,
			missing: ['workerbee_1'],
			issues: [{type: 'server_disconnected', critical: true, description: 'x'}],
			tables: [],
		};
		const services = [
			{name: 'swarmbee_rdb-workerbee-1', running: 0, desired: 1, notRunningOn: ['workerbee-1']},
			{name: 'web', running: 1, desired: 2, notRunningOn: ['queenbee']},
		];
		const degraded = assessHealth({nodes, swarm: {ready: 1}, services, rethinkdb: db});
		expect(degraded.level).toBe('degraded');
		// The stopped node's own server service is not named again; the disconnect issue repeats "missing".
		expect(degraded.problems.map(p => `${p.subject} ${p.says}`)).toEqual([
			'workerbee-1 stopped',
			'rethinkdb 1 of 2 servers (missing workerbee_1)',
			'web 1/2 running',
		]);
		expect(describeLiveHealth(degraded)).toBe(
			'degraded: workerbee-1 stopped, rethinkdb 1 of 2 servers (missing workerbee_1) (+1 more)',
		);
		expect(assessHealth({nodes: [nodes[0]!], swarm: {ready: 1}, rethinkdb: null})).toEqual({
			level: 'ready',
			problems: [],
		});
		expect(assessHealth({nodes: [nodes[0]!], swarm: null}).level).toBe('down');
		expect(
			assessHealth({
				nodes: [nodes[0]!],
				swarm: {ready: 1},
				rethinkdb: {...db, connected: 0, error: 'no database server answered'},
			}).level,
		).toBe('down');
		expect(assessHealth({nodes: [{...nodes[1]!, name: 'queenbee', role: 'manager'}], swarm: null}).problems).toEqual([
			{subject: 'every node', says: 'is not running'},
		]);
	});
});

describe('the dashboard source over SSH', () => {
	afterEach(() => {
		vi.restoreAllMocks();
	});

	const journal = (managers: string[], workers: string[] = []): Journal => ({
		version: 1,
		cluster: 'demo',
		owner: 'o',
		provider: 'digitalocean',
		state: 'ready',
		createdAt: '',
		updatedAt: '',
		steps: {},
		nodes: [...managers, ...workers].map((name, index) => ({
			name,
			index,
			role: managers.includes(name) ? ('manager' as const) : ('worker' as const),
			state: 'running' as const,
			ssh: {host: '10.0.0.1', port: 22, user: 'root'},
			hostKey: {publicKey: 'k', fingerprint: 'f'},
		})),
	});
	/** The session's pool, as the dashboard gets it: connections through SshConnection.connect (stubbed below). */
	const pools: SshPool[] = [];
	const pool = (j: Journal) => {
		const made = new SshPool(node => sshTarget(j, node, 'key'));
		pools.push(made);
		return made;
	};
	const source = (j: Journal) =>
		createDashboardSource({
			spec: {name: 'demo', provider: 'digitalocean', database: 'none'} as unknown as ClusterSpec,
			journal: j,
			provider: {
				capabilities: {sharesHostCpus: false},
				listMachines: async () => j.nodes.map(n => ({name: n.name, providerId: n.name, status: 'running' as const})),
			} as unknown as Provider,
			ssh: pool(j),
		});
	const members = (names: string[]) =>
		names
			.map(name =>
				JSON.stringify({ID: name, Hostname: name, Status: 'Ready', Availability: 'Active', ManagerStatus: 'Reachable'}),
			)
			.join('\n');
	/** The manager's answer: Swarm's sections, then its figures. */
	const managerAnswer = (names: string[], figures: string) =>
		`@@swarmbee nodes\n${members(names)}\n@@swarmbee services\n@@swarmbee tasks\n${figures}`;
	/** Stands in for SshConnection.connect: one fake connection per node, answering with `exec`. */
	const fakeSsh = (exec: (node: string, command: string, signal?: AbortSignal) => Promise<string>) => {
		const closed: string[] = [];
		const connect = vi.spyOn(SshConnection, 'connect').mockImplementation(
			async target =>
				({
					isOpen: true,
					exec: async (command: string, options: {signal?: AbortSignal} = {}) => ({
						code: 0,
						stdout: await exec(target.node, command, options.signal),
						stderr: '',
					}),
					close: () => closed.push(target.node),
				}) as unknown as SshConnection,
		);
		return {connect, closed};
	};

	it('an hour of refreshes every 5 s asks a billed cloud for its machines 12 times while SSH answers, at most 60 while it does not (issue 28)', async () => {
		let clock = 0;
		let silentNode: string | undefined;
		fakeSsh(async (node, command) => {
			if (node === silentNode) throw new Error('no route to host');
			return command.includes('@@swarmbee nodes')
				? managerAnswer(['queenbee', 'workerbee-1'], MACHINE_OUTPUT(10, 90))
				: MACHINE_OUTPUT(10, 90);
		});
		const j = journal(['queenbee'], ['workerbee-1']);
		let lists = 0;
		const dashboard = createDashboardSource({
			spec: {name: 'demo', provider: 'digitalocean', database: 'none'} as unknown as ClusterSpec,
			journal: j,
			provider: {
				capabilities: {sharesHostCpus: false, billed: {machine: 'droplet', by: 'DigitalOcean'}},
				listMachines: async () => {
					lists++;
					return j.nodes.map(n => ({name: n.name, providerId: n.name, status: 'running' as const}));
				},
			} as unknown as Provider,
			ssh: pool(j),
			now: () => clock,
		});
		const hour = async () => {
			lists = 0;
			for (let refresh = 0; refresh < 720; refresh++, clock += 5_000) await dashboard.load();
			return lists;
		};
		expect(await hour()).toBe(12);
		silentNode = 'workerbee-1';
		const silent = await hour();
		expect(silent).toBeGreaterThan(12);
		expect(silent).toBeLessThanOrEqual(60);
		await dashboard.close();
	});

	it('a refresh the dashboard aborts (r, quitting) keeps the healthy SSH connection for the next one', async () => {
		let refresh = 0;
		const ssh = fakeSsh(async (node, command, signal) => {
			if (refresh === 1) {
				// The first refresh hangs until the dashboard gives up on it, as exec does: CancelledError.
				return new Promise((_, reject) => signal!.addEventListener('abort', () => reject(new CancelledError())));
			}
			return command.includes('@@swarmbee nodes')
				? managerAnswer([node], MACHINE_OUTPUT(10, 90))
				: MACHINE_OUTPUT(10, 90);
		});
		const dashboard = source(journal(['queenbee']));
		const controller = new AbortController();
		refresh = 1;
		const first = dashboard.load(controller.signal);
		await vi.waitFor(() => expect(ssh.connect).toHaveBeenCalledTimes(1));
		controller.abort();
		await first;
		refresh = 2;
		const second = await dashboard.load(new AbortController().signal);
		expect(second.usage.queenbee).not.toBeNull();
		// Asked over the same connection: none was dropped, none made again.
		expect(ssh.closed).toEqual([]);
		expect(ssh.connect).toHaveBeenCalledTimes(1);
		// The connections are the session's: the dashboard leaves them to it.
		await dashboard.close();
		expect(ssh.closed).toEqual([]);
		for (const made of pools.splice(0)) made.closeAll();
		await vi.waitFor(() => expect(ssh.closed).toEqual(['queenbee']));
	});

	it("when the first manager fails and the next answers, that one's usage is read once per refresh (CPU over a whole refresh)", async () => {
		let refresh = 0;
		// Each refresh, every node has used 25 of 100 more ticks than at the one before.
		const figures = () => MACHINE_OUTPUT(25 * refresh, 75 * refresh);
		const asked: string[] = [];
		fakeSsh(async (node, command) => {
			asked.push(`${node}:${command.includes('@@swarmbee nodes') ? 'manager' : 'stats'}`);
			if (node === 'queenbee') {
				await Promise.resolve();
				throw new Error('queenbee: connection reset');
			}
			if (command.includes('@@swarmbee nodes')) {
				// Answers after the node figures' command (which answers at once).
				await new Promise(resolve => setImmediate(resolve));
				return managerAnswer(['queenbee-2', 'workerbee-1'], figures());
			}
			return figures();
		});
		const dashboard = source(journal(['queenbee', 'queenbee-2'], ['workerbee-1']));
		refresh = 1;
		const first = await dashboard.load(new AbortController().signal);
		expect(first.usage['queenbee-2']).toMatchObject({cpu: null});
		refresh = 2;
		const second = await dashboard.load(new AbortController().signal);
		expect(second.usage['queenbee-2']!.cpu).toBeCloseTo(0.25);
		expect(second.usage['workerbee-1']!.cpu).toBeCloseTo(0.25);
		await dashboard.close();
	});
});

describe('the health said when no database server answers', () => {
	it('every server missing, and why on one line: the same for status and the dashboard', () => {
		const error = new Error(
			"no database server answered: queenbee's server does not answer on its driver port yet\n  (tried 2)",
		);
		expect(noServerAnswers(['queenbee', 'workerbee-1'], error)).toEqual({
			connected: 0,
			expected: 2,
			missing: ['queenbee', 'workerbee_1'],
			issues: [],
			tables: [],
			error: "queenbee's server does not answer on its driver port yet: (tried 2)",
		});
	});
});

describe("a node's state in status: a word from states.ts, never text Swarm made up", () => {
	const record = (name: string, index: number) => ({
		name,
		index,
		role: (index === 0 ? 'manager' : 'worker') as 'manager' | 'worker',
		state: 'running' as const,
		swarmNodeId: `id-${name}`,
		hostKey: {publicKey: 'ssh-ed25519 AAAA', fingerprint: 'SHA256:x'},
	});
	const journal = {
		version: 1,
		cluster: 'demo',
		owner: 'o',
		provider: 'local',
		state: 'ready',
		createdAt: '',
		updatedAt: '',
		steps: {},
		nodes: [record('queenbee', 0), record('workerbee-1', 1), record('workerbee-2', 2), record('workerbee-3', 3)],
	} satisfies Journal;
	const machine = (name: string, status: 'running' | 'stopped') => ({name, providerId: name, status});

	it("takes Swarm's words it defines, and calls any other (escapes included) unknown", async () => {
		const {statusOf} = await import('../../source/observe/status.js');
		const member = (name: string, status: string) => ({
			ID: `id-${name}`,
			Hostname: name,
			Status: status,
			Availability: 'Active',
			ManagerStatus: '',
		});
		const status = statusOf({
			spec: {name: 'demo', provider: 'local'},
			journal,
			machines: [
				machine('queenbee', 'running'),
				machine('workerbee-1', 'running'),
				machine('workerbee-2', 'running'),
				machine('workerbee-3', 'stopped'),
			],
			members: [
				member('queenbee', 'Ready'),
				member('workerbee-1', 'Disconnected'),
				member('workerbee-2', 'Bogus\u001b[31m'),
			],
			rethinkdb: null,
			errors: [],
		});
		expect(status.nodes.map(n => `${n.name} ${n.state}`)).toEqual([
			'queenbee ready',
			'workerbee-1 disconnected',
			'workerbee-2 unknown',
			'workerbee-3 stopped',
		]);
	});
});
