import {errorInfo, exitCodeFor, isAbort, toSwarmbeeError, type SwarmbeeError} from '../errors.js';
import {event, type Emit} from '../events.js';
import type {JournalHandle} from '../store/cluster-store.js';
import {stepIO, type Step} from '../../steps/types.js';

interface RunOptions {
	command: string;
	cluster: string;
	provider: string;
	emit: Emit;
	signal: AbortSignal;
	/** The command that picks up where an interrupted run stopped. */
	resume: string;
	/** Where step records go; every change is on disk before the next line. */
	journal?: JournalHandle;
	/** Called after each step succeeds, before the next starts. */
	afterStep?: (step: string) => void;
}

export type RunOutcome =
	| {outcome: 'done'; changed: boolean; durationMs: number}
	| {outcome: 'failed'; error: SwarmbeeError; step: string; durationMs: number}
	| {outcome: 'cancelled'; step?: string; durationMs: number};

/** A run's exit code: 0 done, 130 cancelled, and a failure's as exitCodeFor says (2 bad input, 1 otherwise). */
export function exitCode(outcome: RunOutcome): number {
	if (outcome.outcome === 'done') return 0;
	if (outcome.outcome === 'cancelled') return 130;
	return exitCodeFor(outcome.error);
}

/**
 * Runs steps in order, turning each into started → finished | failed |
 * cancelled events and journal records. The first failure stops the run
 * (steps collect per-node failures themselves, so siblings finish first).
 */
export async function runSteps<C>(steps: Array<Step<C>>, ctx: C, options: RunOptions): Promise<RunOutcome> {
	const {emit, signal, journal} = options;
	const started = Date.now();
	let changed = false;
	const earlier: Array<{step: string; changed: boolean}> = [];
	emit(
		event({
			type: 'run-started',
			command: options.command,
			cluster: options.cluster,
			provider: options.provider,
			steps: steps.map(s => ({id: s.id, title: s.title})),
		}),
	);
	const cancelled = (step?: string): RunOutcome => {
		const durationMs = Date.now() - started;
		emit(event({type: 'run-cancelled', durationMs, resume: options.resume}));
		return {outcome: 'cancelled', step, durationMs};
	};
	for (const step of steps) {
		if (signal.aborted) return cancelled();
		const stepStarted = Date.now();
		const startedAt = new Date(stepStarted).toISOString();
		journal?.update(j => {
			j.steps[step.id] = {status: 'running', startedAt};
		});
		emit(event({type: 'step-started', step: step.id, title: step.title}));
		try {
			const result = await step.run(ctx, stepIO(step.id, emit, signal, [...earlier]));
			if (signal.aborted) throw new Error('aborted');
			changed ||= result.changed;
			earlier.push({step: step.id, changed: result.changed});
			const durationMs = Date.now() - stepStarted;
			journal?.update(j => {
				j.steps[step.id] = {status: 'done', startedAt, finishedAt: new Date().toISOString(), summary: result.summary};
			});
			options.afterStep?.(step.id);
			emit(event({type: 'step-finished', step: step.id, durationMs, changed: result.changed, summary: result.summary}));
		} catch (error) {
			const durationMs = Date.now() - stepStarted;
			if (isAbort(error, signal)) {
				journal?.update(j => {
					j.steps[step.id] = {status: 'cancelled', startedAt, finishedAt: new Date().toISOString()};
				});
				emit(event({type: 'step-cancelled', step: step.id, durationMs}));
				return cancelled(step.id);
			}
			const failure = toSwarmbeeError(error);
			const info = errorInfo(failure);
			journal?.update(j => {
				j.steps[step.id] = {status: 'failed', startedAt, finishedAt: new Date().toISOString(), error: info};
			});
			emit(event({type: 'step-failed', step: step.id, durationMs, error: info}));
			emit(event({type: 'run-failed', durationMs: Date.now() - started, error: info}));
			return {outcome: 'failed', error: failure, step: step.id, durationMs: Date.now() - started};
		}
	}
	const durationMs = Date.now() - started;
	emit(
		event({type: 'run-finished', durationMs, changed, summary: changed ? 'every step finished' : 'nothing changed'}),
	);
	return {outcome: 'done', changed, durationMs};
}
