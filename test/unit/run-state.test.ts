import {describe, expect, it} from 'vitest';
import {countAnsibleLine, initialRunState, reduceRun, reduceRunBatch, TAIL_LINES} from '../../components/run-state.js';
import {event, type RunEvent} from '../../source/events.js';
import {registerSecret} from '../../source/redact.js';

const out = (node: string, line: string, step = 'provision'): RunEvent =>
	event({type: 'node-output', node, step, stream: 'stdout', line});
const zero = {ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, ignored: 0};

describe('run view reducer', () => {
	it('counts Ansible result lines as the PLAY RECAP will', () => {
		let c = zero;
		for (const line of [
			'ok: [localhost]',
			'changed: [localhost] => (item=x)',
			'skipping: [localhost]',
			'fatal: [localhost]: FAILED! => {}',
			'...ignoring',
			'fatal: [localhost]: UNREACHABLE! => {}',
			'TASK [x] ***',
			'failed: [localhost] (item=y)',
		]) {
			c = countAnsibleLine(c, line);
		}
		expect(c).toEqual({ok: 1, changed: 1, skipped: 1, failed: 1, ignored: 1, unreachable: 1});
	});

	it('batches give the same state as one event at a time', () => {
		const events = [
			out('a', 'TASK [Install] ***'),
			out('a', 'ok: [localhost]'),
			out('b', 'changed: [localhost]'),
			event({type: 'node-state', node: 'a', state: 'ready'}),
			out('a', 'ok: [localhost]'),
		];
		const oneByOne = events.reduce(reduceRun, initialRunState);
		expect(reduceRunBatch(initialRunState, events)).toEqual(oneByOne);
	});

	it('keeps a bounded tail, counts every line, and lets the recap win', () => {
		const lines = Array.from({length: 500}, (_, i) => out('a', i % 2 ? 'ok: [localhost]' : `line ${i}`));
		let state = reduceRunBatch(initialRunState, lines);
		const node = state.nodes[0]!;
		expect(node.tail).toHaveLength(TAIL_LINES);
		expect(node.tail.at(-1)).toBe('ok: [localhost]');
		expect(node.lines).toBe(500);
		expect(node.counters.ok).toBe(250);
		state = reduceRun(
			state,
			event({
				type: 'node-recap',
				node: 'a',
				step: 'provision',
				recap: {ok: 7, changed: 3, unreachable: 0, failed: 0, skipped: 1, rescued: 0, ignored: 0},
			}),
		);
		state = reduceRun(state, out('a', 'ok: [localhost]'));
		expect(state.nodes[0]!.counters).toMatchObject({ok: 7, changed: 3, skipped: 1});
		expect(state.nodes[0]!.recapped).toBe(true);
	});

	it('a new step starts a node pane afresh', () => {
		const state = reduceRunBatch(initialRunState, [out('a', 'ok: [localhost]'), out('a', 'hello', 'verify')]);
		expect(state.nodes[0]).toMatchObject({step: 'verify', lines: 1, tail: ['hello'], counters: zero});
	});

	it('never keeps a secret a node printed', () => {
		registerSecret('s3cret-token-value');
		const state = reduceRun(initialRunState, out('a', 'export TOKEN=s3cret-token-value'));
		expect(state.nodes[0]!.tail).toEqual(['export TOKEN=[redacted]']);
	});
});

describe('run view honesty (issue 15)', () => {
	const state = (node: string, s: import('../../source/states.js').NodeActivity, detail?: string): RunEvent =>
		event(detail === undefined ? {type: 'node-state', node, state: s} : {type: 'node-state', node, state: s, detail});

	it('rows stay in plan order whichever node speaks first', () => {
		const reduced = [
			state('workerbee-10', 'creating'),
			state('workerbee-2', 'creating'),
			out('workerbee-3', 'x'),
			state('queenbee', 'creating'),
			state('workerbee-1', 'creating'),
		].reduce(reduceRun, initialRunState);
		expect(reduced.nodes.map(n => n.name)).toEqual([
			'queenbee',
			'workerbee-1',
			'workerbee-2',
			'workerbee-3',
			'workerbee-10',
		]);
		const batched = reduceRunBatch(initialRunState, [
			out('workerbee-2', 'a'),
			out('queenbee', 'b'),
			out('workerbee-2', 'c'),
		]);
		expect(batched.nodes.map(n => [n.name, n.lines])).toEqual([
			['queenbee', 1],
			['workerbee-2', 2],
		]);
	});

	it('a cancelled or failed run leaves no node busy, saying what each was doing', () => {
		const events = [
			state('queenbee', 'running', 'SSH ok'),
			state('workerbee-1', 'booting', 'waiting for SSH at 10.0.0.5:22'),
			state('workerbee-2', 'loading', 'loading rethinkdb:2.4.4'),
		];
		const cancelled = [...events, event({type: 'run-cancelled', durationMs: 1, resume: 'swarmbee up demo'})].reduce(
			reduceRun,
			initialRunState,
		);
		expect(cancelled.nodes.map(n => `${n.name} ${n.state}`)).toEqual([
			'queenbee running',
			'workerbee-1 cancelled',
			'workerbee-2 cancelled',
		]);
		expect(cancelled.nodes[1]!.detail).toBe(
			'stopped when the run was cancelled (was booting: waiting for SSH at 10.0.0.5:22)',
		);
		const failed = [
			...events,
			event({type: 'run-failed', durationMs: 1, error: {kind: 'external', message: 'x', nextSteps: []}}),
		].reduce(reduceRun, initialRunState);
		expect(failed.nodes[2]!.detail).toContain('stopped when the run failed (was loading');
	});

	it("a user playbook's pane counts its own tasks, not the previous playbook's", () => {
		const lines = [
			'# playbook swarmbee',
			'ok: [localhost]',
			'changed: [localhost]',
			'changed: [localhost]',
			'# playbook site.yml',
			'TASK [Check] ***',
			'ok: [localhost]',
		].map(l => out('queenbee', l));
		let reduced = reduceRunBatch(initialRunState, lines.slice(0, 4));
		reduced = reduceRun(
			reduced,
			event({
				type: 'node-recap',
				node: 'queenbee',
				step: 'provision',
				playbook: 'swarmbee',
				recap: {ok: 1, changed: 2, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0},
			}),
		);
		reduced = reduceRunBatch(reduced, lines.slice(4));
		expect(reduced.nodes[0]).toMatchObject({
			playbook: 'site.yml',
			recapped: false,
			counters: {...zero, ok: 1},
			task: 'Check',
		});
	});
});
