import {readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {afterAll, expect, it} from 'vitest';
import {cli, newHome, purge, uniqueName} from './helpers.js';
import {describeInTmux, openTerminal, type Terminal} from './tmux.js';

/**
 * The real CLI in a real terminal (tmux, 100x45): the start screen, the
 * wizard answered by keystrokes, the live run view building a 1+1 local
 * cluster, then the dashboard, quit with q.
 */
describeInTmux('the terminal UI, driven in tmux', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-tui');
	const stopped = uniqueName('e2e-tui-stop');
	let terminal: Terminal | undefined;
	const terminals: Terminal[] = [];
	const start = (label: string, args: string[]) => {
		terminal = openTerminal(label, args, {home});
		terminals.push(terminal);
	};
	const keys = (...k: string[]) => terminal!.keys(...k);
	/** The whole pane, scrollback included, wrapped lines joined. */
	const screen = () => terminal!.screen(true);
	const waitFor = (expected: string | RegExp, timeoutMs = 60_000) => terminal!.waitFor(expected, timeoutMs);

	afterAll(async () => {
		for (const t of terminals) t.kill();
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
		const steps = ['preflight', 'keys', 'machines', 'provision', 'swarm', 'network', 'deploy', 'tables', 'verify'];
		await waitFor(new RegExp(`swarmbee up ${name} \\(local\\): Preflight checks, SSH keys, Machines, Provision`));
		// While it ran: a spinner on a running step, a row per node.
		await waitFor(/r refresh · \? help · q quit/, 10 * 60_000);
		const seen = terminal!.seen;
		expect(seen.some(text => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] \S.* {2}\d/m.test(text))).toBe(true);
		expect(seen.some(text => /^. queenbee +\S+/m.test(text) && /^. workerbee-1 +\S+/m.test(text))).toBe(true);

		// The dashboard (on the alternate screen), after it has asked the nodes: the headline is live.
		const watched = await waitFor(/swarm: 1 manager, 1 worker, 2 of 2 Ready/, 60_000);
		expect(watched).toContain(`${name} (local): ready`);
		expect(watched).toMatch(/NODE +ROLE +STATE +CPU +MEMORY +ADDRESS/);
		expect(watched).toMatch(/queenbee +manager +ready +(\d+%|-) +\d+M\/1\.0G \d+% +10\.\S+/);
		expect(watched).toMatch(/workerbee-1 +worker +ready/);
		expect(watched).toContain('SERVICES');
		expect(watched).toContain('RETHINKDB  not deployed');
		expect(watched).toContain('TUNNEL');
		expect(watched).toMatch(/r refresh · \? help · q quit/);
		keys('q');
		// The alternate screen gives the shell's back: the run view, as it was left, every step finished with its duration, then done.
		const finishedRun = await waitFor('EXIT=0', 30_000);
		const finished = finishedRun.split('\n').filter(line => /^✔ .+ \((\d+m)?\d+(\.\d+)?m?s\): /.test(line));
		expect(finished).toHaveLength(steps.length);
		expect(finishedRun).toMatch(/✔ done in \d/);
		expect(finishedRun).not.toContain('q quit');

		const profiles = JSON.parse(readFileSync(path.join(home, 'profiles.json'), 'utf8')) as {
			profiles: Record<string, {workers: number}>;
		};
		expect(profiles.profiles[name]).toMatchObject({workers: 1, size: 's-1vcpu-1gb'});
	});

	it('Ctrl-C in the run view: the run stops, state is saved, the view says how to resume', async () => {
		start(stopped, ['up', stopped, '--workers', '1', '--database', 'none', '--yes']);
		await waitFor(/^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (queenbee|workerbee-1) +(creating|booting)/m, 120_000);
		keys('C-c');
		const text = await waitFor('EXIT=130', 120_000);
		expect(text).toContain('! Ctrl-C: stopping, saving state (press again to quit at once)');
		expect(text).toMatch(
			new RegExp(`■ cancelled after \\d+(\\.\\d+)?m?s; state saved\\. Resume with: swarmbee up ${stopped}`),
		);
		const journal = JSON.parse(readFileSync(path.join(home, 'clusters', stopped, 'journal.json'), 'utf8')) as {
			state: string;
		};
		expect(journal.state).toBe('cancelled');
	});
});
