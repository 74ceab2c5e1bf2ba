import {stripVTControlCharacters} from 'node:util';
import {render} from 'ink-testing-library';
import {afterEach, describe, expect, it, vi} from 'vitest';

// Colours on, before chalk (through Ink) reads the environment: a row's colour is part of what is tested. Frames are compared without them.
vi.hoisted(() => {
	process.env['FORCE_COLOR'] = '1';
});
import {Dashboard, formatBytes, formatSize} from '../../components/Dashboard.js';
import {emptyMemory, rememberSnapshot, rememberTunnel} from '../../components/dashboard-state.js';
import type {DashboardActions, DashboardSnapshot} from '../../source/observe/dashboard-data.js';
import {assessHealth} from '../../source/observe/live-health.js';
import type {ClusterStatus} from '../../source/observe/status.js';
import type {NodeStatusState} from '../../source/states.js';
import {CancelledError, InputError} from '../../source/errors.js';
import type {TunnelControl} from '../../source/tunnel/control.js';
import type {TunnelStatus} from '../../source/tunnel/types.js';
import {resize, waitForFrame} from './helpers.js';

const MIB = 1024 ** 2;

function node(
	name: string,
	state: NodeStatusState = 'ready',
	role: 'manager' | 'worker' = name === 'queenbee' ? 'manager' : 'worker',
) {
	return {
		name,
		role,
		state,
		publicAddress: `10.101.197.${10 + name.length}`,
		privateAddress: '10.100.80.10',
		machine: (state === 'stopped' ? 'stopped' : 'running') as 'running',
		hostKeyFingerprint: 'SHA256:x',
		provision: null,
	};
}

const usage = (cpu: number, used: number) => ({
	scope: 'container' as const,
	cpu,
	cpus: 1,
	memory: {used: used * MIB, total: 1024 * MIB},
	load: {load1: 4.2, load5: 3, load15: 2},
	server: {memory: {used: 180 * MIB, limit: 450 * MIB}, cpuPercent: 1},
});

/**
 * A snapshot as the source makes it; the headline is computed by the real
 * assessHealth from the same parts, as createDashboardSource does.
 */
function snapshot(
	change: {
		nodes?: ClusterStatus['nodes'];
		state?: string;
		rethinkdb?: ClusterStatus['rethinkdb'];
		running?: number;
		at?: string;
		errors?: DashboardSnapshot['errors'];
	} = {},
): DashboardSnapshot {
	const nodes = change.nodes ?? [node('queenbee'), node('workerbee-1')];
	const status: ClusterStatus = {
		cluster: 'demo',
		provider: 'local',
		state: change.state ?? 'ready',
		nodes,
		swarm: {managers: 1, workers: nodes.length - 1, ready: nodes.filter(n => n.state === 'ready').length},
		rethinkdb:
			change.rethinkdb === undefined
				? {connected: 2, expected: 2, missing: [], issues: [], tables: []}
				: change.rethinkdb,
		errors: [],
	};
	const services = nodes.map(n => ({
		name: `swarmbee_rdb-${n.name}`,
		mode: 'replicated',
		replicas: '1/1',
		image: 'rethinkdb:2.4.4',
		ports: '',
		failures: 0,
		lastError: '',
		tasks: [
			{
				name: `swarmbee_rdb-${n.name}.1`,
				node: n.name,
				desiredState: 'Running',
				currentState: 'Running 2 minutes ago',
				error: '',
			},
		],
		running: n.state === 'ready' ? 1 : 0,
		desired: 1,
		notRunningOn: n.state === 'ready' ? [] : [n.name],
		serverOf: n.name,
	}));
	return {
		status,
		services,
		scope: 'container',
		memoryLimitBytes: 450 * MIB,
		health: assessHealth({nodes, swarm: status.swarm, services, rethinkdb: status.rethinkdb}),
		usage: Object.fromEntries(
			nodes.map((n, i) => [n.name, n.state === 'ready' ? usage(0.12 + i / 10, 412 - i * 100) : null]),
		),
		at: change.at ?? '2026-11-25T12:04:33.000Z',
		errors: change.errors ?? [],
		roundTrips: nodes.length,
	};
}

/** A stand-in for the tunnel control: the state machine's shapes, no SSH. */
function fakeTunnel(options: {busy?: number} = {}) {
	const listeners = new Set<(t: TunnelStatus[]) => void>();
	let statuses: TunnelStatus[] = [];
	const status = (name: string, port: number, state: TunnelStatus['state']): TunnelStatus => ({
		name,
		state,
		local: {
			host: '127.0.0.1',
			port: name === 'admin' && options.busy ? 39_123 : port,
			...(name === 'admin' && options.busy ? {busy: options.busy} : {}),
		},
		target: {node: 'queenbee', port},
		...(name === 'admin'
			? {url: `http://127.0.0.1:${options.busy ? 39_123 : port}/?token=Vb1kQ2n8c0yJmZpT4hXa7sLq9wEr3uDf`, refused: 2}
			: {}),
		connections: 1,
		totalConnections: 3,
		bytesIn: 1_234_567,
		bytesOut: 30_100,
		since: '2026-11-25T12:04:00Z',
	});
	const control = {
		current: () => statuses,
		subscribe(listener: (t: TunnelStatus[]) => void) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		set(next: TunnelStatus[]) {
			statuses = next;
			for (const l of listeners) l(next);
		},
		open: vi.fn(async () => control.set([status('admin', 8080, 'open'), status('driver', 28015, 'open')])),
		close: vi.fn(async () => control.set(statuses.map(s => ({...s, state: 'closed' as const})))),
	};
	return control satisfies TunnelControl;
}

describe('Dashboard', () => {
	let cleanup: (() => void) | undefined;
	afterEach(() => cleanup?.());

	it('the headline is live health, not the last run: degraded naming the stopped node, though the journal says ready', async () => {
		const bad = snapshot({
			nodes: [node('queenbee'), node('workerbee-1', 'stopped')],
			rethinkdb: {
				connected: 1,
				expected: 2,
				missing: ['workerbee_1'],
				issues: [{type: 'server_disconnected', critical: true, description: 'Server workerbee_1 is disconnected'}],
				tables: [],
			},
		});
		const instance = render(<Dashboard load={async () => bad} refreshMs={60_000} onQuit={() => {}} />);
		cleanup = instance.unmount;
		resize(instance.stdout, 120, 40);
		const frame = await waitForFrame(instance, 'RETHINKDB');
		expect(frame.split('\n')[0]).toMatch(/^demo \(local\): degraded: workerbee-1 stopped, rethinkdb 1 of 2 servers/);
		expect(frame).not.toMatch(/demo \(local\): ready/);
		// No contradictions: the missing server is not followed by "no issues", and counts come from the tasks.
		expect(frame).toContain('RETHINKDB  1 of 2 servers connected · missing workerbee_1');
		expect(frame).not.toContain('no issues');
		expect(frame).toMatch(/swarmbee_rdb-workerbee-1 +replicated +0\/1 running/);
		expect(frame).toMatch(/workerbee-1 +worker +stopped/);
	});

	it("colours a node's row by its state word: one Swarm calls disconnected is red, one not known yet is yellow", async () => {
		const instance = render(
			<Dashboard
				load={async () =>
					snapshot({nodes: [node('queenbee'), node('workerbee-1', 'disconnected'), node('workerbee-2', 'unknown')]})
				}
				refreshMs={60_000}
				onQuit={() => {}}
			/>,
		);
		cleanup = instance.unmount;
		resize(instance.stdout, 120, 40);
		await waitForFrame(instance, 'RETHINKDB');
		const raw = (instance.lastFrame() ?? '').split('\n');
		const rowOf = (name: string) =>
			raw.find(line => new RegExp(`${name}\\S* +worker`).test(stripVTControlCharacters(line)));
		// Ink colours with SGR 31 (red) and 33 (yellow).
		expect(rowOf('workerbee-1')).toContain('\u001B[31m');
		expect(rowOf('workerbee-2')).toContain('\u001B[33m');
		expect(raw.find(line => /queenbee +manager/.test(stripVTControlCharacters(line)))).not.toMatch(
			new RegExp(`${String.fromCharCode(27)}\\[3[13]m`),
		);
	});

	it('a failed last run with a healthy cluster says ready (and that the last run failed)', async () => {
		const instance = render(
			<Dashboard load={async () => snapshot({state: 'failed'})} refreshMs={60_000} onQuit={() => {}} />,
		);
		cleanup = instance.unmount;
		const frame = await waitForFrame(instance, 'NODES');
		expect(frame.split('\n')[0]).toMatch(/^demo \(local\): ready · last run failed/);
	});

	it('an interrupted scale is the first line under the headline, with the command that continues it', async () => {
		const interrupted: DashboardSnapshot = {
			...snapshot({state: 'cancelled'}),
		};
		interrupted.status = {
			...interrupted.status,
			change: {
				kind: 'scale',
				workers: 1,
				from: 3,
				leaving: ['workerbee-2', 'workerbee-3'],
				command: 'swarmbee scale demo --workers 1',
				startedAt: '2026-11-25T12:00:00.000Z',
				interrupted: true,
				says: 'scale to 1 worker interrupted, removing workerbee-2, workerbee-3 (swarmbee up demo continues it)',
			},
		};
		const instance = render(<Dashboard load={async () => interrupted} refreshMs={60_000} onQuit={() => {}} />);
		cleanup = instance.unmount;
		resize(instance.stdout, 120, 40);
		const frame = await waitForFrame(instance, 'NODES');
		expect(frame.split('\n')[0]).toMatch(/^demo \(local\): ready · last run cancelled/);
		expect(frame.split('\n')[1]).toBe(
			'scale to 1 worker interrupted, removing workerbee-2, workerbee-3 (swarmbee up demo continues it)',
		);
	});

	it('per node CPU and memory, each database server against its limit, tables with replicas and readiness', async () => {
		const withTables = snapshot({
			rethinkdb: {
				connected: 2,
				expected: 2,
				missing: [],
				issues: [],
				tables: [
					{
						db: 'app',
						table: 'users',
						shards: 1,
						replicas: 2,
						servers: ['queenbee', 'workerbee_1'],
						primaries: ['queenbee'],
						readiness: 'ready',
					},
					{
						db: 'app',
						table: 'orders',
						shards: 2,
						replicas: 1,
						servers: ['queenbee'],
						primaries: ['queenbee', 'queenbee'],
						readiness: 'writable',
						underReplicated: true,
					},
				],
			},
		});
		const instance = render(<Dashboard load={async () => withTables} refreshMs={60_000} onQuit={() => {}} />);
		cleanup = instance.unmount;
		resize(instance.stdout, 100, 40);
		const frame = await waitForFrame(instance, 'TABLES');
		expect(frame).toMatch(/NODE +ROLE +STATE +CPU +MEMORY +DATABASE +ADDRESS/);
		expect(frame).toMatch(/queenbee +manager +ready +12% +412M\/1\.0G 40% +180M\/450M 40%/);
		expect(frame).toContain("load 4.20 3.00 2.00 is this machine's (local nodes share it)");
		expect(frame).toMatch(/app\.users +1 shard +2 replicas +ready +on queenbee, workerbee_1/);
		expect(frame).toMatch(/app\.orders +2 shards +1 replica each +writable .*under-replicated/);
		expect(frame.split('\n')[0]).toContain('degraded: app.orders not every replica ready');
	});

	it("during a scale-down: the servers counted are the nodes', the leaving ones named beside them; replicas per shard said as such", async () => {
		const nodes = [node('queenbee'), node('workerbee-1'), node('workerbee-2'), node('workerbee-3')];
		const leaving = snapshot({
			nodes,
			rethinkdb: {
				connected: 4,
				expected: 4,
				missing: [],
				extra: ['workerbee_4', 'workerbee_5'],
				issues: [],
				tables: [
					{
						db: 'app',
						table: 'events',
						shards: 2,
						replicas: 3,
						servers: ['queenbee', 'workerbee_1', 'workerbee_2', 'workerbee_3'],
						primaries: ['queenbee', 'workerbee_1'],
						readiness: 'ready',
					},
				],
			},
		});
		const instance = render(<Dashboard load={async () => leaving} refreshMs={60_000} onQuit={() => {}} />);
		cleanup = instance.unmount;
		resize(instance.stdout, 120, 40);
		const frame = await waitForFrame(instance, 'TABLES');
		expect(frame).toContain('RETHINKDB  4 of 4 servers connected · also connected: workerbee_4, workerbee_5');
		expect(frame).not.toMatch(/\b6 of 4\b/);
		expect(frame).toMatch(
			/app\.events +2 shards +3 replicas each +ready +on queenbee, workerbee_1, workerbee_2, workerbee_3/,
		);
	});

	it('keeps an event line for the session and draws sparklines where the width allows', async () => {
		let n = 0;
		const load = vi.fn(async () => {
			n++;
			const at = new Date(Date.UTC(2026, 10, 25, 18, 32, 50 + n)).toISOString();
			return n === 2 ? snapshot({at, nodes: [node('queenbee'), node('workerbee-1', 'stopped')]}) : snapshot({at});
		});
		const instance = render(<Dashboard load={load} refreshMs={5} onQuit={() => {}} />);
		cleanup = instance.unmount;
		resize(instance.stdout, 140, 40);
		const frame = await waitForFrame(instance, text => text.includes('workerbee-1 back'));
		expect(frame).toMatch(/\d\d:\d\d:\d\d {2}workerbee-1 stopped/);
		expect(frame).toMatch(/CPU HISTORY +MEMORY HISTORY/);
		expect(frame).toMatch(/queenbee .*[▁▂▃▄▅▆▇█]{2,}/);
	});

	it('at 80×24 the tunnel URL with its token, counts, refusals and the admin-rights note are whole; a busy default port is said', async () => {
		const tunnel = fakeTunnel({busy: 8080});
		const instance = render(
			<Dashboard load={async () => snapshot()} refreshMs={60_000} tunnels={tunnel} onQuit={() => {}} />,
		);
		cleanup = instance.unmount;
		resize(instance.stdout, 80, 24);
		await waitForFrame(instance, 't open tunnel');
		instance.stdin.write('t');
		const frame = await waitForFrame(instance, 't close tunnel');
		expect(frame).toMatch(/admin +127\.0\.0\.1:39123 → queenbee:8080 +\(8080 is taken here\)/);
		// The console opens only with its token: the whole address, never cut.
		expect(frame).toContain('open http://127.0.0.1:39123/?token=Vb1kQ2n8c0yJmZpT4hXa7sLq9wEr3uDf');
		expect(frame).toContain('driver  127.0.0.1:28015 → queenbee:28015');
		expect(frame).toContain('2 open, 6 total · in 2.5 MB · out 60 kB · 2 requests without the token refused');
		expect(frame).toContain('the console has full admin rights');
		expect(Math.max(...frame.split('\n').map(l => l.length))).toBeLessThanOrEqual(80);
		expect(frame.split('\n').length).toBeLessThanOrEqual(24);
	});

	it('t twice: open, close, no error line; a tunnel that cannot open shows its fix', async () => {
		const tunnel = fakeTunnel();
		const instance = render(
			<Dashboard load={async () => snapshot()} refreshMs={60_000} tunnels={tunnel} onQuit={() => {}} />,
		);
		cleanup = instance.unmount;
		await waitForFrame(instance, 't open tunnel');
		instance.stdin.write('t');
		await waitForFrame(instance, 't close tunnel');
		instance.stdin.write('t');
		const closed = await waitForFrame(instance, 't open tunnel');
		expect(closed).not.toMatch(/error|Cannot read/);
		expect(tunnel.close).toHaveBeenCalledTimes(1);
		tunnel.open.mockImplementationOnce(async () => {
			throw new InputError('127.0.0.1:8081 is already in use on this machine', {
				nextSteps: ['or choose another local port (--admin-port / --driver-port)'],
			});
		});
		instance.stdin.write('t');
		const failed = await waitForFrame(instance, 'already in use');
		expect(failed).toContain('try: or choose another local port (--admin-port / --driver-port)');
	});

	it('a tunnel that stopped itself on an error says the error (red) where it says closed; t opens it again', async () => {
		const tunnel = fakeTunnel();
		const instance = render(
			<Dashboard load={async () => snapshot()} refreshMs={60_000} tunnels={tunnel} onQuit={() => {}} />,
		);
		cleanup = instance.unmount;
		resize(instance.stdout, 140, 40);
		await waitForFrame(instance, 't open tunnel');
		instance.stdin.write('t');
		await waitForFrame(instance, 't close tunnel');
		const why = 'queenbee (127.0.0.1:2222) offered host key SHA256:other, but swarmbee installed SHA256:mine';
		tunnel.set(tunnel.current().map(s => ({...s, state: 'closed' as const, lastError: why})));
		const frame = await waitForFrame(instance, 't open tunnel');
		expect(frame).toContain('TUNNEL  closed on an error (t tries again)');
		expect(frame).toContain(`error: ${why}`);
		instance.stdin.write('t');
		await waitForFrame(instance, 't close tunnel');
		expect(tunnel.open).toHaveBeenCalledTimes(2);
	});

	it('at 100×15 the body scrolls under a fixed header and footer', async () => {
		const many = snapshot({
			nodes: ['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3', 'workerbee-4'].map(n => node(n)),
		});
		// Every key offered, so the footer is as long as it gets: it must still end with q quit.
		const actions = {logs: async () => ({title: 'x', source: 'x', lines: []}), ssh: async () => {}};
		const instance = render(
			<Dashboard
				load={async () => many}
				refreshMs={60_000}
				tunnels={fakeTunnel()}
				actions={actions}
				handOver={() => {}}
				onQuit={() => {}}
			/>,
		);
		cleanup = instance.unmount;
		resize(instance.stdout, 100, 15);
		const first = await waitForFrame(instance, text => /1-12 of \d+/.test(text));
		expect(first.split('\n')).toHaveLength(14);
		expect(first.split('\n')[0]).toContain('demo (local): ready');
		expect(first.split('\n').at(-1)).toMatch(
			/^↑↓ select · l logs · s ssh · t open tunnel · r refresh · \? help · q quit +1-12 of \d+ · PgDn$/,
		);
		expect(first).not.toContain('RETHINKDB');
		instance.stdin.write(' ');
		const paged = await waitForFrame(instance, 'RETHINKDB');
		expect(paged.split('\n')[0]).toContain('demo (local): ready');
		expect(paged.split('\n').at(-1)).toMatch(/q quit .*\d+-\d+ of \d+/);
	});

	it("↑/↓ select rows; l shows the selected row's logs; s appears and hands over only when given; ? is the help", async () => {
		const logs = vi.fn<DashboardActions['logs']>(async target => ({
			title: `logs of ${target.kind === 'service' ? target.service : target.node}`,
			source: 'docker service logs',
			lines: ['2026-11-25T12:00:00Z Server ready'],
		}));
		const handOver = vi.fn();
		const ssh = vi.fn(async () => {});
		const instance = render(
			<Dashboard
				load={async () => snapshot()}
				refreshMs={60_000}
				actions={{logs}}
				handOver={handOver}
				onQuit={() => {}}
			/>,
		);
		cleanup = instance.unmount;
		resize(instance.stdout, 100, 40);
		const frame = await waitForFrame(instance, '▸ queenbee');
		expect(frame).toMatch(/↑↓ select · l logs of queenbee · r refresh · \? help · q quit/);
		expect(frame).not.toContain('s ssh');
		instance.stdin.write('j');
		await waitForFrame(instance, '▸ workerbee-1');
		instance.stdin.write('j');
		await waitForFrame(instance, '▸ swarmbee_rdb-queenbee');
		instance.stdin.write('l');
		await waitForFrame(instance, 'Server ready');
		expect(logs).toHaveBeenLastCalledWith(
			{kind: 'service', service: 'swarmbee_rdb-queenbee', node: 'queenbee'},
			expect.any(AbortSignal),
		);
		instance.stdin.write('\u001B');
		await waitForFrame(instance, '▸ swarmbee_rdb-queenbee');
		instance.stdin.write('?');
		await waitForFrame(instance, 'KEYS');
		instance.unmount();

		const withSsh = render(
			<Dashboard
				load={async () => snapshot()}
				refreshMs={60_000}
				actions={{logs, ssh}}
				handOver={handOver}
				onQuit={() => {}}
			/>,
		);
		cleanup = withSsh.unmount;
		await waitForFrame(withSsh, 's ssh');
		withSsh.stdin.write('s');
		await vi.waitFor(() => expect(handOver).toHaveBeenCalledTimes(1));
		await handOver.mock.calls[0]![0]();
		expect(ssh).toHaveBeenCalledWith({kind: 'node', node: 'queenbee'});
	});

	it('a logs read left behind (r reloads, esc closes, the dashboard goes) is aborted, and its cancel is not shown', async () => {
		const signals: AbortSignal[] = [];
		// Every read waits for its abort, but the second, which answers.
		const logs = vi.fn<DashboardActions['logs']>(
			(_target, signal) =>
				new Promise((resolve, reject) => {
					signals.push(signal);
					signal.addEventListener('abort', () => reject(new CancelledError()));
					if (signals.length === 2)
						resolve({
							title: 'logs of queenbee',
							source: 'swarmbee logs demo queenbee',
							lines: ['2026-11-25T12:00:00Z Server ready'],
						});
				}),
		);
		const instance = render(
			<Dashboard load={async () => snapshot()} refreshMs={60_000} actions={{logs}} onQuit={() => {}} />,
		);
		cleanup = instance.unmount;
		resize(instance.stdout, 100, 40);
		await waitForFrame(instance, '▸ queenbee');
		instance.stdin.write('l');
		await waitForFrame(instance, 'reading…');
		instance.stdin.write('r');
		await waitForFrame(instance, 'Server ready');
		expect(signals.map(s => s.aborted)).toEqual([true, false]);
		instance.stdin.write('r');
		await vi.waitFor(() => expect(signals).toHaveLength(3));
		const reloading = await waitForFrame(instance, 'reading…');
		expect(reloading).not.toMatch(/cancelled/);
		instance.stdin.write('\u001B');
		await waitForFrame(instance, '▸ queenbee');
		expect(signals[2]!.aborted).toBe(true);
		instance.stdin.write('l');
		await vi.waitFor(() => expect(signals).toHaveLength(4));
		expect(signals[3]!.aborted).toBe(false);
		instance.unmount();
		expect(signals[3]!.aborted).toBe(true);
	});

	it('says so when a refresh fails as a whole, with the fix, wrapped between words', async () => {
		const instance = render(
			<Dashboard
				load={async () => {
					throw new InputError(
						'Cannot connect to the Docker daemon at unix:///var/run/docker.sock, is the docker daemon running on this machine',
						{nextSteps: ['start Docker (e.g. sudo systemctl start docker)']},
					);
				}}
				refreshMs={60_000}
				onQuit={() => {}}
			/>,
		);
		cleanup = instance.unmount;
		resize(instance.stdout, 60, 30);
		const frame = await waitForFrame(instance, 'error: Cannot connect');
		expect(frame).toContain('try: start Docker');
		// Every wrapped line ends at a word's end.
		for (const line of frame.split('\n').filter(l => l.startsWith('  '))) expect(line.length).toBeLessThanOrEqual(60);
		expect(frame).toMatch(/daemon\n {4}at unix|docker\n {4}daemon|running\n {4}on this machine|\n {4}\S/);
	});

	it('formats bytes and sizes', () => {
		expect([formatBytes(512), formatBytes(30_100), formatBytes(1_234_567)]).toEqual(['512 B', '30 kB', '1.2 MB']);
		expect([formatSize(412 * MIB), formatSize(1024 * MIB), formatSize(500 * 1024)]).toEqual(['412M', '1.0G', '500K']);
	});
});

describe('dashboard memory (the event line)', () => {
	it('turns problems that appear and go into events, and keeps history', () => {
		let memory = rememberSnapshot(emptyMemory(), snapshot({at: '2026-11-25T18:32:00Z'}));
		memory = rememberSnapshot(
			memory,
			snapshot({at: '2026-11-25T18:32:54Z', nodes: [node('queenbee'), node('workerbee-1', 'stopped')]}),
		);
		memory = rememberSnapshot(memory, snapshot({at: '2026-11-25T18:33:50Z'}));
		expect(memory.events.map(e => e.text)).toEqual(['watching: all ready', 'workerbee-1 stopped', 'workerbee-1 back']);
		expect(memory.history['queenbee']!.cpu).toHaveLength(3);
		expect(memory.history['workerbee-1']!.cpu).toHaveLength(2);
		memory = rememberTunnel(memory, [{state: 'connecting'} as TunnelStatus], '2026-11-25T18:34:00Z');
		memory = rememberTunnel(memory, [{state: 'open'} as TunnelStatus], '2026-11-25T18:34:01Z');
		expect(memory.events.at(-1)!.text).toBe('tunnel open');
		expect(memory.events.filter(e => e.text.startsWith('tunnel'))).toHaveLength(1);
	});
});
