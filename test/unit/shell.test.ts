import {execFileSync} from 'node:child_process';
import {describe, expect, it} from 'vitest';
import {shellCommand, shq} from '../../source/shell.js';

describe('shq', () => {
	it('leaves plain words alone and quotes the rest', () => {
		expect(shq('docker')).toBe('docker');
		expect(shq('10.0.0.1:2377')).toBe('10.0.0.1:2377');
		expect(shq('')).toBe("''");
		expect(shq("it's")).toBe("'it'\\''s'");
		expect(shq('{{json .}}')).toBe("'{{json .}}'");
	});

	it.each(["it's", '$(rm -rf /)', '`id`', 'a b\tc\nd', '"quoted"', '\\', '*', '; echo pwned', "''"])(
		'survives a real shell: %j',
		value => {
			const printed = execFileSync('/bin/sh', ['-c', `printf %s ${shq(value)}`], {encoding: 'utf8'});
			expect(printed).toBe(value);
		},
	);

	it('joins argv', () => {
		expect(shellCommand(['docker', 'info', '--format', '{{json .Swarm}}'])).toBe(
			"docker info --format '{{json .Swarm}}'",
		);
	});
});
