import {stripVTControlCharacters} from 'node:util';
import {event, type RunEvent} from '../../source/events.js';

interface Framed {
	lastFrame: () => string | undefined;
	frames: string[];
}

/** The last frame without colours, trailing spaces trimmed per line. */
export function screen(instance: Framed): string {
	return stripVTControlCharacters(instance.lastFrame() ?? '')
		.split('\n')
		.map(line => line.trimEnd())
		.join('\n');
}

/** Everything written so far (Static lines are written once, so they are only in earlier frames). */
export function allOutput(instance: Framed): string {
	return stripVTControlCharacters(instance.frames.join('\n'));
}

/** Waits until the screen satisfies `expected` (a text it contains, or a predicate); never a fixed sleep. */
export async function waitForFrame(
	instance: Framed,
	expected: string | ((text: string) => boolean),
	timeoutMs = 3_000,
): Promise<string> {
	const test = typeof expected === 'string' ? (text: string) => text.includes(expected) : expected;
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const text = screen(instance);
		if (test(text)) return text;
		if (Date.now() > deadline)
			throw new Error(
				`timed out waiting for ${typeof expected === 'string' ? JSON.stringify(expected) : 'a frame'}; last frame:\n${text}`,
			);
		await new Promise(resolve => setTimeout(resolve, 10));
	}
}

/** Makes ink-testing-library's terminal `columns` wide and tells the app, as a terminal resize does. */
export function resize(stdout: NodeJS.EventEmitter, columns: number, rows = 40): void {
	Object.defineProperty(stdout, 'columns', {value: columns, configurable: true});
	Object.defineProperty(stdout, 'rows', {value: rows, configurable: true});
	stdout.emit('resize');
}

export const STEPS = [
	{id: 'preflight', title: 'Preflight checks'},
	{id: 'machines', title: 'Machines'},
	{id: 'provision', title: 'Provision'},
	{id: 'swarm', title: 'Swarm'},
];

/**
 * What the provision step emits for one node, as the lead's Ansible step
 * will (see the seam notes): node-state provisioning, Ansible lines,
 * the log file, the PLAY RECAP.
 */
export function provisionEvents(node: string, options: {fail?: boolean; logDir?: string} = {}): RunEvent[] {
	const out = (line: string): RunEvent => event({type: 'node-output', node, step: 'provision', stream: 'stdout', line});
	const events: RunEvent[] = [
		event({type: 'node-state', node, state: 'provisioning'}),
		out('PLAY [swarmbee node] ***********************************************************'),
		out('TASK [Gathering Facts] *********************************************************'),
		out('ok: [localhost]'),
		out('TASK [Install packages] ********************************************************'),
		out('changed: [localhost]'),
		out('TASK [Configure dockerd] *******************************************************'),
	];
	if (options.fail) {
		events.push(
			out(
				'fatal: [localhost]: FAILED! => {"changed": false, "msg": "apt-get install exited 100: E: Unable to locate package rethinkdb"}',
			),
		);
		events.push(out('PLAY RECAP *********************************************************************'));
		events.push(
			out(
				'localhost                  : ok=2    changed=1    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0',
			),
		);
	} else {
		events.push(out('changed: [localhost]'));
		events.push(out('TASK [Raise file limits] *******************************************************'));
		events.push(out('ok: [localhost]'));
		events.push(out('PLAY RECAP *********************************************************************'));
		events.push(
			out(
				'localhost                  : ok=4    changed=2    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0',
			),
		);
	}
	events.push(
		event({
			type: 'node-log',
			node,
			step: 'provision',
			file: `${options.logDir ?? '/home/u/.config/swarmbee-nodejs/clusters/demo/logs'}/${node}/provision.log`,
		}),
	);
	events.push(
		event({
			type: 'node-recap',
			node,
			step: 'provision',
			recap: options.fail
				? {ok: 2, changed: 1, unreachable: 0, failed: 1, skipped: 0, rescued: 0, ignored: 0}
				: {ok: 4, changed: 2, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0},
		}),
	);
	events.push(
		event({
			type: 'node-state',
			node,
			state: options.fail ? 'failed' : 'ready',
			...(options.fail ? {detail: 'apt-get install exited 100'} : {}),
		}),
	);
	return events;
}

export function runStart(): RunEvent[] {
	return [
		event({type: 'run-started', command: 'up', cluster: 'demo', provider: 'local', steps: STEPS}),
		event({type: 'step-started', step: 'preflight', title: 'Preflight checks'}),
		event({type: 'step-progress', step: 'preflight', message: 'Docker engine 20.10.24 reachable'}),
		event({
			type: 'step-finished',
			step: 'preflight',
			durationMs: 1200,
			changed: false,
			summary: 'Docker engine 20.10.24 reachable',
		}),
		event({type: 'step-started', step: 'machines', title: 'Machines'}),
		event({type: 'node-state', node: 'queenbee', state: 'creating'}),
		event({type: 'node-state', node: 'workerbee-1', state: 'creating'}),
		event({type: 'node-state', node: 'queenbee', state: 'running', detail: 'SSH ok'}),
		event({type: 'node-state', node: 'workerbee-1', state: 'running', detail: 'SSH ok'}),
		event({
			type: 'step-finished',
			step: 'machines',
			durationMs: 6000,
			changed: true,
			summary: '2 nodes running (2 created)',
		}),
		event({type: 'step-started', step: 'provision', title: 'Provision'}),
	];
}
