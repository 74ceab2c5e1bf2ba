import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {PassThrough} from 'node:stream';
import {describe, expect, it} from 'vitest';
import {main} from '../../source/main.js';

async function run(argv: string[]) {
	const stdout = new PassThrough();
	const stderr = new PassThrough();
	let out = '';
	let err = '';
	stdout.on('data', c => (out += c));
	stderr.on('data', c => (err += c));
	const home = mkdtempSync(path.join(tmpdir(), 'sb-cli-'));
	try {
		const code = await main(argv, {stdout, stderr, interactive: false, env: {SWARMBEE_HOME: home}});
		return {code, out, err};
	} finally {
		rmSync(home, {recursive: true, force: true});
	}
}

describe('backup and restore on the command line: bad input is exit 2, before any connection', () => {
	it('are in the help', async () => {
		const help = (await run(['--help'])).out;
		expect(help).toContain('swarmbee backup NAME [--out FILE|DIR] [--tables DB[.TABLE],...]');
		expect(help).toContain('swarmbee restore NAME FILE [--tables DB[.TABLE],...] [--force] [--yes]');
	});

	it('backup: an unknown cluster, a bad --tables', async () => {
		const unknown = await run(['backup', 'nothing-here']);
		expect(unknown.code).toBe(2);
		expect(unknown.err).toContain('there is no cluster named nothing-here');
		const tables = await run(['backup', 'demo', '--tables', 'a.b.c']);
		expect(tables.code).toBe(2);
		expect(tables.err).toContain('"a.b.c" is not DB or DB.TABLE');
	});

	it('restore: a missing archive, a missing argument, an unknown cluster', async () => {
		expect((await run(['restore', 'demo'])).err).toContain('restore takes a cluster name and an archive');
		const missing = await run(['restore', 'demo', '/nowhere/x.tar.gz']);
		expect(missing.code).toBe(2);
		expect(missing.err).toContain('there is no archive /nowhere/x.tar.gz');
		const dir = mkdtempSync(path.join(tmpdir(), 'sb-archive-'));
		try {
			writeFileSync(path.join(dir, 'a.tar.gz'), 'x');
			const unknown = await run(['restore', 'nothing-here', path.join(dir, 'a.tar.gz'), '--json']);
			expect(unknown.code).toBe(2);
			expect(JSON.parse(unknown.out)).toMatchObject({type: 'error', error: {kind: 'input'}});
		} finally {
			rmSync(dir, {recursive: true, force: true});
		}
	});
});
