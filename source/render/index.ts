import type {CommandIO} from '../main.js';
import {JsonRenderer} from './json.js';
import {PlainRenderer} from './plain.js';
import type {Renderer} from './types.js';

export type OutputMode = 'tty' | 'plain' | 'json';

/** The streams Ink draws on and reads keys from: this process's terminal unless a test hands others in. */
export function terminalOf(io: CommandIO): {stdout: NodeJS.WriteStream; stdin: NodeJS.ReadStream; stderr: NodeJS.WriteStream} {
	return {
		stdout: io.stdout as NodeJS.WriteStream,
		stdin: (io.stdin ?? process.stdin) as NodeJS.ReadStream,
		stderr: io.stderr as NodeJS.WriteStream,
	};
}

/** Picks the renderer; the interactive one is loaded only when used. */
export async function createRenderer(mode: OutputMode, io: CommandIO, options: {verbose?: boolean} = {}): Promise<Renderer> {
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
