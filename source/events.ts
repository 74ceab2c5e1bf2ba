import type {ErrorInfo} from './errors.js';

/**
 * The one stream every renderer (plain lines, JSON lines, Ink) is built from.
 * Steps emit; nothing in source/ or steps/ knows how it is shown.
 */
export type RunEvent =
	| {type: 'run-started'; at: string; command: string; cluster: string; provider: string; steps: Array<{id: string; title: string}>}
	| {type: 'step-started'; at: string; step: string; title: string}
	| {type: 'step-progress'; at: string; step: string; message: string}
	| {type: 'step-finished'; at: string; step: string; durationMs: number; changed: boolean; summary: string}
	| {type: 'step-failed'; at: string; step: string; durationMs: number; error: ErrorInfo}
	| {type: 'step-cancelled'; at: string; step: string; durationMs: number}
	| {type: 'node-state'; at: string; node: string; state: NodeActivity; detail?: string}
	| {type: 'node-output'; at: string; node: string; step: string; stream: 'stdout' | 'stderr'; line: string}
	/** Where the full log of one node's step is kept (the live view shows only a tail). */
	| {type: 'node-log'; at: string; node: string; step: string; file: string}
	/** Ansible's PLAY RECAP for one node. */
	| {type: 'node-recap'; at: string; node: string; step: string; playbook?: string; recap: PlayRecap}
	/** A cloud API's remaining request budget, after each response. */
	| {type: 'rate-limit'; at: string; limit: number; remaining: number; resetAt: string}
	/** One table of a backup or restore: documents and bytes so far, out of the totals when known. */
	| {type: 'table-progress'; at: string; step: string; table: string; state: TableActivity; detail?: string; documents: number; bytes: number; totalDocuments?: number; totalBytes?: number}
	| {type: 'warning'; at: string; message: string}
	| {type: 'run-finished'; at: string; durationMs: number; changed: boolean; summary: string}
	| {type: 'run-failed'; at: string; durationMs: number; error: ErrorInfo}
	| {type: 'run-cancelled'; at: string; durationMs: number; resume: string};

/** Counts from one host's line of Ansible's PLAY RECAP. */
export interface PlayRecap {
	ok: number;
	changed: number;
	unreachable: number;
	failed: number;
	skipped: number;
	rescued: number;
	ignored: number;
}

/**
 * A node's activity in this run, the awkward states included:
 * pending → creating → booting → ready, or retrying / failed / cancelled.
 */
export type NodeActivity =
	| 'pending'
	| 'creating'
	| 'booting'
	| 'retrying'
	| 'running'
	| 'joining'
	| 'provisioning'
	| 'ready'
	| 'failed'
	| 'cancelled'
	| 'deleting'
	| 'deleted';

/** A table's part in a backup or restore. */
export type TableActivity = 'running' | 'done' | 'failed';

export type Emit = (event: RunEvent) => void;

type WithoutAt<T> = T extends unknown ? Omit<T, 'at'> : never;

/** Stamps the time on an event; steps call `emit(event(...))`. */
export function event(partial: WithoutAt<RunEvent>): RunEvent {
	return {...partial, at: new Date().toISOString()} as RunEvent;
}

/** Fans one event out to several listeners (renderer, log file, test probe). */
export function fanOut(...listeners: Emit[]): Emit {
	return e => {
		for (const listener of listeners) listener(e);
	};
}
