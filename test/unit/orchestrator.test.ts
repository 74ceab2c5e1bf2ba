import {describe, expect, it} from 'vitest';
import {ExternalError, InputError} from '../../source/errors.js';
import type {RunEvent} from '../../source/events.js';
import {exitCode, runSteps} from '../../source/run/orchestrator.js';
import type {Step} from '../../steps/types.js';

function collect() {
	const events: RunEvent[] = [];
	return {events, emit: (e: RunEvent) => events.push(e)};
}

const ok = (id: string, changed = false): Step<object> => ({
	id,
	title: id,
	run: async () => ({changed, summary: `${id} ok`}),
});

describe('runSteps', () => {
	it('runs steps in order and says whether anything changed', async () => {
		const {events, emit} = collect();
		const result = await runSteps(
			[ok('a'), ok('b', true)],
			{},
			{command: 'up', cluster: 'c', provider: 'local', emit, signal: new AbortController().signal, resume: 'r'},
		);
		expect(result).toMatchObject({outcome: 'done', changed: true});
		expect(events.map(e => e.type)).toEqual([
			'run-started',
			'step-started',
			'step-finished',
			'step-started',
			'step-finished',
			'run-finished',
		]);
	});

	it('stops at the first failure and carries its fix', async () => {
		const {events, emit} = collect();
		const failing: Step<object> = {
			id: 'b',
			title: 'b',
			run: async () => {
				throw new ExternalError('broke', {nextSteps: ['fix it']});
			},
		};
		const never: Step<object> = {
			id: 'c',
			title: 'c',
			run: async () => {
				throw new Error('must not run');
			},
		};
		const result = await runSteps(
			[ok('a'), failing, never],
			{},
			{command: 'up', cluster: 'c', provider: 'local', emit, signal: new AbortController().signal, resume: 'r'},
		);
		expect(result.outcome).toBe('failed');
		const failed = events.find(e => e.type === 'step-failed');
		expect(failed).toMatchObject({step: 'b', error: {message: 'broke', nextSteps: ['fix it']}});
		expect(events.at(-1)?.type).toBe('run-failed');
	});

	it('turns an abort into a cancelled run with the resume command', async () => {
		const {events, emit} = collect();
		const controller = new AbortController();
		const slow: Step<object> = {
			id: 'slow',
			title: 'slow',
			run: async (_ctx, io) =>
				new Promise((_resolve, reject) => {
					io.signal.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), {name: 'AbortError'})));
					// Ctrl-C while the step runs.
					controller.abort();
				}),
		};
		const result = await runSteps(
			[slow, ok('after')],
			{},
			{command: 'up', cluster: 'c', provider: 'local', emit, signal: controller.signal, resume: 'swarmbee up c'},
		);
		expect(result.outcome).toBe('cancelled');
		expect(events.at(-1)).toMatchObject({type: 'run-cancelled', resume: 'swarmbee up c'});
		expect(events.some(e => e.type === 'step-started' && e.step === 'after')).toBe(false);
	});

	it('calls afterStep only for steps that succeeded', async () => {
		const seen: string[] = [];
		const failing: Step<object> = {
			id: 'bad',
			title: 'bad',
			run: async () => {
				throw new Error('x');
			},
		};
		await runSteps(
			[ok('a'), failing],
			{},
			{
				command: 'up',
				cluster: 'c',
				provider: 'local',
				emit: () => {},
				signal: new AbortController().signal,
				resume: 'r',
				afterStep: s => seen.push(s),
			},
		);
		expect(seen).toEqual(['a']);
	});
});

describe('exitCode', () => {
	it("is the one mapping of a run's outcome: 0 done, 130 cancelled, 2 bad input, 1 any other failure", () => {
		expect(exitCode({outcome: 'done', changed: false, durationMs: 1})).toBe(0);
		expect(exitCode({outcome: 'cancelled', durationMs: 1})).toBe(130);
		expect(exitCode({outcome: 'failed', step: 'preflight', durationMs: 1, error: new InputError('bad')})).toBe(2);
		expect(exitCode({outcome: 'failed', step: 'machines', durationMs: 1, error: new ExternalError('down')})).toBe(1);
	});
});
