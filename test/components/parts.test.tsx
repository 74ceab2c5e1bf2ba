import {render} from 'ink-testing-library';
import {describe, expect, it} from 'vitest';
import {ErrorBanner} from '../../components/ErrorBanner.js';
import {NodePane} from '../../components/NodePane.js';
import {NodeTable} from '../../components/NodeTable.js';
import {paneWindow} from '../../components/RunView.js';
import {Spinner} from '../../components/Spinner.js';
import {StepList} from '../../components/StepList.js';
import type {NodeView} from '../../components/run-state.js';
import {screen} from './helpers.js';

const node = (overrides: Partial<NodeView>): NodeView => ({
	name: 'queenbee',
	state: 'provisioning',
	tail: [],
	lines: 0,
	counters: {ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, ignored: 0},
	recapped: false,
	...overrides,
});

describe('components', () => {
	it('Spinner takes its frame from the view clock', () => {
		expect(screen(render(<Spinner frame={0} />))).toBe('⠋');
		expect(screen(render(<Spinner frame={13} />))).toBe('⠸');
	});

	it('StepList: the running step with elapsed time and progress, pending ones dim, finished ones not at all', () => {
		const frame = screen(
			render(
				<StepList
					frame={2}
					now={10_000}
					steps={[
						{id: 'a', title: 'Preflight checks', status: 'done', durationMs: 1000},
						{id: 'b', title: 'Machines', status: 'running', startedAt: 5_800, progress: 'queenbee: booting'},
						{id: 'c', title: 'Swarm', status: 'pending'},
					]}
				/>,
			),
		);
		expect(frame).toBe('⠹ Machines  4.2s  queenbee: booting\n○ Swarm');
	});

	it('NodeTable: one aligned row per node; busy states spin, settled ones show an icon', () => {
		const frame = screen(
			render(
				<NodeTable
					frame={0}
					nodes={[
						node({name: 'queenbee', state: 'ready'}),
						node({name: 'workerbee-1', state: 'provisioning', task: 'Install packages'}),
						node({name: 'workerbee-2', state: 'failed', detail: 'apt-get exited 100'}),
						node({name: 'workerbee-3', state: 'booting', detail: 'booting'}),
					]}
				/>,
			),
		);
		expect(frame.split('\n')).toEqual([
			'✔ queenbee     ready',
			'⠋ workerbee-1  provisioning  TASK [Install packages]',
			'✖ workerbee-2  failed        apt-get exited 100',
			'⠋ workerbee-3  booting',
		]);
	});

	it('NodePane: counters, the last lines, the log; selected and failed are marked', () => {
		const pane = node({
			name: 'workerbee-2',
			state: 'failed',
			step: 'provision',
			lines: 9,
			tail: ['TASK [x] ***', 'ok: [localhost]', 'fatal: [localhost]: FAILED! => {}'],
			counters: {ok: 3, changed: 1, failed: 1, unreachable: 0, skipped: 0, ignored: 0},
			logFile: '/l/workerbee-2/provision.log',
		});
		expect(screen(render(<NodePane node={pane} lines={2} selected width={80} />)).split('\n')).toEqual([
			'▸ workerbee-2 (provision) failed  ok 3 changed 1 failed 1  9 lines',
			'┃ ok: [localhost]',
			'┃ fatal: [localhost]: FAILED! => {}',
			'┃ log: /l/workerbee-2/provision.log',
		]);
		expect(
			screen(
				render(
					<NodePane
						node={{...pane, state: 'ready', counters: {...pane.counters, failed: 0}, logFile: undefined}}
						lines={1}
						selected={false}
						width={80}
					/>,
				),
			).split('\n'),
		).toEqual([
			'• workerbee-2 (provision) ready  ok 3 changed 1 failed 0  9 lines',
			'│ fatal: [localhost]: FAILED! => {}',
		]);
	});

	it('ErrorBanner: what failed, why, what to do, where the log is', () => {
		const frame = screen(
			render(
				<ErrorBanner
					width={70}
					error={{
						kind: 'external',
						message: 'swarm failed on node workerbee-1',
						hint: 'docker swarm join timed out',
						nextSteps: ['swarmbee up demo', 'swarmbee status demo'],
						logFile: '/l/x.log',
					}}
				/>,
			),
		);
		expect(frame.split('\n')).toEqual([
			'╭────────────────────────────────────────────────────────────────────╮',
			'│ error: swarm failed on node workerbee-1                            │',
			'│   why: docker swarm join timed out                                 │',
			'│   try: swarmbee up demo                                            │',
			'│        swarmbee status demo                                        │',
			'│   log: /l/x.log                                                    │',
			'╰────────────────────────────────────────────────────────────────────╯',
		]);
	});

	it('ErrorBanner: long text wraps between words, under its own label (issue 15)', () => {
		const frame = screen(
			render(
				<ErrorBanner
					width={44}
					error={{
						kind: 'external',
						message: 'provisioning failed on node workerbee-2',
						hint: 'playbook site.yml failed at task "Check that this node may run workloads"',
						nextSteps: ['fix the cause, then run swarmbee up again: nodes that finished are left as they are'],
						logFile: '/tmp/sbdemo/clusters/demo/logs/workerbee-2/provision.log',
					}}
				/>,
			),
		);
		const inside = frame
			.split('\n')
			.slice(1, -1)
			.map(line => line.slice(2, -2).trimEnd());
		expect(inside.slice(0, 6)).toEqual([
			'error: provisioning failed on node',
			'  workerbee-2',
			'  why: playbook site.yml failed at task',
			'       "Check that this node may run',
			'       workloads"',
			'  try: fix the cause, then run swarmbee',
		]);
		// No word is cut: every piece of the text is whole on some line.
		for (const word of [
			'workloads"',
			'finished',
			'/tmp/sbdemo/clusters/demo/logs/workerbee-2/provision.log'.slice(0, 30),
		])
			expect(inside.some(l => l.includes(word))).toBe(true);
	});

	it('paneWindow keeps the selected pane in view', () => {
		expect(paneWindow(10, 0, 3)).toEqual({start: 0, end: 3});
		expect(paneWindow(10, 5, 3)).toEqual({start: 4, end: 7});
		expect(paneWindow(10, 9, 3)).toEqual({start: 7, end: 10});
		expect(paneWindow(2, 1, 5)).toEqual({start: 0, end: 2});
		expect(paneWindow(4, 2, 0)).toEqual({start: 2, end: 3});
	});
});
