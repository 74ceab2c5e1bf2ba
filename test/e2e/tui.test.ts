import {execFileSync} from 'node:child_process';
import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {afterAll, expect, it} from 'vitest';
import {shq} from '../../source/shell.js';
import {cli, CLI, describeWithEngine, hasTmux, newHome, purge, uniqueName} from './helpers.js';

if (!hasTmux() && process.env['CI']) throw new Error('CI is set but tmux is missing: the terminal UI test drives the CLI in tmux (apt-get install tmux)');
const describeInTmux = hasTmux() ? describeWithEngine : describeWithEngine.skip;

/**
 * The real CLI in a real terminal (tmux, 100x45): the start screen, the
 * wizard answered by keystrokes, the live run view building a 1+1 local
 * cluster, then the dashboard, quit with q.
 */
describeInTmux('the terminal UI, driven in tmux', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-tui');
	const stopped = uniqueName('e2e-tui-stop');
	let session = '';
	const sessions: string[] = [];
	const tmux = (...args: string[]) => execFileSync('tmux', args, {encoding: 'utf8'});
	const keys = (...k: string[]) => tmux('send-keys', '-t', session, ...k);
	/** The whole pane, scrollback included, wrapped lines joined. */
	const screen = () => tmux('capture-pane', '-p', '-J', '-t', session, '-S', '-1000');
	let seen: string[] = [];

	/** Runs `swarmbee ARGS` in a fresh 100x45 tmux session, as in a user's terminal (no CI variables: Ink draws only a final frame in CI). */
	function start(label: string, args: string[]): void {
		session = `swarmbee-${label}`;
		sessions.push(session);
		seen = [];
		const command = `env -u CI -u CONTINUOUS_INTEGRATION SWARMBEE_HOME=${shq(home)} ${[process.execPath, CLI, ...args].map(shq).join(' ')}; echo "EXIT=$?"; sleep 600`;
		tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '45', command);
	}

	async function waitFor(expected: string | RegExp, timeoutMs = 60_000): Promise<string> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const text = screen();
			seen.push(text);
			if (typeof expected === 'string' ? text.includes(expected) : expected.test(text)) return text;
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(expected)}; screen:\n${text}`);
			await new Promise(resolve => setTimeout(resolve, 200));
		}
	}

	afterAll(async () => {
		for (const s of sessions) {
			try {
				tmux('kill-session', '-t', s);
			} catch {
				// Already gone.
			}
		}
		for (const cluster of [name, stopped]) {
			await cli(['down', cluster, '--yes', '--forget', '--force'], home);
			purge(cluster);
		}
		remove();
	});

	it('Ctrl-C in the wizard leaves cleanly: nothing created, exit 130', async () => {
		start(`${name}-wizard`, []);
		await waitFor('What now?', 30_000);
		keys('Enter');
		await waitFor('Where should the nodes run?');
		keys('C-c');
		const text = await waitFor('EXIT=130');
		expect(text).toContain('cancelled: nothing was created.');
		expect(text).not.toMatch(/at \S+ \(.*:\d+:\d+\)/);
		expect(readdirSync(home)).not.toContain('clusters');
	});

	it('start screen → wizard → live run view → dashboard → q', async () => {
		start(name, []);
		await waitFor('What now?', 30_000);
		expect(screen()).toContain(`No saved clusters in ${home} yet.`);
		keys('Enter');
		await waitFor('Where should the nodes run?');
		keys('Enter');
		await waitFor('Cluster name');
		keys('C-u', name, 'Enter');
		await waitFor('Size of each node');
		keys('Enter');
		await waitFor('Workers besides queenbee');
		keys('1', 'Enter');
		await waitFor('Swarm managers');
		keys('Enter');
		// The Swarm only: RethinkDB has its own end-to-end suites.
		await waitFor('Database');
		keys('Down', 'Enter');
		const summary = await waitFor(`Create ${name}?`);
		expect(summary).toMatch(/queenbee +manager +s-1vcpu-1gb +1 GiB +1 +-/);
		expect(summary).toMatch(/workerbee-1 +worker +s-1vcpu-1gb +1 GiB +1 +-/);
		expect(summary).toContain('monthly cost: nothing billed');
		keys('Enter');

		// The header names every step (it may wrap at 100 columns).
		const steps = ['preflight', 'keys', 'machines', 'provision', 'swarm', 'network', 'deploy', 'verify'];
		await waitFor(new RegExp(`swarmbee up ${name} \\(local\\): preflight, keys, machines, provision`));
		const dashboard = await waitFor('q quit · r refresh', 10 * 60_000);

		// The run view, as it was left on screen: every step finished with its duration, then done.
		const finished = dashboard.split('\n').filter(line => /^✔ .+ \((\d+m)?\d+(\.\d+)?m?s\): /.test(line));
		expect(finished).toHaveLength(steps.length);
		expect(dashboard).toMatch(/✔ done in \d/);
		// While it ran: a spinner on a running step, a row per node.
		expect(seen.some(text => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \S.* {2}\d/m.test(text))).toBe(true);
		expect(seen.some(text => /^. queenbee +\S+/m.test(text) && /^. workerbee-1 +\S+/m.test(text))).toBe(true);

		// The dashboard, after it has asked the nodes.
		const watched = await waitFor(/swarm: 1 manager, 1 worker, 2 of 2 Ready/, 60_000);
		expect(watched).toContain(`${name} (local): ready`);
		expect(watched).toMatch(/NODE +ROLE +STATE +PUBLIC +PRIVATE +LOAD/);
		expect(watched).toMatch(/queenbee +manager +ready +10\.\S+ +10\.\S+ +\d+\.\d\d \d+\.\d\d \d+\.\d\d/);
		expect(watched).toMatch(/workerbee-1 +worker +ready/);
		expect(watched).toContain('SERVICES');
		expect(watched).toContain('RETHINKDB');
		expect(watched).toContain('TUNNELS');
		keys('q');
		await waitFor('EXIT=0', 30_000);

		const profiles = JSON.parse(readFileSync(path.join(home, 'profiles.json'), 'utf8')) as {profiles: Record<string, {workers: number}>};
		expect(profiles.profiles[name]).toMatchObject({workers: 1, size: 's-1vcpu-1gb'});
	});

	it('Ctrl-C in the run view: the run stops, state is saved, the view says how to resume', async () => {
		start(stopped, ['up', stopped, '--workers', '1', '--database', 'none', '--yes']);
		await waitFor(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (queenbee|workerbee-1) +(creating|booting)/m, 120_000);
		keys('C-c');
		const text = await waitFor('EXIT=130', 120_000);
		expect(text).toContain('! Ctrl-C: stopping, saving state (press again to quit at once)');
		expect(text).toMatch(new RegExp(`■ cancelled after \\d+(\\.\\d+)?m?s; state saved\\. Resume with: swarmbee up ${stopped}`));
		const journal = JSON.parse(readFileSync(path.join(home, 'clusters', stopped, 'journal.json'), 'utf8')) as {state: string};
		expect(journal.state).toBe('cancelled');
	});
});
