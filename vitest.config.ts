import {defineConfig} from 'vitest/config';

export default defineConfig({
	test: {
		// The default report, and one line saying how many end-to-end tests were skipped for want of an engine.
		reporters: ['default', './test/skip-reporter.ts'],
		projects: [
			{
				test: {
					name: 'unit',
					include: ['test/unit/**/*.test.ts', 'test/components/**/*.test.tsx'],
					environment: 'node',
					// No unit test measures time; on a 2-core machine busy with end-to-end clusters a first
					// dynamic import alone has taken 5 s (vitest's default limit), so failures here mean hangs.
					testTimeout: 30_000,
					// First, on their own: then the end-to-end files have the machine.
					sequence: {groupOrder: 0},
				},
			},
			{
				test: {
					name: 'e2e',
					include: ['test/e2e/**/*.test.ts'],
					environment: 'node',
					// Real clusters on one engine, minutes each: two files at a time (each makes its own
					// uniquely named clusters, on their own networks), after the unit tests.
					maxWorkers: 2,
					sequence: {groupOrder: 1},
					testTimeout: 15 * 60_000,
					hookTimeout: 10 * 60_000,
				},
			},
		],
	},
});
