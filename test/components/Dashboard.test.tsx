import {render} from 'ink-testing-library';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {Dashboard, formatBytes} from '../../components/Dashboard.js';
import type {DashboardSnapshot} from '../../source/cluster/dashboard-data.js';
import type {TunnelControl} from '../../source/tunnel/control.js';
import type {TunnelStatus} from '../../source/tunnel/types.js';
import {resize, screen, waitForFrame} from './helpers.js';

function snapshot(overrides: Partial<DashboardSnapshot['status']> = {}, extra: Partial<DashboardSnapshot> = {}): DashboardSnapshot {
	return {
		status: {
			cluster: 'demo',
			provider: 'local',
			state: 'ready',
			nodes: [
				{name: 'queenbee', role: 'manager', state: 'ready', publicAddress: '10.101.197.10', privateAddress: '10.100.80.10', machine: 'running', hostKeyFingerprint: 'SHA256:x', provision: null},
				{name: 'workerbee-1', role: 'worker', state: 'ready', publicAddress: '10.101.197.11', privateAddress: '10.100.80.11', machine: 'running', hostKeyFingerprint: 'SHA256:y', provision: null},
			],
			swarm: {managers: 1, workers: 1, ready: 2},
			errors: [],
			...overrides,
		},
		services: [{
			name: 'rethinkdb', mode: 'global', replicas: '2/2', image: 'rethinkdb:2.4.4', ports: '', failures: 0, lastError: '',
			tasks: [
				{name: 'rethinkdb.a1', node: 'queenbee', desiredState: 'Running', currentState: 'Running 2 minutes ago', error: ''},
				{name: 'rethinkdb.b2', node: 'workerbee-1', desiredState: 'Running', currentState: 'Running 2 minutes ago', error: ''},
			],
		}],
		load: {queenbee: {load1: 0.42, load5: 0.3, load15: 0.21}, 'workerbee-1': null},
		at: '2026-11-25T12:04:33.000Z',
		errors: [],
		...extra,
	};
}

/** A stand-in for the lead's tunnel: the state machine's shapes, no SSH. */
function fakeTunnel(): TunnelControl & {statuses: TunnelStatus[]} {
	const listeners = new Set<(t: TunnelStatus[]) => void>();
	const control = {
		statuses: [] as TunnelStatus[],
		current: () => control.statuses,
		subscribe(listener: (t: TunnelStatus[]) => void) {
			listeners.add(listener);
			return () => listeners.delete(listener);
		},
		set(statuses: TunnelStatus[]) {
			control.statuses = statuses;
			for (const l of listeners) l(statuses);
		},
		open: vi.fn(async () => {
			control.set([{name: 'admin', state: 'open', local: {host: '127.0.0.1', port: 8080}, target: {node: 'queenbee', port: 8080}, connections: 1, totalConnections: 3, bytesIn: 1_234_567, bytesOut: 30_100, since: '2026-11-25T12:04:00Z'}]);
		}),
		close: vi.fn(async () => control.set([])),
	};
	return control;
}

describe('Dashboard', () => {
	let cleanup: (() => void) | undefined;
	afterEach(() => cleanup?.());

	it('shows nodes with load, services, RethinkDB not deployed, and refreshes on its own', async () => {
		const load = vi.fn(async () => snapshot());
		const instance = render(<Dashboard load={load} refreshMs={50} onQuit={() => {}} />);
		cleanup = instance.unmount;
		const frame = await waitForFrame(instance, 'NODES');
		expect(frame).toContain('demo (local): ready');
		expect(frame).toMatch(/NODE +ROLE +STATE +PUBLIC +PRIVATE +LOAD/);
		expect(frame).toMatch(/queenbee +manager +ready +10\.101\.197\.10 +10\.100\.80\.10 +0\.42 0\.30 0\.21/);
		expect(frame).toMatch(/workerbee-1 +worker +ready .* -$/m);
		expect(frame).toContain('swarm: 1 manager, 1 worker, 2 of 2 Ready');
		expect(frame).toMatch(/rethinkdb +global +2\/2 +rethinkdb:2\.4\.4 +2 tasks running/);
		expect(frame).toMatch(/✔ rethinkdb\.a1 +queenbee +Running 2 minutes ago/);
		expect(frame).toContain('RETHINKDB  not deployed');
		expect(frame).toContain('no tunnel control in this command');
		expect(frame).toContain('q quit · r refresh');
		await vi.waitFor(() => expect(load.mock.calls.length).toBeGreaterThanOrEqual(3));
	});

	it('shows RethinkDB health, failed tasks and a node that is down', async () => {
		const bad = snapshot({
			state: 'ready',
			nodes: [...snapshot().status.nodes.slice(0, 1), {...snapshot().status.nodes[1]!, state: 'down'}],
			swarm: {managers: 1, workers: 1, ready: 1},
			rethinkdb: {connected: 1, expected: 2, missing: ['workerbee_1'], issues: [{type: 'server_disconnected', critical: true, description: 'Server workerbee_1 is disconnected'}], tables: []},
		});
		bad.services![0]!.tasks[1] = {name: 'rethinkdb.b2', node: 'workerbee-1', desiredState: 'Running', currentState: 'Failed 3 seconds ago', error: 'task: non-zero exit (1)'};
		bad.services![0] = {...bad.services![0]!, replicas: '1/2', failures: 3, lastError: 'task: non-zero exit (1)'};
		const instance = render(<Dashboard load={async () => bad} refreshMs={60_000} onQuit={() => {}} />);
		cleanup = instance.unmount;
		const frame = await waitForFrame(instance, 'RETHINKDB');
		expect(frame).toContain('RETHINKDB  1 of 2 servers connected  missing: workerbee_1');
		expect(frame).toContain('✖ server_disconnected: Server workerbee_1 is disconnected');
		expect(frame).toMatch(/✖ rethinkdb\.b2 +workerbee-1 +Failed 3 seconds ago +task: non-zero exit \(1\)/);
		expect(frame).toMatch(/rethinkdb +global +1\/2 +rethinkdb:2\.4\.4 +1 task running +3 failed: task: non-zero exit \(1\)/);
		expect(frame).toContain('swarm: 1 manager, 1 worker, 1 of 2 Ready');
		expect(frame).toMatch(/workerbee-1 +worker +down/);
	});

	it('keys: r refreshes, t opens and closes the tunnel, q quits', async () => {
		let n = 0;
		const load = vi.fn(async () => snapshot({}, {at: new Date(Date.UTC(2026, 10, 25, 12, 0, n++)).toISOString()}));
		const tunnel = fakeTunnel();
		const onQuit = vi.fn();
		const instance = render(<Dashboard load={load} refreshMs={60_000} tunnels={tunnel} onQuit={onQuit} />);
		cleanup = instance.unmount;
		await waitForFrame(instance, 't open the tunnel');
		expect(screen(instance)).toContain('closed (t opens it)');
		const before = load.mock.calls.length;
		instance.stdin.write('r');
		await vi.waitFor(() => expect(load.mock.calls.length).toBe(before + 1));
		instance.stdin.write('t');
		const frame = await waitForFrame(instance, 't close the tunnel');
		expect(tunnel.open).toHaveBeenCalledTimes(1);
		expect(frame).toMatch(/admin +open +127\.0\.0\.1:8080 → queenbee:8080 +1 open, 3 total +in 1\.2 MB +out 30 kB/);
		instance.stdin.write('t');
		await waitForFrame(instance, 'closed (t opens it)');
		expect(tunnel.close).toHaveBeenCalledTimes(1);
		instance.stdin.write('q');
		expect(onQuit).toHaveBeenCalledTimes(1);
	});

	it('one error banner per problem, and the screen still fits 80 columns', async () => {
		const withError = snapshot({errors: [{kind: 'external', message: 'workerbee-1 did not answer SSH at 10.101.197.11:22 within 8 s', nextSteps: ['check that the machine is running (swarmbee status)'], node: 'workerbee-1'}]});
		const instance = render(<Dashboard load={async () => withError} refreshMs={60_000} onQuit={() => {}} />);
		cleanup = instance.unmount;
		resize(instance.stdout, 80);
		const frame = await waitForFrame(instance, 'error: workerbee-1 did not answer');
		expect(frame).toContain('try: check that the machine is running (swarmbee status)');
		expect(Math.max(...frame.split('\n').map(l => l.length))).toBeLessThanOrEqual(80);
	});

	it('says so when a refresh fails as a whole', async () => {
		const instance = render(<Dashboard load={async () => {
			throw new Error('Cannot connect to the Docker daemon');
		}} refreshMs={60_000} onQuit={() => {}} />);
		cleanup = instance.unmount;
		await waitForFrame(instance, 'error: Cannot connect to the Docker daemon');
	});

	it('formats bytes', () => {
		expect([formatBytes(512), formatBytes(30_100), formatBytes(1_234_567)]).toEqual(['512 B', '30 kB', '1.2 MB']);
	});
});
