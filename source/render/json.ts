import type {RunEvent} from '../events.js';
import {redactDeep} from '../redact.js';
import {formatError} from './format.js';
import type {Renderer} from './types.js';

/** `--json`: one event per line on stdout, for scripts and tests; a failure is also told to humans on stderr. */
export class JsonRenderer implements Renderer {
	constructor(
		private readonly out: NodeJS.WritableStream = process.stdout,
		private readonly err?: NodeJS.WritableStream,
	) {}

	handle(event: RunEvent): void {
		this.out.write(`${JSON.stringify(redactDeep(event))}\n`);
		if (event.type === 'run-failed') this.err?.write(`${formatError(event.error).join('\n')}\n`);
	}

	async close(): Promise<void> {}
}
