import {render, type Instance} from 'ink';
import type {RunEvent} from '../source/events.js';
import type {Renderer} from '../source/render/types.js';
import {RunEventSource} from './event-source.js';
import {Dashboard, type DashboardProps} from './Dashboard.js';
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
		this.instance = render(<RunView source={this.source} onInterrupt={onInterrupt} intervalMs={options.intervalMs} />, inkOptions(terminal, options.onRender));
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

/**
 * Mounts the dashboard and resolves when the user quits. Ink owns stdin
 * meanwhile; on return the terminal is the shell's again.
 */
export async function showDashboard(terminal: InkTerminal, props: Omit<DashboardProps, 'onQuit'>): Promise<void> {
	const instance = render(<Dashboard {...props} onQuit={() => instance.unmount()} />, inkOptions(terminal));
	await instance.waitUntilExit().catch(() => {});
	instance.cleanup();
}
