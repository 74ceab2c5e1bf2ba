import type {ErrorInfo} from '../source/errors.js';
import type {PlayRecap, RunEvent} from '../source/events.js';
import type {NodeActivity, StepState, TableActivity} from '../source/states.js';
import {redact} from '../source/redact.js';
import {eventLine} from '../source/render/format.js';
import {describeTableProgress} from '../source/render/table-progress.js';

/**
 * The run view's state, derived by one reducer from the RunEvent stream
 * (cdktf's useCdktfProject, listr2's task events). Components only read it.
 * Pure: no React, so the reducer is tested and benchmarked on its own.
 */
export interface RunViewState {
	command?: string;
	cluster?: string;
	provider?: string;
	steps: StepView[];
	nodes: NodeView[];
	/** Lines for `<Static>`: written once, above the live region, never redrawn. */
	finished: FinishedLine[];
	outcome?: RunOutcomeView;
	rateLimit?: {limit: number; remaining: number};
	/** Events reduced so far; keys Static lines. */
	seen: number;
	/** Tables of a backup or restore, in the order they first showed up. */
	tables?: TableView[];
}

/** One table of a backup or restore, as its latest table-progress event has it. */
export interface TableView {
	name: string;
	step: string;
	state: TableActivity;
	detail?: string;
	documents: number;
	bytes: number;
	totalDocuments?: number;
	totalBytes?: number;
}

export interface StepView {
	id: string;
	title: string;
	status: StepState;
	/** Epoch ms, for the live elapsed time. */
	startedAt?: number;
	durationMs?: number;
	summary?: string;
	/** The latest progress message of a running step. */
	progress?: string;
}

interface AnsibleCounters {
	ok: number;
	changed: number;
	failed: number;
	unreachable: number;
	skipped: number;
	ignored: number;
}

export interface NodeView {
	name: string;
	state: NodeActivity;
	detail?: string;
	/** The last lines of the node's current step (bounded: the full log is in `logFile`). */
	tail: string[];
	/** Lines seen in total, including those that scrolled out of the tail. */
	lines: number;
	/** The step the output belongs to (e.g. provision). */
	step?: string;
	/** Live counts parsed from Ansible lines; replaced by the recap when it arrives. */
	counters: AnsibleCounters;
	/** True once the PLAY RECAP arrived: the counters are Ansible's own. */
	recapped: boolean;
	/** The task Ansible is running (`TASK [Install packages]`). */
	task?: string;
	/** The playbook the counters are of (ours is `swarmbee`, then the user's). */
	playbook?: string;
	logFile?: string;
}

export interface FinishedLine {
	key: string;
	text: string;
	tone: 'title' | 'done' | 'failed' | 'cancelled' | 'note' | 'warning';
}

type RunOutcomeView =
	| {kind: 'done'; durationMs: number; summary: string}
	| {kind: 'failed'; durationMs: number; error: ErrorInfo}
	| {kind: 'cancelled'; durationMs: number; resume: string};

/** How many lines of each node's output the view keeps (an expanded pane shows up to this). */
export const TAIL_LINES = 50;

export const initialRunState: RunViewState = {steps: [], nodes: [], finished: [], seen: 0};

const ZERO: AnsibleCounters = {ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, ignored: 0};

const TASK_LINE = /^(?:TASK|RUNNING HANDLER) \[(.+?)\]/;
/** The provision step's line before each playbook (`# playbook site.yml`). */
const PLAYBOOK_LINE = /^# playbook (\S+)/;
const RESULT_LINE = /^(ok|changed|skipping|failed|fatal): \[/;

/**
 * Counts one Ansible output line the way the PLAY RECAP will:
 *
 *     ok: [localhost]                         → ok + 1
 *     changed: [localhost]                    → changed + 1
 *     fatal: [localhost]: FAILED! => {…}      → failed + 1
 *     fatal: [localhost]: UNREACHABLE! => {…} → unreachable + 1
 *     ...ignoring                             → the last failure was ignored
 */
export function countAnsibleLine(counters: AnsibleCounters, line: string): AnsibleCounters {
	const next = {...counters};
	countInto(next, line);
	return next;
}

/** countAnsibleLine in place, for the batch path (one counters copy per node per batch, not per line). */
function countInto(c: AnsibleCounters, line: string): void {
	const match = RESULT_LINE.exec(line);
	if (match) {
		const word = match[1];
		if (word === 'ok') c.ok++;
		else if (word === 'changed') c.changed++;
		else if (word === 'skipping') c.skipped++;
		else if (line.includes('UNREACHABLE!')) c.unreachable++;
		else c.failed++;
	} else if (line.startsWith('...ignoring') && c.failed > 0) {
		c.failed--;
		c.ignored++;
	}
}

function fromRecap(recap: PlayRecap): AnsibleCounters {
	return {
		ok: recap.ok,
		changed: recap.changed,
		failed: recap.failed,
		unreachable: recap.unreachable,
		skipped: recap.skipped,
		ignored: recap.ignored,
	};
}

/** Plan order, whichever node spoke first: queenbee, workerbee-1, workerbee-2, … workerbee-10. */
function byPlan(a: {name: string}, b: {name: string}): number {
	return a.name.localeCompare(b.name, 'en', {numeric: true});
}

function updateNode(state: RunViewState, name: string, change: (node: NodeView) => NodeView): NodeView[] {
	const index = state.nodes.findIndex(n => n.name === name);
	if (index === -1)
		return [...state.nodes, change({name, state: 'pending', tail: [], lines: 0, counters: ZERO, recapped: false})].sort(
			byPlan,
		);
	const nodes = state.nodes.slice();
	nodes[index] = change(nodes[index]!);
	return nodes;
}

function updateStep(state: RunViewState, id: string, change: (step: StepView) => StepView): StepView[] {
	const known = state.steps.some(s => s.id === id);
	const steps = known ? state.steps : [...state.steps, {id, title: id, status: 'pending' as const}];
	return steps.map(s => (s.id === id ? change(s) : s));
}

/** The lasting line of an event, in the plain renderer's words. */
function said(state: RunViewState, e: RunEvent): string {
	return eventLine(e, id => state.steps.find(s => s.id === id)?.title ?? id) ?? '';
}

/**
 * The one reducer. Every line of text it keeps is redacted, so no secret
 * reaches the screen whatever a node prints.
 */
export function reduceRun(state: RunViewState, e: RunEvent): RunViewState {
	const seen = state.seen + 1;
	const line = (text: string, tone: FinishedLine['tone']): FinishedLine => ({key: `${seen}`, text: redact(text), tone});
	switch (e.type) {
		case 'run-started':
			return {
				...state,
				seen,
				command: e.command,
				cluster: e.cluster,
				provider: e.provider,
				steps: e.steps.map(s => ({id: s.id, title: s.title, status: 'pending'})),
				finished: [...state.finished, line(said(state, e), 'title')],
			};
		case 'step-started':
			return {
				...state,
				seen,
				steps: updateStep(state, e.step, s => ({
					...s,
					title: e.title,
					status: 'running',
					startedAt: Date.parse(e.at),
					progress: undefined,
				})),
			};
		case 'step-progress':
			return {...state, seen, steps: updateStep(state, e.step, s => ({...s, progress: redact(e.message)}))};
		case 'step-finished':
			return {
				...state,
				seen,
				steps: updateStep(state, e.step, s => ({
					...s,
					status: 'done',
					durationMs: e.durationMs,
					summary: redact(e.summary),
					progress: undefined,
				})),
				finished: [...state.finished, line(said(state, e), 'done')],
			};
		case 'step-failed':
			return {
				...state,
				seen,
				steps: updateStep(state, e.step, s => ({
					...s,
					status: 'failed',
					durationMs: e.durationMs,
					progress: undefined,
				})),
				finished: [...state.finished, line(said(state, e), 'failed')],
			};
		case 'step-cancelled':
			return {
				...state,
				seen,
				steps: updateStep(state, e.step, s => ({
					...s,
					status: 'cancelled',
					durationMs: e.durationMs,
					progress: undefined,
				})),
				finished: [...state.finished, line(said(state, e), 'cancelled')],
			};
		case 'node-state':
			return {
				...state,
				seen,
				nodes: updateNode(state, e.node, n => ({
					...n,
					state: e.state,
					detail: e.detail === undefined ? undefined : redact(e.detail),
				})),
			};
		case 'node-output':
			return appendOutput({...state, seen}, [e]);
		case 'node-log':
			return {
				...state,
				seen,
				nodes: updateNode(state, e.node, n => ({...n, logFile: e.file})),
				finished: [...state.finished, line(said(state, e), 'note')],
			};
		case 'node-recap': {
			const r = e.recap;
			return {
				...state,
				seen,
				nodes: updateNode(state, e.node, n => ({...n, counters: fromRecap(r), recapped: true})),
				finished: [...state.finished, line(said(state, e), r.failed + r.unreachable > 0 ? 'failed' : 'note')],
			};
		}
		case 'rate-limit':
			return {...state, seen, rateLimit: {limit: e.limit, remaining: e.remaining}};
		case 'table-progress': {
			const view: TableView = {
				name: e.table,
				step: e.step,
				state: e.state,
				detail: e.detail,
				documents: e.documents,
				bytes: e.bytes,
				totalDocuments: e.totalDocuments,
				totalBytes: e.totalBytes,
			};
			const tables = state.tables ?? [];
			const index = tables.findIndex(t => t.name === e.table);
			const wasDone = index >= 0 && tables[index]!.state !== 'running' && tables[index]!.step === e.step;
			const next = index === -1 ? [...tables, view] : tables.map((t, i) => (i === index ? view : t));
			// A table's end is said once, above the live region.
			const finished =
				e.state !== 'running' && !wasDone
					? [
							...state.finished,
							line(
								`  ${e.state === 'done' ? '✔' : '✖'} ${describeTableProgress(e)}`,
								e.state === 'done' ? 'note' : 'failed',
							),
						]
					: state.finished;
			return {...state, seen, tables: next, finished};
		}
		case 'warning':
			return {...state, seen, finished: [...state.finished, line(said(state, e), 'warning')]};
		case 'run-finished':
			return {...state, seen, outcome: {kind: 'done', durationMs: e.durationMs, summary: redact(e.summary)}};
		case 'run-failed':
			return {
				...state,
				seen,
				nodes: settleNodes(state.nodes, 'when the run failed'),
				outcome: {kind: 'failed', durationMs: e.durationMs, error: e.error},
			};
		case 'run-cancelled':
			return {
				...state,
				seen,
				nodes: settleNodes(state.nodes, 'when the run was cancelled'),
				outcome: {kind: 'cancelled', durationMs: e.durationMs, resume: e.resume},
			};
	}
}

type OutputEvent = Extract<RunEvent, {type: 'node-output'}>;

/**
 * Adds node output lines, many at a time: each node's tail, counters and
 * task are updated in place on one copy per batch instead of one copy per
 * line, which is what keeps a flood of Ansible output cheap (see
 * bench/render-flood).
 */
function appendOutput(state: RunViewState, events: readonly OutputEvent[]): RunViewState {
	const nodes = state.nodes.slice();
	// Copied once per batch, by name (a new node sorts in and moves the others).
	const copied = new Set<string>();
	for (const e of events) {
		let index = nodes.findIndex(n => n.name === e.node);
		if (index === -1) {
			nodes.push({name: e.node, state: 'pending', tail: [], lines: 0, counters: ZERO, recapped: false});
			nodes.sort(byPlan);
			index = nodes.findIndex(n => n.name === e.node);
		}
		let node = nodes[index]!;
		if (!copied.has(node.name)) {
			node = {...node, tail: node.tail.slice(), counters: {...node.counters}};
			nodes[index] = node;
			copied.add(node.name);
		}
		if (node.step !== e.step) {
			Object.assign(node, {
				step: e.step,
				tail: [],
				lines: 0,
				counters: {...ZERO},
				recapped: false,
				task: undefined,
				playbook: undefined,
			});
		}
		const text = redact(e.line);
		// The provision step runs ours, then the user's playbook: each starts its own counts.
		const playbook = PLAYBOOK_LINE.exec(text)?.[1];
		if (playbook !== undefined) Object.assign(node, {counters: {...ZERO}, recapped: false, task: undefined, playbook});
		node.tail.push(text);
		// Trim in bulk rather than shifting on every line.
		if (node.tail.length >= TAIL_LINES * 2) node.tail.splice(0, node.tail.length - TAIL_LINES);
		node.lines++;
		if (!node.recapped) countInto(node.counters, text);
		if (text.startsWith('TASK') || text.startsWith('RUNNING')) {
			const task = TASK_LINE.exec(text)?.[1];
			if (task) node.task = task;
		}
	}
	for (const node of nodes) {
		if (copied.has(node.name) && node.tail.length > TAIL_LINES) node.tail.splice(0, node.tail.length - TAIL_LINES);
	}
	return {...state, nodes};
}

const BUSY: ReadonlySet<NodeActivity> = new Set([
	'pending',
	'creating',
	'booting',
	'retrying',
	'loading',
	'starting',
	'joining',
	'provisioning',
	'deleting',
	'draining',
	'restarting',
	'upgrading',
	'stopping',
]);

/**
 * A run that stopped leaves no node spinning as if still at work: a busy
 * node is shown cancelled, saying what it was doing.
 *
 *     ■ workerbee-2  cancelled  stopped when the run was cancelled (was booting: waiting for SSH at 10.0.0.5:22)
 */
function settleNodes(nodes: NodeView[], when: string): NodeView[] {
	return nodes.map(n =>
		BUSY.has(n.state) && n.state !== 'pending'
			? {...n, state: 'cancelled', detail: `stopped ${when} (was ${n.state}${n.detail ? `: ${n.detail}` : ''})`}
			: n,
	);
}

/** Applies a batch of events at once: one state change, one render. */
export function reduceRunBatch(state: RunViewState, events: readonly RunEvent[]): RunViewState {
	let next = state;
	let outputs: OutputEvent[] = [];
	for (const e of events) {
		if (e.type === 'node-output') {
			outputs.push(e);
			continue;
		}
		if (outputs.length > 0) {
			next = appendOutput({...next, seen: next.seen + outputs.length}, outputs);
			outputs = [];
		}
		next = reduceRun(next, e);
	}
	if (outputs.length > 0) next = appendOutput({...next, seen: next.seen + outputs.length}, outputs);
	return next;
}

/** Nodes worth a pane: those with output, failed ones first kept in plan order. */
export function nodesWithOutput(state: RunViewState): NodeView[] {
	return state.nodes.filter(n => n.lines > 0);
}
