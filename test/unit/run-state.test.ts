import {describe, expect, it} from 'vitest';
import {countAnsibleLine, initialRunState, reduceRun, reduceRunBatch, TAIL_LINES} from '../../components/run-state.js';
import {event, type RunEvent} from '../../source/events.js';
import {registerSecret} from '../../source/redact.js';

const out = (node: string, line: string, step = 'provision'): RunEvent => event({type: 'node-output', node, step, stream: 'stdout', line});
const zero = {ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, ignored: 0};

describe('run view reducer', () => {
	it('counts Ansible result lines as the PLAY RECAP will', () => {
		let c = zero;
		for (const line of ['ok: [localhost]', 'changed: [localhost] => (item=x)', 'skipping: [localhost]', 'fatal: [localhost]: FAILED! => {}', '...ignoring', 'fatal: [localhost]: UNREACHABLE! => {}', 'TASK [x] ***', 'failed: [localhost] (item=y)']) {
			c = countAnsibleLine(c, line);
		}
		expect(c).toEqual({ok: 1, changed: 1, skipped: 1, failed: 1, ignored: 1, unreachable: 1});
	});

	it('batches give the same state as one event at a time', () => {
		const events = [out('a', 'TASK [Install] ***'), out('a', 'ok: [localhost]'), out('b', 'changed: [localhost]'), event({type: 'node-state', node: 'a', state: 'ready'}), out('a', 'ok: [localhost]')];
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
		state = reduceRun(state, event({type: 'node-recap', node: 'a', step: 'provision', recap: {ok: 7, changed: 3, unreachable: 0, failed: 0, skipped: 1, rescued: 0, ignored: 0}}));
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
