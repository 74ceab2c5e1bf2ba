import {render} from 'ink-testing-library';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {RunEventSource} from '../../components/event-source.js';
import {RunView} from '../../components/RunView.js';
import {progressBar} from '../../components/TableProgress.js';
import {event} from '../../source/events.js';
import {allOutput, waitForFrame} from './helpers.js';

describe('table progress in the live view', () => {
	let cleanup: (() => void) | undefined;
	afterEach(() => cleanup?.());

	it('draws a bar that fills with the documents', () => {
		expect(progressBar(0, 10)).toBe('░░░░░░░░░░');
		expect(progressBar(0.5, 10)).toBe('█████░░░░░');
		expect(progressBar(1, 10)).toBe('██████████');
		expect(progressBar(undefined, 4)).toBe('░░░░');
	});

	it('shows running tables with their bar and counts; a finished one becomes a line above', async () => {
		const source = new RunEventSource();
		const instance = render(<RunView source={source} onInterrupt={vi.fn()} />);
		cleanup = instance.unmount;
		source.push(
			event({
				type: 'run-started',
				command: 'restore',
				cluster: 'demo',
				provider: 'local',
				steps: [{id: 'restore', title: 'Restore the tables'}],
			}),
		);
		source.push(event({type: 'step-started', step: 'restore', title: 'Restore the tables'}));
		source.push(
			event({
				type: 'table-progress',
				step: 'restore',
				table: 'app.orders',
				state: 'running',
				detail: 'writing documents',
				documents: 2500,
				totalDocuments: 5000,
				bytes: 1_200_000,
			}),
		);
		source.push(
			event({
				type: 'table-progress',
				step: 'restore',
				table: 'app.users',
				state: 'done',
				documents: 7,
				totalDocuments: 7,
				bytes: 700,
			}),
		);
		const frame = await waitForFrame(instance, 'app.orders');
		expect(frame).toMatch(
			/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] app.orders {2}██████████░░░░░░░░░░ {2}50% {2}writing documents · 2,500 of 5,000 documents · 1.20 MB/,
		);
		expect(frame).not.toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] app.users/);
		expect(allOutput(instance)).toContain('✔ app.users: 7 documents, 700 B');
	});
});
