import {CancelledError} from '../errors.js';
import type {CommandIO} from '../main.js';

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
 * One owner for Ctrl-C: the first press aborts the run's controller (children
 * stop, the journal is saved, the resume command is printed); a second press
 * quits at once. `announce` tells the user (the live view shows it as a
 * warning line: a raw write to stderr would tear Ink's frame).
 */
export function handleInterrupts(controller: AbortController, io: CommandIO, announce: (message: string) => void = message => io.stderr.write(`\n${message}\n`)): () => void {
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
