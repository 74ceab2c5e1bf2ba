import {render} from 'ink-testing-library';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {RunEventSource} from '../../components/event-source.js';
import {RunView} from '../../components/RunView.js';
import {event} from '../../source/events.js';
import {allOutput, provisionEvents, resize, runStart, screen, waitForFrame} from './helpers.js';

function mount() {
	const source = new RunEventSource();
	const onInterrupt = vi.fn();
	const instance = render(<RunView source={source} onInterrupt={onInterrupt} />);
	const push = (...events: Parameters<RunEventSource['push']>[0][]) => {
		for (const e of events) source.push(e);
	};
	return {source, instance, onInterrupt, push};
}

describe('RunView', () => {
	let cleanup: (() => void) | undefined;
	afterEach(() => cleanup?.());

	it('shows finished steps once, the running one with a spinner, and a row per node', async () => {
		const {instance, push} = mount();
		cleanup = instance.unmount;
		push(...runStart());
		const frame = await waitForFrame(instance, 'Provision');
		expect(frame).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] Provision {2}\d/);
		expect(frame).toContain('○ Swarm');
		expect(frame).toMatch(/✔ queenbee +running +SSH ok/);
		expect(frame).toMatch(/✔ workerbee-1 +running +SSH ok/);
		const output = allOutput(instance);
		// One name per step: the header says the titles the step lines say (not ids such as deploy or evacuate).
		expect(output).toContain('swarmbee up demo (local): Preflight checks, Machines, Provision, Swarm');
		expect(output).toContain('✔ Preflight checks (1.2s): Docker engine 20.10.24 reachable');
		expect(output).toContain('✔ Machines (6.0s): 2 nodes running (2 created)');
		// Finished lines are in <Static>, above the live region.
		expect(output.indexOf('✔ Machines (6.0s)')).toBeLessThan(output.lastIndexOf('○ Swarm'));
	});

	it('shows a live Ansible pane per node with counters, and the recap wins', async () => {
		const {instance, push} = mount();
		cleanup = instance.unmount;
		push(...runStart(), ...provisionEvents('queenbee').slice(0, 7));
		let frame = await waitForFrame(instance, 'TASK [Configure dockerd]');
		expect(frame).toContain('queenbee (provision) provisioning  ok 1 changed 1 failed 0  6 lines');
		expect(frame).toMatch(/⠋|⠙|⠹|⠸|⠼|⠴|⠦|⠧|⠇|⠏ queenbee +provisioning +TASK \[Configure dockerd\]/);
		push(...provisionEvents('queenbee').slice(7));
		frame = await waitForFrame(instance, 'recap');
		expect(frame).toContain('ok 4 changed 2 failed 0');
		expect(allOutput(instance).replace(/\n/g, ' ')).toContain(
			'queenbee: full provision log in /home/u/.config/swarmbee-nodejs/clusters/demo/logs/queenbee/provision.log',
		);
		expect(frame).toContain('log: /home/u/.config/swarmbee-nodejs/clusters/demo/logs/queenbee/provision.log');
	});

	it('a failed node: red counters, its pane kept, one error banner that says what to do', async () => {
		const {instance, push} = mount();
		cleanup = instance.unmount;
		push(...runStart(), ...provisionEvents('queenbee'), ...provisionEvents('workerbee-1', {fail: true}));
		push(
			event({
				type: 'step-failed',
				step: 'provision',
				durationMs: 31_000,
				error: {
					kind: 'external',
					message: 'provisioning failed on node workerbee-1',
					hint: 'workerbee-1: apt-get install exited 100',
					nextSteps: ['swarmbee up demo (it resumes where it stopped)'],
					node: 'workerbee-1',
					logFile: '/logs/workerbee-1/provision.log',
				},
			}),
			event({
				type: 'run-failed',
				durationMs: 38_000,
				error: {
					kind: 'external',
					message: 'provisioning failed on node workerbee-1',
					hint: 'workerbee-1: apt-get install exited 100',
					nextSteps: ['swarmbee up demo (it resumes where it stopped)'],
					node: 'workerbee-1',
					logFile: '/logs/workerbee-1/provision.log',
				},
			}),
		);
		const frame = await waitForFrame(instance, 'error: provisioning failed');
		expect(frame).toMatch(/✖ workerbee-1 +failed +apt-get install exited 100/);
		expect(frame).toMatch(/✔ queenbee +ready/);
		expect(frame).toContain('workerbee-1 (provision) failed  ok 2 changed 1 failed 1');
		expect(frame).toContain('fatal: [localhost]: FAILED!');
		// Only the failed node keeps a pane once the run is over.
		expect(frame).not.toContain('queenbee (provision)');
		expect(frame).toContain('why: workerbee-1: apt-get install exited 100');
		expect(frame).toContain('try: swarmbee up demo (it resumes where it stopped)');
		expect(frame).toContain('log: /logs/workerbee-1/provision.log');
		expect(frame.match(/error:/g)).toHaveLength(1);
		expect(frame).not.toContain('○ Swarm');
		expect(allOutput(instance)).toContain('✖ Provision (31.0s): provisioning failed on node workerbee-1');
	});

	it('moves between panes and expands one with the keyboard', async () => {
		const {instance, push} = mount();
		cleanup = instance.unmount;
		resize(instance.stdout, 100, 60);
		const out = (node: string, line: string) =>
			event({type: 'node-output', node, step: 'provision', stream: 'stdout', line});
		push(...runStart());
		for (let i = 1; i <= 20; i++)
			push(out('queenbee', `queenbee line ${i}`), out('workerbee-1', `workerbee-1 line ${i}`));
		let frame = await waitForFrame(instance, 'workerbee-1 line 20');
		expect(frame).toContain('▸ queenbee');
		expect(frame).not.toContain('queenbee line 17');
		expect(frame).toContain('queenbee line 18');
		instance.stdin.write('\u001B[B');
		frame = await waitForFrame(instance, '▸ workerbee-1');
		expect(frame).not.toContain('▸ queenbee');
		instance.stdin.write('\r');
		frame = await waitForFrame(instance, 'workerbee-1 line 5');
		// Expanded: only the selected pane, with many more lines.
		expect(frame).not.toContain('queenbee line 20');
		expect(frame).toContain('enter collapse');
		instance.stdin.write('\r');
		frame = await waitForFrame(
			instance,
			text => text.includes('queenbee line 20') && !text.includes('workerbee-1 line 5'),
		);
		expect(frame).toContain('enter expand');
	});

	it('Ctrl-C goes to the interrupt owner; the cancellation says how to resume', async () => {
		const {instance, push, onInterrupt} = mount();
		cleanup = instance.unmount;
		push(...runStart());
		await waitForFrame(instance, 'ctrl-c stop and save');
		instance.stdin.write('\u0003');
		expect(onInterrupt).toHaveBeenCalledTimes(1);
		push(
			event({type: 'warning', message: 'Ctrl-C: stopping, saving state (press again to quit at once)'}),
			event({type: 'step-cancelled', step: 'provision', durationMs: 2_000}),
			event({type: 'run-cancelled', durationMs: 9_200, resume: 'swarmbee up demo'}),
		);
		const frame = await waitForFrame(instance, 'Resume with');
		expect(frame).toContain('■ cancelled after 9.2s; state saved. Resume with: swarmbee up demo');
		expect(allOutput(instance)).toContain('■ Provision cancelled after 2.0s');
		expect(allOutput(instance)).toContain('! Ctrl-C: stopping, saving state');
	});

	it('fits 80 columns after a resize: no line wider than the terminal', async () => {
		const {instance, push} = mount();
		cleanup = instance.unmount;
		push(...runStart(), ...provisionEvents('queenbee').slice(0, 4));
		push(
			event({
				type: 'node-output',
				node: 'queenbee',
				step: 'provision',
				stream: 'stdout',
				line: `changed: [localhost] => ${'x'.repeat(200)}`,
			}),
		);
		await waitForFrame(instance, 'xxxxx');
		expect(
			Math.max(
				...screen(instance)
					.split('\n')
					.map(l => l.length),
			),
		).toBeGreaterThan(80);
		resize(instance.stdout, 80);
		const frame = await waitForFrame(instance, text => Math.max(...text.split('\n').map(l => l.length)) <= 80);
		expect(frame).toContain('changed: [localhost] => xxx');
		expect(frame).toContain('queenbee (provision)');
	});
});

describe('RunView honesty (issue 15)', () => {
	it('a node still loading an image spins instead of showing ✔, and ends ✔ once loaded', async () => {
		const source = new RunEventSource();
		const instance = render(<RunView source={source} onInterrupt={() => {}} intervalMs={5} />);
		try {
			for (const e of runStart()) source.push(e);
			source.push(event({type: 'node-state', node: 'queenbee', state: 'loading', detail: 'loading rethinkdb:2.4.4'}));
			const loading = await waitForFrame(instance, 'loading rethinkdb:2.4.4');
			expect(loading).toMatch(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] queenbee +loading +loading rethinkdb:2\.4\.4/m);
			expect(loading).not.toMatch(/✔ queenbee/);
			source.push(event({type: 'node-state', node: 'queenbee', state: 'running', detail: 'rethinkdb:2.4.4 loaded'}));
			await waitForFrame(instance, '✔ queenbee     running  rethinkdb:2.4.4 loaded');
		} finally {
			instance.unmount();
		}
	});
});
