import type {DashboardSnapshot} from '../source/observe/dashboard-data.js';
import type {HealthProblem} from '../source/observe/live-health.js';
import {counted} from '../source/render/format.js';
import type {TunnelStatus} from '../source/tunnel/types.js';

/**
 * What the dashboard remembers across refreshes, for the session: each
 * node's CPU and memory history (the sparklines) and the event line
 * ("workerbee-1 stopped 18:32:54", "workerbee-1 back 18:33:50"). Derived
 * from snapshots and tunnel statuses by the pure functions below; kept in an
 * object that outlives one mount of the dashboard (an `s` hand-over
 * unmounts it).
 */
export interface DashboardEvent {
	/** ISO time. */
	at: string;
	text: string;
	tone: 'bad' | 'good' | 'info';
}

export interface NodeHistory {
	/** Shares 0-1, oldest first. */
	cpu: number[];
	memory: number[];
}

export interface DashboardMemory {
	history: Record<string, NodeHistory>;
	/** Newest last. */
	events: DashboardEvent[];
	/** The problems of the previous snapshot; undefined before the first. */
	problems?: HealthProblem[];
	tunnel?: TunnelStatus['state'];
}

/** Samples kept per node: 5 minutes at the default refresh. */
export const HISTORY_SAMPLES = 60;
const EVENTS_KEPT = 100;

export const emptyMemory = (): DashboardMemory => ({history: {}, events: []});

function push(values: number[], value: number | null | undefined): number[] {
	if (value === null || value === undefined || !Number.isFinite(value)) return values;
	const next = [...values, value];
	return next.length > HISTORY_SAMPLES ? next.slice(-HISTORY_SAMPLES) : next;
}

const key = (p: HealthProblem) => `${p.subject}\u0000${p.says}`;

/**
 * A new snapshot: each node's figures join its history, and what changed
 * in the headline's problems becomes events (a problem that appears, and
 * "<subject> back" when its subject has no problem any more).
 */
export function rememberSnapshot(memory: DashboardMemory, snapshot: DashboardSnapshot): DashboardMemory {
	const history = {...memory.history};
	for (const [node, usage] of Object.entries(snapshot.usage)) {
		const before = history[node] ?? {cpu: [], memory: []};
		history[node] = {
			cpu: push(before.cpu, usage?.cpu),
			memory: push(before.memory, usage?.memory ? usage.memory.used / usage.memory.total : null),
		};
	}
	const problems = snapshot.health.problems;
	const events = [...memory.events];
	if (memory.problems) {
		const before = new Set(memory.problems.map(key));
		const now = new Set(problems.map(key));
		for (const p of problems)
			if (!before.has(key(p))) events.push({at: snapshot.at, text: `${p.subject} ${p.says}`, tone: 'bad'});
		const subjectsNow = new Set(problems.map(p => p.subject));
		const gone = [
			...new Set(memory.problems.filter(p => !now.has(key(p)) && !subjectsNow.has(p.subject)).map(p => p.subject)),
		];
		for (const subject of gone) events.push({at: snapshot.at, text: `${subject} back`, tone: 'good'});
	} else {
		events.push({
			at: snapshot.at,
			text: problems.length === 0 ? 'watching: all ready' : `watching: ${counted(problems.length, 'problem')}`,
			tone: problems.length === 0 ? 'good' : 'bad',
		});
	}
	return {...memory, history, problems, events: events.slice(-EVENTS_KEPT)};
}

/** The tunnel opening and closing are events too. */
export function rememberTunnel(memory: DashboardMemory, statuses: TunnelStatus[], at: string): DashboardMemory {
	// "connecting" lasts a moment and says nothing a user acts on; the rest is worth a line.
	const state = statuses[0]?.state === 'connecting' ? memory.tunnel : statuses[0]?.state;
	if (state === memory.tunnel) return memory;
	const words: Record<TunnelStatus['state'], string> = {
		connecting: 'tunnel connecting',
		open: 'tunnel open',
		reconnecting: 'tunnel reconnecting',
		closed: 'tunnel closed',
	};
	const event: DashboardEvent | undefined = state
		? {at, text: words[state], tone: state === 'reconnecting' ? 'bad' : 'info'}
		: undefined;
	return {...memory, tunnel: state, events: event ? [...memory.events, event].slice(-EVENTS_KEPT) : memory.events};
}

/** `18:32:54` */
export function clock(at: string): string {
	return new Date(at).toLocaleTimeString('en-GB', {hour12: false});
}
