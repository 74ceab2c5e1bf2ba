import {CancelledError, errorInfo, InputError} from '../errors.js';
import {JsonRenderer} from '../render/json.js';
import {PlainRenderer} from '../render/plain.js';
import {formatError, wrapErrorLines} from '../render/format.js';
import type {Renderer} from '../render/types.js';
import type {Credentials} from './credentials.js';

/**
 * What every command gets from the process, and the few things every
 * command (and every run of a session) does the same way: pick a renderer,
 * ask for confirmation, own Ctrl-C, report an error.
 */
export interface CommandIO {
	stdout: NodeJS.WritableStream;
	stderr: NodeJS.WritableStream;
	/** Where keys come from in interactive mode (default: process.stdin). */
	stdin?: NodeJS.ReadableStream;
	/** Both stdin and stdout are terminals: prompts and live screens allowed. */
	interactive: boolean;
	env: NodeJS.ProcessEnv;
	/** Secrets handed over in this process (the start screen, the wizard, a profile's saved token); made at first use. */
	credentials?: Credentials;
}

export type OutputMode = 'tty' | 'plain' | 'json';

/** --json, else --plain or no terminal: plain lines, else the live view. */
export function outputMode(values: {json?: unknown; plain?: unknown}, io: CommandIO): OutputMode {
	return values.json ? 'json' : values.plain || !io.interactive ? 'plain' : 'tty';
}

/** The streams Ink draws on and reads keys from: this process's terminal unless a test hands others in. */
export function terminalOf(io: CommandIO): {
	stdout: NodeJS.WriteStream;
	stdin: NodeJS.ReadStream;
	stderr: NodeJS.WriteStream;
} {
	return {
		stdout: io.stdout as NodeJS.WriteStream,
		stdin: (io.stdin ?? process.stdin) as NodeJS.ReadStream,
		stderr: io.stderr as NodeJS.WriteStream,
	};
}

/** Picks the renderer; the interactive one is loaded only when used. */
export async function createRenderer(
	mode: OutputMode,
	io: CommandIO,
	options: {verbose?: boolean} = {},
): Promise<Renderer> {
	switch (mode) {
		case 'json':
			return new JsonRenderer(io.stdout, io.stderr);
		case 'plain':
			return new PlainRenderer(io.stdout, {...options, err: io.stderr});
		case 'tty': {
			// Ink and React load here and only here, so plain runs and --version never pay for them.
			const {InkRenderer} = await import('../../components/ink-renderer.js');
			return new InkRenderer(terminalOf(io));
		}
	}
}

/** A yes/no question in the terminal; Ctrl-C answers "no" without a stack trace. */
export async function confirm(message: string, defaultAnswer = true): Promise<boolean> {
	const prompts = await import('@inquirer/prompts');
	try {
		return await prompts.confirm({message, default: defaultAnswer});
	} catch (error) {
		if ((error as Error).name === 'ExitPromptError') throw new CancelledError('nothing was changed.');
		throw error;
	}
}

/**
 * Asks before something costly or destructive, unless --yes. Without a
 * terminal there is nobody to ask: the error says to pass --yes.
 *
 *     error: removing cluster demo needs confirmation, and there is no terminal to ask in
 *       try: pass --yes: swarmbee down demo --yes
 */
export async function confirmOrStop(
	io: CommandIO,
	question: {
		yes: boolean;
		/** `removing cluster demo`, for the error without a terminal. */
		what: string;
		/** The command line that would go ahead, without --yes. */
		command: string;
		message: string;
		/** The answer Enter gives: yes where nothing is lost. */
		defaultAnswer: boolean;
		/** What "no" leaves undone: `nothing was created.` */
		declined: string;
	},
): Promise<void> {
	if (question.yes) return;
	if (!io.interactive) {
		throw new InputError(`${question.what} needs confirmation, and there is no terminal to ask in`, {
			nextSteps: [`pass --yes: ${question.command} --yes`],
		});
	}
	if (!(await confirm(question.message, question.defaultAnswer))) throw new CancelledError(question.declined);
}

/**
 * The one owner of Ctrl-C (and SIGTERM): the first press aborts the
 * controller (children stop, the journal is saved, the resume command is
 * printed); a second press quits at once. `announce` tells the user (the
 * live view shows it as a warning line: a raw write to stderr would tear
 * Ink's frame). Returns the function that gives the signals back.
 */
export function handleInterrupts(
	controller: AbortController,
	io: CommandIO,
	announce: (message: string) => void = message => io.stderr.write(`\n${message}\n`),
): () => void {
	let presses = 0;
	const onSignal = (signal: NodeJS.Signals) => {
		presses++;
		if (presses === 1) {
			announce(`${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping, saving state (press again to quit at once)`);
			controller.abort(new CancelledError());
		} else {
			process.exit(130);
		}
	};
	process.on('SIGINT', onSignal);
	process.on('SIGTERM', onSignal);
	return () => {
		process.off('SIGINT', onSignal);
		process.off('SIGTERM', onSignal);
	};
}

/**
 * For a command that holds until stopped (tunnel): `interrupted` resolves at
 * the first Ctrl-C or SIGTERM, heard by the same owner as every run's.
 */
export function waitForInterrupt(io: CommandIO): {interrupted: Promise<void>; release: () => void} {
	const controller = new AbortController();
	const release = handleInterrupts(controller, io, () => {});
	const interrupted = new Promise<void>(resolve =>
		controller.signal.addEventListener('abort', () => resolve(), {once: true}),
	);
	return {interrupted, release};
}

/** Writes an error for humans on stderr (and as JSON on stdout with --json). */
export function reportError(error: unknown, io: CommandIO, json: boolean, verbose = false): void {
	const info = errorInfo(error);
	if (json) io.stdout.write(`${JSON.stringify({type: 'error', error: info})}\n`);
	// In a terminal, wrapped between words (the terminal itself would cut words in two); elsewhere one line each, for grep.
	const columns = (io.stderr as NodeJS.WriteStream).isTTY ? (io.stderr as NodeJS.WriteStream).columns : undefined;
	const lines = formatError(info, {verbose});
	io.stderr.write(`${(columns ? wrapErrorLines(lines, columns) : lines).join('\n')}\n`);
}
