import type {ErrorInfo} from './errors.js';
import type {NodeActivity, TableActivity} from './states.js';

export type {NodeActivity, TableActivity} from './states.js';

/**
 * The one stream every renderer (plain lines, JSON lines, Ink) is built from.
 * Steps emit; nothing in source/ or steps/ knows how it is shown.
 */
export type RunEvent =
	| {
			type: 'run-started';
			at: string;
			command: string;
			cluster: string;
			provider: string;
			steps: Array<{id: string; title: string}>;
	  }
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
	| {
			type: 'table-progress';
			at: string;
			step: string;
			table: string;
			state: TableActivity;
			detail?: string;
			documents: number;
			bytes: number;
			totalDocuments?: number;
			totalBytes?: number;
	  }
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

export type Emit = (event: RunEvent) => void;

type WithoutAt<T> = T extends unknown ? Omit<T, 'at'> : never;

/** Stamps the time on an event; steps call `emit(event(...))`. */
export function event(partial: WithoutAt<RunEvent>): RunEvent {
	return {...partial, at: new Date().toISOString()} as RunEvent;
}

/**
 * One node's events, the one way steps (and providers) say what a node is
 * doing:
 *
 *     const queenbee = nodeEvents(io.emit, 'queenbee', 'provision');
 *     queenbee.state('provisioning', 'waiting for a free core');
 *     queenbee.output('TASK [Install packages] ***');
 */
export function nodeEvents(emit: Emit, node: string, step = '') {
	return {
		state: (state: NodeActivity, detail?: string) =>
			emit(event(detail === undefined ? {type: 'node-state', node, state} : {type: 'node-state', node, state, detail})),
		output: (line: string, stream: 'stdout' | 'stderr' = 'stdout') =>
			emit(event({type: 'node-output', node, step, stream, line})),
		log: (file: string) => emit(event({type: 'node-log', node, step, file})),
		recap: (playbook: string, recap: PlayRecap) => emit(event({type: 'node-recap', node, step, playbook, recap})),
	};
}

export type NodeEvents = ReturnType<typeof nodeEvents>;
