import {PassThrough} from 'node:stream';
import {describe, expect, it} from 'vitest';
import {initialRunState, reduceRun} from '../../components/run-state.js';
import {event, type RunEvent} from '../../source/events.js';
import {PlainRenderer} from '../../source/render/plain.js';
import {
	describeTableProgress,
	formatBytes,
	TableProgressThrottle,
	type TableProgressEvent,
} from '../../source/render/table-progress.js';

const progress = (fields: Partial<TableProgressEvent> = {}): TableProgressEvent =>
	event({
		type: 'table-progress',
		step: 'restore',
		table: 'app.orders',
		state: 'running',
		documents: 0,
		bytes: 0,
		...fields,
	}) as TableProgressEvent;

describe('table progress in words', () => {
	it('formats bytes in powers of 1000', () => {
		expect([0, 999, 1000, 1_234_567, 1_073_741_824].map(formatBytes)).toEqual([
			'0 B',
			'999 B',
			'1.00 KB',
			'1.23 MB',
			'1.07 GB',
		]);
	});

	it('says what a table is doing, how far it is, and what it came to', () => {
		expect(describeTableProgress(progress({detail: 'creating 2 secondary indexes', totalDocuments: 5000}))).toBe(
			'app.orders: creating 2 secondary indexes',
		);
		expect(
			describeTableProgress(
				progress({detail: 'writing documents', documents: 2500, totalDocuments: 5000, bytes: 1_200_000}),
			),
		).toBe('app.orders: writing documents, 2,500 of 5,000 documents (50%), 1.20 MB');
		expect(
			describeTableProgress(progress({state: 'done', documents: 5000, totalDocuments: 5000, bytes: 2_400_000})),
		).toBe('app.orders: 5,000 documents, 2.40 MB');
		expect(
			describeTableProgress(
				progress({state: 'done', detail: 'restored', documents: 5000, totalDocuments: 5000, bytes: 2_400_000}),
			),
		).toBe('app.orders: 5,000 documents, 2.40 MB restored');
		expect(describeTableProgress(progress({documents: 12, bytes: 400}))).toBe('app.orders: 12 documents, 400 B');
	});

	it("prints a table's changes, its end, and between them one line every 5 s", () => {
		let now = 0;
		const throttle = new TableProgressThrottle(5_000, () => now);
		const printed = (e: TableProgressEvent) => throttle.shouldPrint(e);
		expect(printed(progress({detail: 'writing documents'}))).toBe(true);
		now = 1_000;
		expect(printed(progress({detail: 'writing documents', documents: 10}))).toBe(false);
		now = 5_000;
		expect(printed(progress({detail: 'writing documents', documents: 50}))).toBe(true);
		now = 5_100;
		expect(printed(progress({detail: 'syncing to disk', documents: 60}))).toBe(true);
		expect(printed(progress({state: 'done', documents: 60}))).toBe(true);
		expect(printed(progress({table: 'app.users', detail: 'writing documents'}))).toBe(true);
	});
});

describe('table progress in the renderers', () => {
	it('plain: lines per table, a tick for the finished ones', () => {
		const stream = new PassThrough();
		let text = '';
		stream.on('data', chunk => (text += chunk));
		const renderer = new PlainRenderer(stream);
		renderer.handle(progress({detail: 'creating the table', totalDocuments: 3}));
		renderer.handle(progress({detail: 'creating the table', totalDocuments: 3}));
		renderer.handle(progress({state: 'done', documents: 3, totalDocuments: 3, bytes: 120}));
		expect(text).toBe('  app.orders: creating the table\n  ✔ app.orders: 3 documents, 120 B\n');
	});

	it('the run view keeps the latest state per table and says each end once, above the live region', () => {
		const events: RunEvent[] = [
			progress({step: 'archive', detail: 'checking', documents: 10}),
			progress({step: 'archive', state: 'done', documents: 20, bytes: 900}),
			progress({step: 'restore', detail: 'writing documents', documents: 5, totalDocuments: 20}),
			progress({step: 'restore', state: 'done', documents: 20, totalDocuments: 20, bytes: 800}),
			progress({step: 'restore', state: 'done', documents: 20, totalDocuments: 20, bytes: 800}),
		];
		const state = events.reduce(reduceRun, initialRunState);
		expect(state.tables).toEqual([
			expect.objectContaining({name: 'app.orders', step: 'restore', state: 'done', documents: 20}),
		]);
		expect(state.finished.map(l => l.text)).toEqual([
			'  ✔ app.orders: 20 documents, 900 B',
			'  ✔ app.orders: 20 documents, 800 B',
		]);
	});
});
