import {render, type Instance} from 'ink';
import type {RunEvent} from '../source/events.js';
import type {Renderer} from '../source/render/types.js';
import {RunEventSource} from './event-source.js';
import {Dashboard, type DashboardProps} from './Dashboard.js';
import {emptyMemory} from './dashboard-state.js';
import {RunView} from './RunView.js';

/** The terminal Ink draws on and reads keys from. */
interface InkTerminal {
	stdout: NodeJS.WriteStream;
	stdin: NodeJS.ReadStream;
	stderr: NodeJS.WriteStream;
}

interface InkRendererOptions {
	/**
	 * Ink holds stdin in raw mode, so Ctrl-C arrives as a key, not a signal.
	 * By default it is turned back into a SIGINT to this process, so the
	 * command's one interrupt owner (handleInterrupts) aborts, saves and
	 * prints how to resume, exactly as in plain mode.
	 */
	onInterrupt?: () => void;
	/** Renders per second at most (tests and the flood benchmark change it). */
	intervalMs?: number;
	/** Called after each frame Ink writes (the benchmark counts them). */
	onRender?: (metrics: {renderTime: number}) => void;
}

/** Ink options shared by every screen swarmbee mounts. */
function inkOptions(terminal: InkTerminal, onRender?: (metrics: {renderTime: number}) => void) {
	return {
		stdout: terminal.stdout,
		stdin: terminal.stdin,
		stderr: terminal.stderr,
		// Ctrl-C is ours to handle: a run must save its journal before exiting.
		exitOnCtrlC: false,
		patchConsole: false,
		maxFps: 10,
		...(onRender ? {onRender} : {}),
	};
}

/**
 * The interactive Renderer: the orchestrator pushes events, RunView draws
 * them. Owns stdin while mounted; `close` draws the last frame, leaves it on
 * screen and gives the terminal back (raw mode off, cursor shown).
 */
export class InkRenderer implements Renderer {
	private readonly source = new RunEventSource();
	private readonly instance: Instance;

	constructor(terminal: InkTerminal, options: InkRendererOptions = {}) {
		const onInterrupt = options.onInterrupt ?? (() => process.kill(process.pid, 'SIGINT'));
		this.instance = render(
			<RunView source={this.source} onInterrupt={onInterrupt} intervalMs={options.intervalMs} />,
			inkOptions(terminal, options.onRender),
		);
	}

	handle(event: RunEvent): void {
		this.source.push(event);
	}

	async close(): Promise<void> {
		// Every event on screen before the last frame is drawn and left behind.
		await this.source.drain();
		this.instance.unmount();
		await this.instance.waitUntilExit().catch(() => {});
		this.instance.cleanup();
	}
}

/** The alternate screen, as full-screen tools use it: the shell's screen (and the run view above) comes back on quit. */
const ENTER_ALTERNATE = '\u001B[?1049h\u001B[H';
const LEAVE_ALTERNATE = '\u001B[?1049l';

/**
 * Mounts the dashboard on the alternate screen and resolves when the user
 * quits. Ink owns stdin meanwhile; on return the terminal is the shell's
 * again. A hand-over (the `s` key's ssh) unmounts it, gives the terminal to
 * the work, and mounts it again with the same memory (history, events).
 */
export async function showDashboard(
	terminal: InkTerminal,
	props: Omit<DashboardProps, 'onQuit' | 'handOver' | 'memory' | 'fullscreen'>,
): Promise<void> {
	const memory = {current: emptyMemory()};
	const fullscreen = Boolean(terminal.stdout.isTTY);
	for (;;) {
		let work: (() => Promise<void>) | undefined;
		if (fullscreen) terminal.stdout.write(ENTER_ALTERNATE);
		const instance = render(
			<Dashboard
				{...props}
				memory={memory}
				fullscreen={fullscreen}
				onQuit={() => instance.unmount()}
				handOver={next => {
					work = next;
					instance.unmount();
				}}
			/>,
			inkOptions(terminal),
		);
		await instance.waitUntilExit().catch(() => {});
		instance.cleanup();
		if (fullscreen) terminal.stdout.write(LEAVE_ALTERNATE);
		if (!work) return;
		try {
			await work();
		} catch (error) {
			terminal.stderr.write(`${(error as Error).message}\n`);
		}
	}
}
