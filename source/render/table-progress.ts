import type {RunEvent} from '../events.js';

export type TableProgressEvent = Extract<RunEvent, {type: 'table-progress'}>;

/** `812 B`, `4.2 KB`, `1.5 MB`, `1.02 GB` (powers of 1000, as disks and networks count). */
export function formatBytes(bytes: number): string {
	if (bytes < 1000) return `${bytes} B`;
	const units = ['KB', 'MB', 'GB', 'TB'];
	let value = bytes / 1000;
	let unit = 0;
	while (value >= 1000 && unit < units.length - 1) {
		value /= 1000;
		unit++;
	}
	return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${units[unit]}`;
}

/** `5,000` */
export function formatCount(n: number): string {
	return n.toLocaleString('en-US');
}

/** How far a table is, 0 to 1, when its total is known. */
export function tableFraction(
	e: Pick<TableProgressEvent, 'documents' | 'totalDocuments' | 'state'>,
): number | undefined {
	if (e.state === 'done') return 1;
	if (!e.totalDocuments) return undefined;
	return Math.min(1, e.documents / e.totalDocuments);
}

/**
 * One line for a table's progress, as the plain renderer prints it and
 * the live view shows it beside its bar:
 *
 *     app.orders: creating 2 secondary indexes
 *     app.orders: writing documents, 2,500 of 5,000 documents (50%), 1.20 MB
 *     app.orders: 5,000 documents, 2.40 MB restored
 */
export function describeTableProgress(e: TableProgressEvent): string {
	// Before its first document (creating, indexing) a table's counts say nothing yet.
	if (e.state === 'running' && e.detail && e.documents === 0 && e.bytes === 0) return `${e.table}: ${e.detail}`;
	const detail = e.state === 'running' && e.detail ? `${e.detail}, ` : e.state === 'failed' ? 'failed after ' : '';
	const fraction = tableFraction(e);
	const documents =
		e.state === 'running' && e.totalDocuments !== undefined
			? `${formatCount(e.documents)} of ${formatCount(e.totalDocuments)} documents${fraction === undefined ? '' : ` (${Math.floor(fraction * 100)}%)`}`
			: `${formatCount(e.documents)} document${e.documents === 1 ? '' : 's'}`;
	// A finished table's detail says what was done to it: checked, backed up, restored.
	const done = e.state === 'done' && e.detail ? ` ${e.detail}` : '';
	return `${e.table}: ${detail}${documents}, ${formatBytes(e.bytes)}${done}`;
}

/**
 * Which progress events the plain renderer prints: a table's first, each
 * change of what it is doing, its end, and otherwise one every `everyMs`,
 * so a log of a long backup stays readable.
 */
export class TableProgressThrottle {
	private readonly last = new Map<string, {at: number; detail?: string; state: string}>();

	constructor(
		private readonly everyMs = 5_000,
		private readonly now: () => number = Date.now,
	) {}

	shouldPrint(e: TableProgressEvent): boolean {
		const key = `${e.step}/${e.table}`;
		const previous = this.last.get(key);
		const now = this.now();
		const print =
			!previous || previous.state !== e.state || previous.detail !== e.detail || now - previous.at >= this.everyMs;
		if (print) this.last.set(key, {at: now, detail: e.detail, state: e.state});
		return print;
	}
}
