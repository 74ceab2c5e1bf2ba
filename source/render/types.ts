import type {RunEvent} from '../events.js';

/** Where a run's events are shown. Plain lines, JSON lines, or (in a TTY) Ink. */
export interface Renderer {
	handle(event: RunEvent): void;
	/** Flushes and releases the terminal. */
	close(): Promise<void>;
}
