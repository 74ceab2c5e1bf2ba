import type {RunEvent} from '../events.js';
import {redact} from '../redact.js';
import {eventLine, formatDuration, formatError} from './format.js';
import {describeTableProgress, TableProgressThrottle} from './table-progress.js';
import type {Renderer} from './types.js';

/**
 * The line renderer for logs, CI and pipes (listr2's simple renderer):
 *
 *     swarmbee up demo (local): Preflight checks, SSH keys, Machines, Provision (Ansible), Swarm, …
 *     ▸ Machines
 *       queenbee: creating
 *     ✔ Machines (4.2s): 4 nodes running (4 created)
 */
export class PlainRenderer implements Renderer {
	private readonly titles = new Map<string, string>();
	private readonly tables = new TableProgressThrottle();

	constructor(
		private readonly out: NodeJS.WritableStream = process.stdout,
		private readonly options: {verbose?: boolean; err?: NodeJS.WritableStream} = {},
	) {}

	handle(e: RunEvent): void {
		// The error block goes to stderr, where scripts and CI look for it.
		const stream = e.type === 'run-failed' ? (this.options.err ?? this.out) : this.out;
		for (const line of this.lines(e)) stream.write(`${redact(line)}\n`);
	}

	lines(e: RunEvent): string[] {
		if (e.type === 'run-started') for (const step of e.steps) this.titles.set(step.id, step.title);
		const lasting = eventLine(e, step => this.titles.get(step) ?? step);
		if (lasting !== undefined) return [lasting];
		switch (e.type) {
			case 'step-started':
				return [`▸ ${e.title}`];
			case 'step-progress':
				return this.options.verbose || !e.message.startsWith('building ') ? [`  ${e.message}`] : [];
			case 'node-state':
				return [`  ${e.node}: ${e.state}${e.detail ? ` (${e.detail})` : ''}`];
			case 'node-output':
				return this.options.verbose ? [`  [${e.node}] ${e.line}`] : [];
			case 'rate-limit':
				return this.options.verbose ? [`  API requests left: ${e.remaining} of ${e.limit}`] : [];
			case 'table-progress':
				return this.tables.shouldPrint(e)
					? [`  ${e.state === 'done' ? '✔ ' : e.state === 'failed' ? '✖ ' : ''}${describeTableProgress(e)}`]
					: [];
			case 'run-finished':
				return [`done in ${formatDuration(e.durationMs)}: ${e.summary}`];
			case 'run-failed':
				return formatError(e.error, {verbose: this.options.verbose});
			default:
				return [];
		}
	}

	async close(): Promise<void> {}
}
