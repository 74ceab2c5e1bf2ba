import {spawnSync} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';
import {parseLogsArgs} from '../../source/commands/logs.js';
import {playbookProblem, resolveSpec} from '../../source/spec.js';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {newJournal} from '../../source/store/journal.js';
import {runMain} from './run-main.js';

/**
 * Issue 23, item 7: the smaller bad inputs. Each refused with what is
 * wrong and how to fix it (exit 2), before anything is created.
 */

const CLI = path.resolve(import.meta.dirname, '../../dist/source/cli.js');
/**
 * No Docker engine for these commands: each case is refused before any
 * engine is asked, and if that ever regresses the run fails here instead
 * of creating a cluster on the shared engine (a refusal missing on main
 * once made a real 1+2 "demo" out of `up demo --workers -1 --workers=2`).
 */
const NO_ENGINE = 'unix:///nonexistent/docker.sock';
beforeEach(() => {
	vi.stubEnv('DOCKER_HOST', NO_ENGINE);
});
afterEach(() => {
	vi.unstubAllEnvs();
});
const homes: string[] = [];
afterEach(() => {
	for (const home of homes.splice(0)) rmSync(home, {recursive: true, force: true});
});

function newHome(): string {
	const home = mkdtempSync(path.join(tmpdir(), 'sb-bad-'));
	homes.push(home);
	return home;
}

describe('scale that would create machines needs a yes', () => {
	it('scale demo --workers 2 without --yes and without a terminal is refused, and creates nothing', () => {
		const home = newHome();
		const store = new ClusterStore(home);
		store.saveSpec(resolveSpec({name: 'demo', workers: 1, database: 'none'}));
		const journal = newJournal('demo', 'local', 'owner-1');
		journal.state = 'ready';
		writeFileSync(store.paths('demo').journal, `${JSON.stringify(journal, null, 2)}\n`, {mode: 0o600});
		const before = readdirSync(store.paths('demo').dir).map(f => [
			f,
			readFileSync(path.join(store.paths('demo').dir, f), 'utf8'),
		]);
		// Its own process, and no Docker engine to reach: whatever it would do, it could create nothing here.
		const result = spawnSync(process.execPath, [CLI, 'scale', 'demo', '--workers', '2', '--plain'], {
			env: {SWARMBEE_HOME: home, PATH: process.env['PATH'], DOCKER_HOST: NO_ENGINE},
			encoding: 'utf8',
			stdio: ['ignore', 'pipe', 'pipe'],
			timeout: 30_000,
		});
		expect(result.status).toBe(2);
		expect(result.stderr).toContain('adding 1 node to demo needs confirmation, and there is no terminal to ask in');
		expect(result.stderr).toContain('pass --yes: swarmbee scale demo --workers 2 --yes');
		expect(
			readdirSync(store.paths('demo').dir).map(f => [f, readFileSync(path.join(store.paths('demo').dir, f), 'utf8')]),
		).toEqual(before);
	});
});

describe('an option given twice is refused, for every command, with both values', () => {
	it.each([
		[['scale', 'demo', '--workers', '1', '--workers', '2'], '--workers is given twice (1, then 2): give it once'],
		[['logs', 'demo', '--lines', '3', '--lines', '4'], '--lines is given twice (3, then 4): give it once'],
		[['logs', 'demo', '-n', '3', '--lines', '4'], '--lines is given twice (3, then 4): give it once'],
		[['up', 'demo', '--workers', '-1', '--workers=2', '--yes'], '--workers is given twice (-1, then 2): give it once'],
		[['up', 'demo', '--yes', '-y'], '--yes is given twice: give it once'],
		[
			['tunnel', 'demo', '--admin-port', '1', '--admin-port', '2', '--admin-port', '3'],
			'--admin-port is given 3 times (1, then 2, then 3): give it once',
		],
		[
			['backup', 'demo', '--out', 'a', '--out', 'b\u001b[2J'],
			'--out is given twice (a, then "b\\u001b[2J"): give it once',
		],
	])('%j', async (argv, says) => {
		const home = newHome();
		const result = await runMain(argv, {SWARMBEE_HOME: home});
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${says}`);
		expect(result.err).toContain(`see swarmbee ${argv[0]} --help`);
		expect(result.err).not.toContain('\u001b');
		expect(readdirSync(home)).toEqual([]);
	});

	it('after -- everything is the command for the node, repeated or not', async () => {
		const home = newHome();
		const result = await runMain(['ssh', 'demo', '--', 'grep', '-e', 'a', '-e', 'b'], {SWARMBEE_HOME: home});
		expect(result.err).not.toContain('given twice');
		expect(result.err).toContain('there is no cluster named demo');
	});
});

describe('logs --lines is bounded', () => {
	it.each(['99999999999999999999', '0', '1000001', '-5', '1e3', '12abc'])('--lines %s is refused', async lines => {
		const home = newHome();
		const result = await runMain(['logs', 'demo', `--lines=${lines}`], {SWARMBEE_HOME: home});
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: --lines ${lines} is not a number of lines swarmbee can ask for`);
		expect(result.err).toContain('give a whole number from 1 to 1,000,000, or all');
	});

	it('1 to 1,000,000, or all, is what reaches the node', () => {
		expect(parseLogsArgs({lines: '1000000'}, ['demo']).lines).toBe(1_000_000);
		expect(parseLogsArgs({lines: '1'}, ['demo']).lines).toBe(1);
		expect(parseLogsArgs({lines: 'all'}, ['demo']).lines).toBe('all');
		expect(parseLogsArgs({}, ['demo']).lines).toBe(100);
	});
});

describe('a playbook whose aliases cannot be read', () => {
	/** Nine levels of nine aliases each: 9^9 strings once expanded. */
	const laughs = [
		'- hosts: all',
		'  vars:',
		'    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
		...Array.from(
			{length: 9},
			(_, i) => `    a${i + 1}: &a${i + 1} [${Array.from({length: 9}, () => `*a${i}`).join(', ')}]`,
		),
		'',
	].join('\n');

	it.each([
		[
			'an undefined alias',
			'- hosts: all\n  tasks:\n    - name: x\n      debug: {msg: *nope}\n',
			'is not valid YAML (line 4, column 20): the alias *nope names no anchor (&nope) set before it',
		],
		['billion laughs', laughs, 'expands its aliases too far (aliases of aliases: a "billion laughs" file?)'],
	])('%s: up names the file and the fix, before anything is created', async (_what, contents, says) => {
		const home = newHome();
		const playbook = path.join(home, 'user.yml');
		writeFileSync(playbook, contents);
		const result = await runMain(['up', 'demo', '--playbook', playbook, '--database', 'none', '--yes'], {
			SWARMBEE_HOME: home,
		});
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: playbook: ${playbook} ${says}`);
		expect(result.err).toContain('fix the file (an Ansible playbook');
		expect(existsSync(path.join(home, 'clusters'))).toBe(false);
	});

	it('one anchor used a few hundred times, as Ansible reads it, passes', () => {
		const home = newHome();
		const playbook = path.join(home, 'many.yml');
		const uses = Array.from({length: 300}, (_, i) => `    v${i}: *a`).join('\n');
		writeFileSync(playbook, `- hosts: all\n  vars:\n    a: &a x\n${uses}\n`);
		expect(playbookProblem(playbook)).toBeUndefined();
	});
});
