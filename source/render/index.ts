import type {CommandIO} from '../main.js';
import {JsonRenderer} from './json.js';
import {PlainRenderer} from './plain.js';
import type {Renderer} from './types.js';

export type OutputMode = 'tty' | 'plain' | 'json';

/** Picks the renderer; the interactive one is loaded only when used. */
export async function createRenderer(mode: OutputMode, io: CommandIO, options: {verbose?: boolean} = {}): Promise<Renderer> {
	switch (mode) {
		case 'json':
			return new JsonRenderer(io.stdout, io.stderr);
		case 'plain':
		case 'tty':
			return new PlainRenderer(io.stdout, {...options, err: io.stderr});
	}
}
