import {PassThrough} from 'node:stream';
import {describe, expect, it} from 'vitest';
import {event} from '../../source/events.js';
import {JsonRenderer} from '../../source/render/json.js';
import {formatError} from '../../source/render/format.js';
import {PlainRenderer} from '../../source/render/plain.js';
import {nextSteps} from '../../source/session/run.js';
import {resolveSpec} from '../../source/spec.js';
import {registerSecret, redact} from '../../source/redact.js';

function capture() {
	const stream = new PassThrough();
	let text = '';
	stream.on('data', chunk => (text += chunk));
	return {stream, text: () => text};
}

describe('renderers', () => {
	it('plain: one line per step with duration and summary', () => {
		const out = capture();
		const renderer = new PlainRenderer(out.stream);
		renderer.handle(
			event({
				type: 'run-started',
				command: 'up',
				cluster: 'demo',
				provider: 'local',
				steps: [{id: 'machines', title: 'Machines'}],
			}),
		);
		renderer.handle(
			event({type: 'step-finished', step: 'machines', durationMs: 4200, changed: true, summary: '4 nodes running'}),
		);
		renderer.handle(event({type: 'run-cancelled', durationMs: 1000, resume: 'swarmbee up demo'}));
		expect(out.text()).toBe(
			[
				'swarmbee up demo (local): Machines',
				'✔ Machines (4.2s): 4 nodes running',
				'cancelled after 1.0s; state saved. Resume with: swarmbee up demo',
				'',
			].join('\n'),
		);
	});

	it('json: one parseable event per line, secrets removed', () => {
		const out = capture();
		registerSecret('tok-123456789');
		const renderer = new JsonRenderer(out.stream);
		renderer.handle(event({type: 'warning', message: 'token tok-123456789 leaked? and dop_v1_0123456789abcdef0123'}));
		const parsed = JSON.parse(out.text());
		expect(parsed.message).toBe('token [redacted] leaked? and [redacted]');
	});

	it('formats an error with why, what to try and the log', () => {
		expect(
			formatError({
				kind: 'external',
				message: 'no engine',
				hint: 'socket missing',
				nextSteps: ['start it', 'check it'],
				logFile: '/x.log',
			}),
		).toEqual(['error: no engine', '  why: socket missing', '  try: start it', '       check it', '  log: /x.log']);
	});

	it('redacts DigitalOcean token shapes even when never registered', () => {
		expect(redact('Bearer dop_v1_abcdefabcdefabcdefabcdef')).toBe('Bearer [redacted]');
	});

	it('a finished up says what to do next, with the tunnel only where a database runs', () => {
		const text = nextSteps(resolveSpec({name: 'demo'}));
		expect(text.split('\n')[0]).toBe('demo is ready. Next:');
		expect(text).toContain(
			'  swarmbee tunnel demo             RethinkDB admin panel over SSH (prints its URL, with the token that opens it)',
		);
		expect(text).toContain(
			'  swarmbee ssh demo [NODE]         a shell on a node (-- COMMAND runs one; --all on every node)',
		);
		expect(text).toContain('  eval "$(swarmbee env demo)"      point your docker CLI at the swarm (docker node ls)');
		expect(text).toContain("  swarmbee logs demo rdb-queenbee  a database server's log (or a node's: logs NAME NODE)");
		expect(nextSteps(resolveSpec({name: 'demo', database: 'none'}))).not.toContain('tunnel');
		expect(nextSteps(resolveSpec({name: 'demo', database: 'none'}))).not.toContain('rdb-queenbee');
	});
});
