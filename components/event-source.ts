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

	push(event: RunEvent): void {
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

	/** Asks subscribers to apply what they buffered now (before the view closes). */
	drain(): void {
		for (const drainer of this.drainers) drainer();
	}

	onDrain(drainer: () => void): () => void {
		this.drainers.add(drainer);
		return () => {
			this.drainers.delete(drainer);
		};
	}
}
