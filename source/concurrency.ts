import {availableParallelism} from 'node:os';
import {BugError, CancelledError, NodeFailures, isAbort, toSwarmbeeError} from './errors.js';

/** Runs `work` for each item, at most `limit` at a time, collecting every outcome. */
export async function eachLimited<T, R>(
	items: readonly T[],
	limit: number,
	work: (item: T) => Promise<R>,
): Promise<Array<PromiseSettledResult<R>>> {
	const results: Array<PromiseSettledResult<R>> = new Array(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const index = next++;
			try {
				results[index] = {status: 'fulfilled', value: await work(items[index] as T)};
			} catch (reason) {
				results[index] = {status: 'rejected', reason};
			}
		}
	};
	await Promise.all(Array.from({length: Math.min(Math.max(1, limit), items.length)}, worker));
	return results;
}

/** Each item with its result from eachLimited (which returns them in the items' order, one each). */
export function withItems<T, R>(
	items: readonly T[],
	results: ReadonlyArray<PromiseSettledResult<R>>,
): Array<[T, PromiseSettledResult<R>]> {
	return items.flatMap((item, i) => {
		const result = results[i];
		if (!result) throw new BugError(`no result for item ${i} of ${items.length}`);
		return [[item, result]];
	});
}

/**
 * Runs `work` on every node at once (up to `limit`), lets every node finish,
 * then throws one NodeFailures naming each node that failed. Ctrl-C wins over
 * failures: a cancelled run reports as cancelled.
 */
export async function onEveryNode<T extends {name: string}, R>(
	what: string,
	nodes: readonly T[],
	work: (node: T) => Promise<R>,
	options: {limit?: number; signal?: AbortSignal} = {},
): Promise<R[]> {
	const results = await eachLimited(nodes, options.limit ?? 16, work);
	if (options.signal?.aborted || results.some(r => r.status === 'rejected' && isAbort(r.reason)))
		throw new CancelledError();
	const failures = withItems(nodes, results).flatMap(([node, r]) =>
		r.status === 'rejected' ? [{node: node.name, error: toSwarmbeeError(r.reason)}] : [],
	);
	if (failures.length > 0) throw new NodeFailures(what, failures);
	return results.map(r => (r as PromiseFulfilledResult<R>).value);
}

/**
 * How many nodes may do CPU-heavy work (an Ansible run) at once: every node
 * when each is its own machine; as many as this machine has cores when the
 * nodes share them. Measured on 2 cores, provisioning 4 local nodes two at a
 * time took 10 % less wall time and 11 % less CPU than all four at once.
 */
export function cpuHeavyLimit(sharesHostCpus: boolean, cores = availableParallelism()): number {
	return sharesHostCpus ? Math.max(1, cores) : 64;
}

/**
 * Waits `ms`, or throws CancelledError as soon as `signal` aborts (Ctrl-C).
 * Built on the global setTimeout, so tests with fake timers move it.
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal?.aborted) {
			reject(new CancelledError());
			return;
		}
		const onAbort = () => {
			clearTimeout(timer);
			reject(new CancelledError());
		};
		const timer = setTimeout(() => {
			signal?.removeEventListener('abort', onAbort);
			resolve();
		}, ms);
		signal?.addEventListener('abort', onAbort, {once: true});
	});
}

/**
 * `work`, or the error `onTimeout` makes if it has not settled within `ms`
 * (onTimeout may also undo what the wait was for, e.g. drop a connection).
 * The timer goes as soon as `work` settles. Built on the global setTimeout.
 */
export function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
	let timer: NodeJS.Timeout | undefined;
	const timeout = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(onTimeout()), ms);
	});
	return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

interface PollOptions {
	/** The wait between two looks: fixed, or by attempt (0 first) for a backoff. */
	intervalMs: number | ((attempt: number) => number);
	timeoutMs: number;
	signal?: AbortSignal;
	/** The clock and the wait, for callers with their own (a provider's shortened timing in tests); default Date.now and pause. */
	now?: () => number;
	sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** What a poll ended with: the answer that met the condition, or the last one seen when time ran out. */
type Polled<T> = {met: true; value: T} | {met: false; last: T | undefined};

/**
 * The one wait-until-deadline loop: asks `probe`, and again after each
 * interval, until `until` accepts an answer or `timeoutMs` has passed. A
 * probe that throws ends the poll with its error; Ctrl-C ends it as
 * cancelled. The caller says what a timeout means (most throw, with the
 * last answer in the message; some go on).
 */
export async function pollUntil<T>(
	probe: (attempt: number) => Promise<T>,
	until: (answer: T) => boolean,
	options: PollOptions,
): Promise<Polled<T>> {
	const now = options.now ?? Date.now;
	const sleep = options.sleep ?? pause;
	const deadline = now() + options.timeoutMs;
	let last: T | undefined;
	for (let attempt = 0; now() < deadline; attempt++) {
		if (options.signal?.aborted) throw new CancelledError();
		last = await probe(attempt);
		if (until(last)) return {met: true, value: last};
		await sleep(
			typeof options.intervalMs === 'function' ? options.intervalMs(attempt) : options.intervalMs,
			options.signal,
		);
	}
	return {met: false, last};
}
