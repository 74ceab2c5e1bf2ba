import {useEffect, useRef, useState} from 'react';
import type {RunEvent} from '../source/events.js';
import type {RunEventSource} from './event-source.js';
import {initialRunState, reduceRunBatch, type RunViewState} from './run-state.js';

/**
 * About 10 renders a second, however fast events come (Gatsby's reporter
 * throttles the same way). A little over 100 ms, so the mount, the final
 * frame and <Static>'s own re-render after new lines still keep a run
 * under 10 a second (see bench/render-flood).
 */
const RENDER_INTERVAL_MS = 110;

interface RunViewClock {
	state: RunViewState;
	/** Advances once per flush: drives every spinner, so spinners add no renders of their own. */
	frame: number;
	/** When the last flush happened, for elapsed times. */
	now: number;
}

/**
 * Subscribes to a run's events and reduces them in batches: events are
 * buffered and applied once per tick, so a node printing 10,000 lines a
 * second still costs about 10 renders a second. The same tick moves the
 * spinners. It stops ticking once the run has an outcome and nothing is
 * buffered. `source.drain` flushes at once (used on close).
 */
export function useRunEvents(source: RunEventSource, intervalMs = RENDER_INTERVAL_MS): RunViewClock {
	const [clock, setClock] = useState<RunViewClock>({state: initialRunState, frame: 0, now: Date.now()});
	const buffer = useRef<RunEvent[]>([]);
	const finished = useRef(false);

	useEffect(() => {
		const flush = (force: boolean) => {
			const events = buffer.current;
			if (events.length === 0 && (finished.current || !force)) return;
			buffer.current = [];
			setClock(previous => {
				const state = events.length > 0 ? reduceRunBatch(previous.state, events) : previous.state;
				finished.current = state.outcome !== undefined;
				return {state, frame: previous.frame + 1, now: Date.now()};
			});
		};
		const unsubscribe = source.subscribe(events => {
			for (const e of events) buffer.current.push(e);
		});
		const stopDrain = source.onDrain(() => flush(false));
		const timer = setInterval(() => flush(true), intervalMs);
		return () => {
			clearInterval(timer);
			unsubscribe();
			stopDrain();
		};
	}, [source, intervalMs]);
	// After the commit (so Ink has the frame): tells a closing renderer what is on screen.
	useEffect(() => {
		source.committed(clock.state.seen);
	}, [source, clock.state.seen]);
	return clock;
}
