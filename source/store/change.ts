import {counted} from '../render/format.js';
import type {JournalHandle} from './cluster-store.js';
import type {ChangeRecord, Journal} from './journal.js';

/**
 * A cluster change (a scale) as the journal keeps it from before it starts
 * until the run that finishes it: what `status` and the dashboard say about
 * one that was interrupted, and what `up` does with it.
 */

/** `scale to 1 worker` */
export function describeChange(change: ChangeRecord): string {
	return `scale to ${counted(change.workers, 'worker')}`;
}

/** A change as `status` shows it: interrupted (nothing works on it now) or in progress (a run holds the cluster). */
export interface ChangeStatus extends ChangeRecord {
	interrupted: boolean;
	/** `scale to 1 worker interrupted (swarmbee up demo continues it)` */
	says: string;
}

/**
 * The change a journal holds, with whether it was interrupted: it is in
 * progress while the process that holds the cluster's lock (`running`, its
 * command) is alive.
 */
export function changeStatus(journal: Readonly<Journal>, running: string | undefined): ChangeStatus | undefined {
	const change = pendingChange(journal);
	if (!change) return undefined;
	const what = describeChange(change);
	const leaving = change.leaving.length > 0 ? `, removing ${change.leaving.join(', ')}` : '';
	return {
		...change,
		interrupted: running === undefined,
		says:
			running === undefined
				? `${what} interrupted${leaving} (swarmbee up ${journal.cluster} continues it)`
				: `${what} in progress${leaving} (swarmbee ${running})`,
	};
}

/** The change a new scale records (before anything changes): which nodes leave when shrinking. */
export function scaleChange(
	journal: Readonly<Journal>,
	workers: number,
	command: string,
	now = new Date(),
): ChangeRecord {
	return {
		kind: 'scale',
		workers,
		from: journal.nodes.filter(n => n.index > 0 && n.state !== 'deleting').length,
		leaving: journal.nodes.filter(n => n.index > workers).map(n => n.name),
		command,
		startedAt: now.toISOString(),
	};
}

/**
 * What `up` does with an interrupted change. Without `--workers`, or with
 * the count the change asked for, it resumes it (a scale-down's nodes still
 * leave, after their tables moved). With another count the user asked for
 * something else: the change is not resumed, and `up` says why.
 */
export type ChangeDecision =
	| {resume: true; change: ChangeRecord; workers: number; shrinking: boolean; says: string}
	| {resume: false; change: ChangeRecord; says: string};

export function decideChange(
	journal: Readonly<Journal>,
	requestedWorkers: number | undefined,
): ChangeDecision | undefined {
	const change = pendingChange(journal);
	if (!change) return undefined;
	const what = describeChange(change);
	const since = `(${change.command}, begun ${change.startedAt})`;
	// Nodes still in the journal that the change removes: none left means the removal itself is done.
	const leaving = change.leaving.filter(name => journal.nodes.some(n => n.name === name));
	if (requestedWorkers === undefined || requestedWorkers === change.workers) {
		return {
			resume: true,
			change,
			workers: change.workers,
			shrinking: leaving.length > 0,
			says: `resuming the interrupted ${what} ${since}${leaving.length > 0 ? `: ${leaving.join(', ')} still to leave once their tables moved` : ''}`,
		};
	}
	return {
		resume: false,
		change,
		says: `the interrupted ${what} ${since} is not resumed: --workers ${requestedWorkers} asks for ${counted(requestedWorkers, 'worker')}`,
	};
}

/**
 * The journal's change, or for a journal written before changes were
 * recorded, one made from the nodes a scale-down marked `deleting`.
 */
export function pendingChange(journal: Readonly<Journal>): ChangeRecord | undefined {
	if (journal.change) return journal.change;
	const deleting = journal.nodes.filter(n => n.state === 'deleting');
	if (deleting.length === 0) return undefined;
	const workers = journal.nodes.filter(n => n.index > 0 && n.state !== 'deleting').length;
	return {
		kind: 'scale',
		workers,
		from: workers + deleting.length,
		leaving: deleting.map(n => n.name),
		command: `swarmbee scale ${journal.cluster} --workers ${workers}`,
		startedAt: journal.updatedAt,
	};
}

/** Nodes a run must leave alone because a scale-down removes them: marked `deleting`, or named by the change. */
export function leavingNodeNames(journal: Readonly<Journal>): Set<string> {
	return new Set([
		...journal.nodes.filter(n => n.state === 'deleting').map(n => n.name),
		...(journal.change?.leaving ?? []),
	]);
}

/**
 * What `scale --workers N` runs: growing (and taking back nodes an
 * interrupted scale-down was removing) is `up`'s steps; shrinking moves the
 * tables and removes the last nodes; both at once (an interrupted scale-down
 * to fewer nodes than now asked for) repairs what stays first.
 */
export function scalePlan(
	journal: Readonly<Journal>,
	workers: number,
): {steps: 'grow' | 'shrink' | 'repair-and-shrink'; leaving: string[]} {
	const leaving = journal.nodes.filter(n => n.index > workers).map(n => n.name);
	const takenBack = journal.nodes.some(n => n.state === 'deleting' && n.index <= workers);
	if (leaving.length === 0) return {steps: 'grow', leaving};
	return {steps: takenBack ? 'repair-and-shrink' : 'shrink', leaving};
}

/** Forgets the change (a run finished it, or the user asked for something else). */
export function clearChange(journal: JournalHandle): void {
	if (journal.value.change) {
		journal.update(j => {
			delete j.change;
		});
	}
}
