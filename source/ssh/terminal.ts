import type ssh2 from 'ssh2';
import {exitStatus, type PtyRequest} from './connection.js';

/** The local end of a session: this process's terminal, or the streams a test or the dashboard hands in. */
export interface Terminal {
	stdin: NodeJS.ReadableStream & {isTTY?: boolean; isRaw?: boolean; setRawMode?: (mode: boolean) => unknown};
	stdout: NodeJS.WritableStream & {isTTY?: boolean; rows?: number; columns?: number};
	stderr: NodeJS.WritableStream;
}

/** Whether both ends of the terminal are a terminal: a pseudo-terminal on the node makes sense then. */
export function isTerminal(terminal: Terminal): boolean {
	return Boolean(terminal.stdin.isTTY && terminal.stdout.isTTY);
}

/**
 * The pseudo-terminal to ask the node for: this terminal's type and size
 * (80x24 where the size is unknown, as ssh does).
 */
export function ptyRequest(terminal: Terminal, env: NodeJS.ProcessEnv): PtyRequest {
	return {term: env['TERM'] || 'xterm-256color', rows: terminal.stdout.rows || 24, cols: terminal.stdout.columns || 80};
}

/**
 * Hands the terminal to a session channel until the remote side ends it,
 * and gives it back as it was. With a pseudo-terminal the local terminal
 * goes raw, so every key (Ctrl-C, Ctrl-Z, arrows) reaches the remote
 * program, and a resize of the local window is passed on (SIGWINCH
 * arrives as the stdout stream's `resize`). Resolves with the remote exit
 * status, which ssh2 hands to `close` as well as to `exit`: `exit` can come
 * before the channel reaches us (a quick `false` ends while the session
 * opens) and is then gone, while `close` waits until the output is read. `signal` ends the session from here (the remote side gets INT,
 * then the channel closes).
 */
export function attachTerminal(
	channel: ssh2.ClientChannel,
	terminal: Terminal,
	options: {pty: boolean; signal?: AbortSignal},
): Promise<number> {
	const {stdin, stdout, stderr} = terminal;
	return new Promise(resolve => {
		const raw = options.pty && Boolean(stdin.isTTY) && typeof stdin.setRawMode === 'function';
		const wasRaw = Boolean(stdin.isRaw);
		if (raw) stdin.setRawMode?.(true);
		const toRemote = (chunk: Buffer | string) => channel.write(chunk);
		// Without a terminal, the end of our input is the end of the command's (`echo x | swarmbee ssh demo -- cat`).
		const endOfInput = () => channel.end();
		const onResize = () => {
			if (stdout.rows && stdout.columns) channel.setWindow(stdout.rows, stdout.columns, 0, 0);
		};
		const onAbort = () => {
			channel.signal('INT');
			channel.close();
		};
		stdin.on('data', toRemote);
		if (!stdin.isTTY) stdin.once('end', endOfInput);
		stdin.resume();
		if (options.pty) stdout.on('resize', onResize);
		options.signal?.addEventListener('abort', onAbort, {once: true});
		channel.on('data', (chunk: Buffer) => stdout.write(chunk));
		channel.stderr.on('data', (chunk: Buffer) => stderr.write(chunk));
		channel.on('close', (status?: number | null, signalName?: string) => {
			stdin.off('data', toRemote);
			stdin.off('end', endOfInput);
			stdin.pause();
			if (raw) stdin.setRawMode?.(wasRaw);
			stdout.off('resize', onResize);
			options.signal?.removeEventListener('abort', onAbort);
			resolve(options.signal?.aborted ? 130 : exitStatus(status, signalName ?? undefined));
		});
	});
}
