import {execFileSync} from 'node:child_process';
import {shq} from '../../source/shell.js';
import {CLI, describeWithEngine, hasTmux} from './helpers.js';

/**
 * The real CLI in a real terminal: tmux sessions a test drives with keys
 * and reads as a person sees them (capture-pane). Shared by the terminal
 * UI suites.
 */
export {hasTmux};

if (!hasTmux() && process.env['CI'])
	throw new Error('CI is set but tmux is missing: the terminal UI tests drive the CLI in tmux (apt-get install tmux)');

/** On a real engine, in tmux; skipped without tmux outside CI. */
export const describeInTmux = hasTmux() ? describeWithEngine : describeWithEngine.skip;

const tmux = (...args: string[]) => execFileSync('tmux', args, {encoding: 'utf8'});

export interface Terminal {
	name: string;
	keys: (...keys: string[]) => void;
	/** The pane as shown (`history`: the scrollback too, wrapped lines joined). */
	screen: (history?: boolean) => string;
	/** Every screen read so far by waitFor. */
	seen: string[];
	waitFor: (
		expected: string | RegExp | ((text: string) => boolean),
		timeoutMs?: number,
		history?: boolean,
	) => Promise<string>;
	resize: (columns: number, rows: number) => void;
	kill: () => void;
}

/**
 * Runs `swarmbee ARGS` in a new tmux session of the given size, as in a
 * user's terminal: CI variables unset (Ink draws only a final frame in
 * CI); `env` is given to tmux's own environment for the session (-e), so
 * no secret is on a command line. The shell prints `EXIT=<code>` after.
 */
export function openTerminal(
	name: string,
	args: string[],
	options: {home: string; columns?: number; rows?: number; env?: Record<string, string>},
): Terminal {
	const session = `swarmbee-${name}`;
	const env = Object.entries({SWARMBEE_HOME: options.home, ...options.env}).flatMap(([key, value]) => [
		'-e',
		`${key}=${value}`,
	]);
	const command = `env -u CI -u CONTINUOUS_INTEGRATION ${[process.execPath, CLI, ...args].map(shq).join(' ')}; echo "EXIT=$?"; sleep 600`;
	tmux(
		'new-session',
		'-d',
		'-s',
		session,
		'-x',
		String(options.columns ?? 100),
		'-y',
		String(options.rows ?? 45),
		...env,
		command,
	);
	const seen: string[] = [];
	const screen = (history = false) =>
		tmux('capture-pane', '-p', '-J', '-t', session, ...(history ? ['-S', '-1000'] : []));
	return {
		name: session,
		keys: (...keys) => void tmux('send-keys', '-t', session, ...keys),
		screen,
		seen,
		async waitFor(expected, timeoutMs = 60_000, history = true) {
			const test =
				typeof expected === 'string'
					? (t: string) => t.includes(expected)
					: expected instanceof RegExp
						? (t: string) => expected.test(t)
						: expected;
			const deadline = Date.now() + timeoutMs;
			for (;;) {
				const text = screen(history);
				seen.push(text);
				if (test(text)) return text;
				if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(expected)}; screen:\n${text}`);
				await new Promise(resolve => setTimeout(resolve, 200));
			}
		},
		resize: (columns, rows) => void tmux('resize-window', '-t', session, '-x', String(columns), '-y', String(rows)),
		kill() {
			try {
				tmux('kill-session', '-t', session);
			} catch {
				// Already gone.
			}
		},
	};
}
