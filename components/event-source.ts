import type {RunEvent} from '../source/events.js';

/**
 * The seam between a Renderer (pushed to by the orchestrator) and the Ink
 * tree (which subscribes). Events pushed before anyone subscribes are kept
 * and handed to the first subscriber, so nothing is lost while Ink mounts.
 */
export class RunEventSource {
	private readonly listeners = new Set<(events: RunEvent[]) => void>();
	private readonly drainers = new Set<() => void>();
	private pending: RunEvent[] = [];
	private pushed = 0;
	private shown = 0;
	private waiters: Array<() => void> = [];

	push(event: RunEvent): void {
		this.pushed++;
		if (this.listeners.size === 0) {
			this.pending.push(event);
			return;
		}
		for (const listener of this.listeners) listener([event]);
	}

	subscribe(listener: (events: RunEvent[]) => void): () => void {
		this.listeners.add(listener);
		if (this.pending.length > 0) {
			const backlog = this.pending;
			this.pending = [];
			listener(backlog);
		}
		return () => {
			this.listeners.delete(listener);
		};
	}

	/**
	 * Asks subscribers to apply what they buffered now, and resolves once the
	 * view has committed every event pushed so far (or after `timeoutMs`, so
	 * closing never hangs on a view that is gone).
	 */
	async drain(timeoutMs = 1_000): Promise<void> {
		for (const drainer of this.drainers) drainer();
		if (this.shown >= this.pushed || this.drainers.size === 0) return;
		await new Promise<void>(resolve => {
			const timer = setTimeout(resolve, timeoutMs);
			this.waiters.push(() => {
				clearTimeout(timer);
				resolve();
			});
		});
	}

	/** The view reports how many events its committed state includes. */
	committed(count: number): void {
		this.shown = count;
		if (this.shown < this.pushed) return;
		const waiters = this.waiters;
		this.waiters = [];
		for (const wake of waiters) wake();
	}

	onDrain(drainer: () => void): () => void {
		this.drainers.add(drainer);
		return () => {
			this.drainers.delete(drainer);
		};
	}
}
