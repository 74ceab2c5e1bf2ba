import {spawnSync} from 'node:child_process';
import {
	chmodSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	statSync,
	symlinkSync,
	writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, beforeEach, describe, expect, it, vi} from 'vitest';
import {resolveSpec} from '../../source/spec.js';
import {generateKeyPair, saveKeyPair} from '../../source/ssh/keys.js';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {newJournal} from '../../source/store/journal.js';
import {runMain} from './run-main.js';

/**
 * Issue 23, item 5: state folders that are not what they seem. Each through
 * the command line as a user meets it: refused with what is wrong and what
 * to do (exit 2), and nothing outside the state folder read or written,
 * nothing blocked on, no lock left, no file of the user's rewritten.
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
	for (const home of homes.splice(0)) {
		chmodSync(home, 0o700);
		rmSync(home, {recursive: true, force: true});
	}
});

function newHome(): string {
	const home = mkdtempSync(path.join(tmpdir(), 'sb-state-'));
	homes.push(home);
	return home;
}

function run(argv: string[], home: string) {
	return runMain(argv, {SWARMBEE_HOME: home});
}

/** The built CLI in a process of its own, killed after 20 s: a command that blocks fails the test instead of hanging it. */
function runProcess(argv: string[], home: string) {
	const result = spawnSync(process.execPath, [CLI, ...argv], {
		env: {SWARMBEE_HOME: home, PATH: process.env['PATH'], DOCKER_HOST: NO_ENGINE},
		encoding: 'utf8',
		timeout: 20_000,
	});
	return {code: result.status, signal: result.signal, out: result.stdout, err: result.stderr};
}

/** Every file under a folder with its contents and mode: what must not change. */
function snapshot(dir: string): Record<string, string> {
	return Object.fromEntries(
		readdirSync(dir, {recursive: true, encoding: 'utf8'})
			.sort()
			.map(name => {
				const file = path.join(dir, name);
				const mode = (statSync(file).mode & 0o777).toString(8);
				return [name, statSync(file).isDirectory() ? `folder ${mode}` : `${mode} ${readFileSync(file, 'utf8')}`];
			}),
	);
}

/** A cluster as `up` leaves one (spec, journal, keys and a host key), no machines behind it. */
function savedCluster(home: string, name: string): ClusterStore {
	const store = new ClusterStore(home);
	store.saveSpec(resolveSpec({name, workers: 1, database: 'none'}));
	const journal = newJournal(name, 'local', 'owner-1');
	journal.state = 'ready';
	writeFileSync(store.paths(name).journal, `${JSON.stringify(journal, null, 2)}\n`, {mode: 0o600});
	saveKeyPair(store.paths(name).clusterKey, generateKeyPair(`swarmbee-${name}`));
	saveKeyPair(path.join(store.paths(name).hostKeysDir, 'queenbee'), generateKeyPair('queenbee'));
	return store;
}

describe('a link in the state folder is never followed out of it', () => {
	it('clusters/NAME linking to a cluster elsewhere: down --forget, status and up refuse and touch nothing there; ls says why', async () => {
		const home = newHome();
		const elsewhere = newHome();
		savedCluster(elsewhere, 'demo');
		const target = path.join(elsewhere, 'clusters', 'demo');
		mkdirSync(path.join(home, 'clusters'), {mode: 0o700});
		symlinkSync(target, path.join(home, 'clusters', 'demo'));
		const before = snapshot(elsewhere);
		for (const argv of [
			['down', 'demo', '--forget', '--yes'],
			['status', 'demo', '--once'],
			['up', 'demo', '--yes'],
			['scale', 'demo', '--workers', '2', '--yes'],
			['env', 'demo'],
			['env', 'demo', '--unset'],
		]) {
			const result = await run(argv, home);
			expect(result.code, argv.join(' ')).toBe(2);
			expect(result.err).toContain(`error: ${path.join(home, 'clusters', 'demo')} is a symbolic link to ${target}`);
			expect(result.err).toContain('never follows a link out of it');
			expect(result.err).toContain('point SWARMBEE_HOME at that folder');
		}
		// Its journal not rewritten, its host keys still there, no lock left in it.
		expect(snapshot(elsewhere)).toEqual(before);
		expect(existsSync(path.join(target, 'lock'))).toBe(false);

		const ls = await run(['ls'], home);
		expect(ls.code).toBe(1);
		expect(ls.err).toContain(
			`error: cluster demo cannot be read: ${path.join(home, 'clusters', 'demo')} is a symbolic link`,
		);
		const json = JSON.parse((await run(['ls', '--json'], home)).out);
		expect(json.damaged).toEqual([expect.objectContaining({name: 'demo', file: path.join(home, 'clusters', 'demo')})]);
	});

	it('a linked docker/ folder: env refuses, and makes no socket or log where it points', async () => {
		const home = newHome();
		const elsewhere = newHome();
		const docker = path.join(savedCluster(home, 'demo').paths('demo').dir, 'docker');
		symlinkSync(elsewhere, docker);
		const result = await run(['env', 'demo'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`${docker} is a symbolic link to ${elsewhere}`);
		expect(readdirSync(elsewhere)).toEqual([]);
	});

	it('a linked journal.json or spec.json is refused, naming the link, and not read', async () => {
		const home = newHome();
		const elsewhere = newHome();
		const store = savedCluster(home, 'demo');
		const outside = path.join(elsewhere, 'journal.json');
		writeFileSync(outside, readFileSync(store.paths('demo').journal));
		rmSync(store.paths('demo').journal);
		symlinkSync(outside, store.paths('demo').journal);
		const result = await run(['status', 'demo', '--once'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${store.paths('demo').journal} is a symbolic link to ${outside}`);
		expect((await run(['up', 'demo', '--yes'], home)).code).toBe(2);
		expect(existsSync(store.paths('demo').lock)).toBe(false);
		rmSync(store.paths('demo').journal);
		writeFileSync(store.paths('demo').journal, readFileSync(outside), {mode: 0o600});
		const spec = path.join(elsewhere, 'spec.json');
		writeFileSync(spec, readFileSync(store.paths('demo').spec));
		rmSync(store.paths('demo').spec);
		symlinkSync(spec, store.paths('demo').spec);
		expect((await run(['status', 'demo', '--once'], home)).err).toContain(
			`error: ${store.paths('demo').spec} is a symbolic link to ${spec}`,
		);
	});
});

describe('a FIFO, a socket or a folder where a state file should be', () => {
	it('a FIFO as journal.json: ls and status answer at once, naming it, instead of hanging', () => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		savedCluster(home, 'healthy');
		rmSync(store.paths('demo').journal);
		spawnSync('mkfifo', [store.paths('demo').journal]);
		expect(statSync(store.paths('demo').journal).isFIFO()).toBe(true);
		const ls = runProcess(['ls'], home);
		expect(ls.signal).toBeNull();
		expect(ls.code).toBe(1);
		expect(ls.out).toMatch(/^NAME .*\nhealthy /);
		expect(ls.err).toContain(`${store.paths('demo').journal} is a FIFO (named pipe), not a file`);
		const status = runProcess(['status', 'demo', '--once'], home);
		expect(status.signal).toBeNull();
		expect(status.code).toBe(2);
		expect(status.err).toContain(`error: ${store.paths('demo').journal} is a FIFO (named pipe), not a file`);
		expect(status.err).toContain(`mv ${store.paths('demo').journal} ${store.paths('demo').journal}.damaged`);
	});

	it('a folder as spec.json, a FIFO as the password: named, not read', async () => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		rmSync(store.paths('demo').spec);
		mkdirSync(store.paths('demo').spec);
		const spec = await run(['status', 'demo', '--once'], home);
		expect(spec.code).toBe(2);
		expect(spec.err).toContain(`error: ${store.paths('demo').spec} is a folder, not a file`);

		const other = savedCluster(home, 'other');
		spawnSync('mkfifo', ['-m', '600', other.paths('other').rethinkdbPassword]);
		const password = runProcess(['status', 'other', '--once'], home);
		expect(password.signal).toBeNull();
		expect(password.code).toBe(2);
		expect(password.err).toContain(`${other.paths('other').rethinkdbPassword} is a FIFO (named pipe), not a file`);
	});
});

describe('SWARMBEE_HOME itself', () => {
	it('a regular file: every command says so and how to fix it (not "no clusters"); the file is left as it is', async () => {
		const dir = newHome();
		const file = path.join(dir, 'home');
		writeFileSync(file, 'notes\n');
		for (const argv of [
			['ls'],
			['status', 'demo', '--once'],
			['up', 'demo', '--yes'],
			['up', 'demo', '--profile', 'p'],
		]) {
			const result = await run(argv, file);
			expect(result.code, argv.join(' ')).toBe(2);
			expect(result.err).toContain(`error: swarmbee's state folder ${file} is a file, not a folder`);
			expect(result.err).toContain('point SWARMBEE_HOME at a folder');
			expect(result.out).not.toContain('no clusters');
		}
		expect(readFileSync(file, 'utf8')).toBe('notes\n');
	});
});

describe('loose modes are refused, saying which file or folder and the chmod that fixes it', () => {
	it.each([
		[
			'the cluster folder 0777',
			(s: ClusterStore) => s.paths('demo').dir,
			0o777,
			'can be written by other users (mode 0777)',
			'chmod 700',
		],
		[
			'keys/ 0775',
			(s: ClusterStore) => s.paths('demo').keysDir,
			0o775,
			'can be written by other users (mode 0775)',
			'chmod 700',
		],
		[
			'the password 0666',
			(s: ClusterStore) => s.paths('demo').rethinkdbPassword,
			0o666,
			'is open to other users (mode 0666)',
			'chmod 600',
		],
		[
			'the cluster key 0644',
			(s: ClusterStore) => s.paths('demo').clusterKey,
			0o644,
			'is open to other users (mode 0644)',
			'chmod 600',
		],
	])('%s', async (_what, pathOf, mode, says, fix) => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		writeFileSync(store.paths('demo').rethinkdbPassword, 'secret\n', {mode: 0o600});
		const target = pathOf(store);
		chmodSync(target, mode);
		const result = await run(['status', 'demo', '--once'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${target} ${says}`);
		expect(result.err).toContain(`${fix} ${target}`);
		// Refused, not changed behind the user's back: they decide.
		expect(statSync(target).mode & 0o777).toBe(mode);
		chmodSync(target, statSync(target).isDirectory() ? 0o700 : 0o600);
		expect((await run(['status', 'demo', '--once'], home)).err).not.toContain(says);
	});

	it('a state folder others can write is refused before anything is read from it', async () => {
		const home = newHome();
		savedCluster(home, 'demo');
		chmodSync(home, 0o777);
		const result = await run(['ls'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${home} can be written by other users (mode 0777)`);
	});
});

describe('a refused run leaves no lock', () => {
	it('up on a damaged journal', async () => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		writeFileSync(store.paths('demo').journal, '{"version": 1, "clus');
		const result = await run(['up', 'demo', '--yes'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain('is not valid JSON');
		expect(existsSync(store.paths('demo').lock)).toBe(false);
		// And the next command is not told another swarmbee is at work.
		expect((await run(['down', 'demo', '--yes'], home)).err).not.toContain('busy');
	});

	// A full disk, made for real: a 64 KiB tmpfs filled up, in a mount namespace of this user's own.
	const canMount = spawnSync('unshare', ['-Urm', 'true']).status === 0;
	it.runIf(canMount || process.env['CI'])('up on a full disk: says so, and leaves no lock and no folder', () => {
		const script = [
			'set -e',
			'mount -t tmpfs -o size=64k,mode=700 tmpfs "$SWARMBEE_HOME"',
			'dd if=/dev/zero of="$SWARMBEE_HOME/filler" bs=4k 2>/dev/null || true',
			'set +e',
			`"$NODE" "$CLI" up demo --database none --yes --plain >/dev/null 2>"$SWARMBEE_HOME/../stderr"; echo "exit=$?"`,
			'rm -f "$SWARMBEE_HOME/filler"',
			'find "$SWARMBEE_HOME" -mindepth 1 | sed "s|^$SWARMBEE_HOME/||" | sort',
		].join('\n');
		const work = newHome();
		const inner = path.join(work, 'home');
		mkdirSync(inner, {mode: 0o700});
		const result = spawnSync('unshare', ['-Urm', 'sh', '-c', script], {
			env: {SWARMBEE_HOME: inner, NODE: process.execPath, CLI, PATH: process.env['PATH'], DOCKER_HOST: NO_ENGINE},
			encoding: 'utf8',
			timeout: 60_000,
		});
		expect(result.stderr).toBe('');
		const [exit, ...left] = result.stdout.trim().split('\n');
		const stderr = readFileSync(path.join(work, 'stderr'), 'utf8');
		expect(exit, stderr).toBe('exit=2');
		expect(stderr).toContain('the disk is full (ENOSPC)');
		expect(stderr).toContain('free some space, then run the command again');
		// Nothing that would look like a cluster, or like another swarmbee at work.
		expect(left.filter(entry => entry.includes('demo'))).toEqual([]);
	});
});

describe('profiles.json of another shape is never rewritten by a refused command', () => {
	it.each(['[]', '{"other": 1}', '{"profiles": []}', '{"profiles": "p"}'])('%s', async contents => {
		const home = newHome();
		writeFileSync(path.join(home, 'profiles.json'), contents, {mode: 0o600});
		const result = await run(['up', 'demo', '--profile', 'p', '--yes'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${path.join(home, 'profiles.json')} does not hold profiles swarmbee can read`);
		expect(result.err).toContain('move it away');
		expect(readFileSync(path.join(home, 'profiles.json'), 'utf8')).toBe(contents);
		expect(readdirSync(home)).toEqual(['profiles.json']);
	});
});

describe('ls says what it skipped and why', () => {
	it('a folder no cluster could be named, an empty cluster folder: listed on stderr and in --json, the clusters as ever', async () => {
		const home = newHome();
		savedCluster(home, 'demo');
		mkdirSync(path.join(home, 'clusters', 'Not_A_Cluster'));
		mkdirSync(path.join(home, 'clusters', 'empty'));
		writeFileSync(path.join(home, 'clusters', 'notes\u001b[31m.txt'), 'x');
		const result = await run(['ls'], home);
		expect(result.code).toBe(0);
		expect(result.out).toMatch(/^NAME .*\ndemo /);
		expect(result.err).toContain(
			`skipped ${path.join(home, 'clusters', 'Not_A_Cluster')}: no cluster can have that name`,
		);
		expect(result.err).toContain(
			`skipped ${path.join(home, 'clusters', 'empty')}: holds neither spec.json nor journal.json`,
		);
		// A name from outside reaches the terminal with its control characters escaped.
		expect(result.err).toContain(`skipped ${path.join(home, 'clusters', '"notes\\u001b[31m.txt"')}`);
		expect(result.err).not.toContain('\u001b');
		const json = JSON.parse((await run(['ls', '--json'], home)).out);
		expect(json.skipped.map((s: {entry: string}) => path.basename(s.entry))).toEqual([
			'Not_A_Cluster',
			'empty',
			'"notes\\u001b[31m.txt"',
		]);
	});
});

describe('a saved spec with wrong types lists every problem, by the key spec.json spells', () => {
	it('status and ls say each, with its fix', async () => {
		const home = newHome();
		const store = savedCluster(home, 'demo');
		const spec = store.paths('demo').spec;
		writeFileSync(spec, JSON.stringify({name: 'demo', provider: 'local', workers: 'lots', memoryLimit: 5}), {
			mode: 0o600,
		});
		const result = await run(['status', 'demo', '--once'], home);
		expect(result.code).toBe(2);
		expect(result.err).toContain(`error: ${spec} does not describe a cluster swarmbee can build`);
		expect(result.err).toContain('"workers": lots is not a worker count swarmbee can build');
		expect(result.err).toContain('"memoryLimit": ');
		expect(result.err).toContain('"workers": choose a whole number from 1 to 50');
		const ls = await run(['ls'], home);
		expect(ls.err).toContain('"workers": lots is not a worker count swarmbee can build');
	});
});
