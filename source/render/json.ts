import type {RunEvent} from '../events.js';
import {redactDeep} from '../redact.js';
import type {Renderer} from './types.js';

/** `--json`: one event per line, for scripts and tests. */
export class JsonRenderer implements Renderer {
	constructor(private readonly out: NodeJS.WritableStream = process.stdout) {}

	handle(event: RunEvent): void {
		this.out.write(`${JSON.stringify(redactDeep(event))}\n`);
	}

	async close(): Promise<void> {}
}
