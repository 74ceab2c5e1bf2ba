import {PassThrough, Writable} from 'node:stream';
import {stripVTControlCharacters} from 'node:util';
import {describe, expect, it} from 'vitest';
import {InkRenderer} from '../../components/ink-renderer.js';
import {event} from '../../source/events.js';
import {runStart} from './helpers.js';

/** A terminal stand-in for the real Ink mount (not ink-testing-library's debug mode). */
function terminal() {
	let written = '';
	const stdout = Object.assign(
		new Writable({
			write(chunk, _encoding, done) {
				written += chunk.toString();
				done();
			},
		}),
		{isTTY: true, columns: 100, rows: 30},
	) as unknown as NodeJS.WriteStream;
	const raw: boolean[] = [];
	const stdin = Object.assign(new PassThrough(), {
		isTTY: true,
		setRawMode: (on: boolean) => raw.push(on),
		ref() {},
		unref() {},
	}) as unknown as NodeJS.ReadStream;
	return {terminal: {stdout, stdin, stderr: stdout}, text: () => stripVTControlCharacters(written), raw};
}

describe('InkRenderer', () => {
	it('close draws the last events before giving the terminal back', async () => {
		const t = terminal();
		const renderer = new InkRenderer(t.terminal, {onInterrupt: () => {}});
		for (const e of runStart()) renderer.handle(e);
		renderer.handle(
			event({
				type: 'step-finished',
				step: 'provision',
				durationMs: 3_000,
				changed: true,
				summary: '2 nodes provisioned',
			}),
		);
		renderer.handle(event({type: 'run-finished', durationMs: 12_000, changed: true, summary: 'done'}));
		await renderer.close();
		expect(t.text()).toContain('✔ Provision (3.0s): 2 nodes provisioned');
		expect(t.text()).toContain('✔ done in 12.0s: done');
		// Raw mode was taken for the keys and given back.
		expect(t.raw[0]).toBe(true);
		expect(t.raw.at(-1)).toBe(false);
	});
});
