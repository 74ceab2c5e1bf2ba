import {describe, expect, it} from 'vitest';
import {errorInfo, exitCodeFor, InputError, toSwarmbeeError} from '../../source/errors.js';
import {formatError} from '../../source/render/format.js';

describe('errors that are not ours', () => {
	it('a TypeError or a bare Error is a bug in swarmbee, with what to report; its stack only with --verbose', () => {
		const typeError = (() => {
			try {
				(undefined as unknown as {name: string}).name;
			} catch (error) {
				return error;
			}
		})();
		const info = errorInfo(typeError);
		expect(info.kind).toBe('bug');
		expect(info.message).toMatch(/^TypeError: Cannot read properties of undefined/);
		expect(info.nextSteps[0]).toMatch(/bug in swarmbee, not something you did: please report it/);
		expect(formatError(info)[0]).toMatch(/^bug: TypeError/);
		expect(formatError(info).join('\n')).not.toContain('stack:');
		expect(formatError(info, {verbose: true}).join('\n')).toMatch(/stack:\n\s+TypeError[\s\S]*at /);
		expect(errorInfo(new Error('the network step records both overlays before deploy runs')).kind).toBe('bug');
		expect(exitCodeFor(typeError)).toBe(1);
	});

	it('what comes from outside stays external: the OS (errno), SSH (level), the database driver, a child process', () => {
		const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:22'), {code: 'ECONNREFUSED', errno: -111});
		const ssh = Object.assign(new Error('All configured authentication methods failed'), {
			level: 'client-authentication',
		});
		const reql = Object.assign(new Error('Could not connect to 10.0.0.1:28015'), {name: 'ReqlDriverError'});
		for (const error of [refused, ssh, reql]) expect(toSwarmbeeError(error).kind).toBe('external');
		expect(toSwarmbeeError(new InputError('bad')).kind).toBe('input');
	});
});
