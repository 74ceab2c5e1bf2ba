import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {mergeWithSaved, resolveSpec} from '../../source/spec.js';
import {runMain} from './run-main.js';

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
	const home = mkdtempSync(path.join(tmpdir(), 'sb-cli-'));
	try {
		return await runMain(argv, {SWARMBEE_HOME: home, ...env});
	} finally {
		rmSync(home, {recursive: true, force: true});
	}
}

describe('cli', () => {
	it('prints help and version', async () => {
		expect((await run(['--help'])).out).toContain('swarmbee up [NAME]');
		expect((await run(['--version'])).out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
	});

	it('refuses unknown commands and flags with exit 2 and a pointer', async () => {
		const unknown = await run(['launch']);
		expect(unknown.code).toBe(2);
		expect(unknown.err).toContain('unknown command "launch"');
		const flag = await run(['up', 'demo', '--wrokers', '3']);
		expect(flag.code).toBe(2);
		expect(flag.err).toMatch(/--wrokers/);
	});

	it('refuses bad input before anything else, all problems at once', async () => {
		const result = await run(['up', 'Bad_Name', '--workers', '0', '--memory-limit', 'lots', '--yes']);
		expect(result.code).toBe(2);
		expect(result.err).toContain('3 problems');
		expect(result.err).toContain('name: use 1-40 lowercase letters');
		expect(result.err).toContain('workers: choose a whole number from 1 to 50');
		expect(result.err).toContain('memory-limit: write a number with a unit');
	});

	it('takes --replicas from 1 to 9, and an emergency repair only with --yes and a mode RethinkDB offers', async () => {
		const zero = await run(['up', 'demo', '--replicas', '0', '--yes']);
		expect(zero.code).toBe(2);
		expect(zero.err).toContain('replicas: 0 is not a replica count');
		expect(zero.err).toContain('choose a whole number from 1 to 9');
		const unconfirmed = await run(['up', 'demo', '--emergency-repair', 'unsafe_rollback']);
		expect(unconfirmed.code).toBe(2);
		expect(unconfirmed.err).toContain(
			'--emergency-repair unsafe_rollback can lose data and needs --yes on the same command line',
		);
		expect(unconfirmed.err).toContain('swarmbee up demo --emergency-repair unsafe_rollback --yes');
		const unknown = await run(['up', 'demo', '--emergency-repair', 'yolo', '--yes']);
		expect(unknown.code).toBe(2);
		expect(unknown.err).toContain('--emergency-repair yolo is not a repair RethinkDB offers');
	});

	it('asks for --yes when it cannot ask', async () => {
		const result = await run(['up', 'demo']);
		expect(result.code).toBe(2);
		expect(result.err).toContain('pass --yes');
	});

	it('--json errors are JSON on stdout too', async () => {
		const result = await run(['status', 'nothing-here', '--json']);
		expect(result.code).toBe(2);
		expect(JSON.parse(result.out)).toMatchObject({type: 'error', error: {kind: 'input'}});
	});
});

describe('no terminal: no prompts', () => {
	it('up without a name lists the flags that answer the questions', async () => {
		const result = await run(['up']);
		expect(result.code).toBe(2);
		expect(result.err).toContain('error: up without a cluster name needs answers, and there is no terminal to ask in');
		expect(result.err).toContain(
			'try: pass them as flags: swarmbee up NAME [--provider local|digitalocean] [--workers N] [--managers 1|3] [--size SLUG] [--region SLUG] [--image SLUG] [--memory-limit SIZE] [--database rethinkdb|none] [--rethinkdb-image IMAGE] [--profile NAME] --yes',
		);
		expect(result.err).toContain('$DIGITALOCEAN_ACCESS_TOKEN');
	});

	it('swarmbee alone prints the help instead of a start screen', async () => {
		const result = await run([]);
		expect(result.code).toBe(0);
		expect(result.out).toContain('Usage');
	});
});

describe('mergeWithSaved', () => {
	const saved = resolveSpec({name: 'demo', workers: '3'});

	it('resumes with the saved spec when no flags are given', () => {
		expect(mergeWithSaved(saved, 'demo', {})).toEqual(saved);
	});

	it('accepts flags that repeat what was saved', () => {
		expect(mergeWithSaved(saved, 'demo', {workers: '3', provider: 'local'})).toEqual(saved);
	});

	it('refuses flags that ask for a different cluster, saying what to do', () => {
		expect(() => mergeWithSaved(saved, 'demo', {workers: '5'})).toThrow(/exists with --workers 3, not 5/);
	});
});

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

describe('status options (issue 15)', () => {
	it("takes the tunnel ports, refusing a bad one with the fix rather than the parser's words", async () => {
		const bad = await run(['status', 'demo', '--admin-port', '80800']);
		expect(bad.code).toBe(2);
		expect(bad.err).toContain('--admin-port 80800 is not a TCP port');
		expect(bad.err).toContain('give a number from 1 to 65535');
		const good = await run(['status', 'demo', '--admin-port', '8081', '--driver-port', '28016']);
		expect(good.err).not.toMatch(/Unknown option/);
		expect(good.err).toContain('demo');
	});
});
