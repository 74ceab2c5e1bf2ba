import type {RunEvent} from '../../source/events.js';
import {spawnCli} from './helpers.js';

/**
 * A swarmbee run followed by its `--json` events as they come, so a test can
 * act at a named point of it (when "Move tables" starts, when it ends) rather
 * than after a guessed sleep.
 *
 *     const run = watchRun(['scale', name, '--workers', '1', '--yes'], home);
 *     await run.until(e => e.type === 'step-started' && e.step === 'evacuate');
 *     … act while the tables move …
 *     const {exitCode} = await run.done;
 */
export interface WatchedRun {
	readonly events: RunEvent[];
	readonly pid: number;
	/** Everything the run wrote to stdout and stderr so far. */
	readonly stdout: string;
	readonly stderr: string;
	/** The first event (already seen or still to come) that matches; with its arrival time (ms since the epoch). */
	until(match: (e: RunEvent) => boolean, timeoutMs?: number): Promise<{event: RunEvent; seenAt: number}>;
	/** Sends a signal to the CLI's process (SIGSTOP holds it where it is, SIGCONT lets it go on, SIGKILL ends it). */
	signal(name: NodeJS.Signals): void;
	/** When a test failed half-way: Ctrl-C for a run still going (it lets go of the cluster's lock), and waits for its end. */
	stop(): Promise<void>;
	done: Promise<{exitCode: number; stdout: string; stderr: string}>;
}

export function watchRun(args: string[], home: string): WatchedRun {
	const child = spawnCli([...args, '--json'], home);
	const events: RunEvent[] = [];
	const arrived: number[] = [];
	let stdout = '';
	let stderr = '';
	let buffer = '';
	const waiters = new Set<() => void>();
	child.stdout!.on('data', (chunk: Buffer) => {
		stdout += chunk.toString();
		buffer += chunk.toString();
		const lines = buffer.split('\n');
		buffer = lines.pop() ?? '';
		for (const line of lines) {
			if (!line.startsWith('{')) continue;
			events.push(JSON.parse(line) as RunEvent);
			arrived.push(Date.now());
		}
		for (const wake of waiters) wake();
	});
	child.stderr!.on('data', (chunk: Buffer) => {
		stderr += chunk.toString();
	});
	const done = (async () => {
		const result = await child;
		for (const wake of waiters) wake();
		return {exitCode: result.exitCode ?? -1, stdout, stderr};
	})();
	let ended = false;
	void done.then(() => {
		ended = true;
	});
	return {
		events,
		pid: child.pid!,
		get stdout() {
			return stdout;
		},
		get stderr() {
			return stderr;
		},
		async until(match, timeoutMs = 10 * 60_000) {
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const index = events.findIndex(match);
				if (index >= 0) return {event: events[index]!, seenAt: arrived[index]!};
				if (ended)
					throw new Error(
						`the run ended without the event awaited; its stderr: ${stderr}\nits last events: ${JSON.stringify(events.slice(-5))}`,
					);
				if (Date.now() > deadline)
					throw new Error(
						`the event awaited did not come within ${timeoutMs} ms; last events: ${JSON.stringify(events.slice(-5))}`,
					);
				await new Promise<void>(resolve => {
					const wake = () => {
						waiters.delete(wake);
						clearTimeout(timer);
						resolve();
					};
					const timer = setTimeout(wake, 1_000);
					waiters.add(wake);
				});
			}
		},
		signal(name) {
			child.kill(name);
		},
		async stop() {
			if (ended) return;
			child.kill('SIGCONT');
			child.kill('SIGINT');
			await done;
		},
		done,
	};
}

/** The words the run said as progress lines, for assertions on what swarmbee told the user. */
export function progressLines(events: RunEvent[]): string[] {
	return events.flatMap(e =>
		e.type === 'step-progress'
			? [`${e.step}: ${e.message}`]
			: e.type === 'warning'
				? [`warning: ${e.message}`]
				: e.type === 'step-failed' || e.type === 'run-failed'
					? [`${e.type}: ${e.error.message} ${e.error.hint ?? ''} ${e.error.nextSteps.join(' | ')}`]
					: [],
	);
}
