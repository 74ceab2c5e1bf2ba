import {execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {startEmulator, type Emulator} from '../emulator/server.js';
import {cli, newHome, purge, rethinkdbImage, uniqueName} from './helpers.js';
import {describeInTmux, hasTmux, openTerminal, type Terminal} from './tmux.js';

/**
 * Issue 15's "done when", as a person sees it in a terminal: the dashboard
 * on a real cluster (a node stopped and back, the tunnel key, small
 * terminals), and the money on the DigitalOcean emulator (a price before
 * the question, an unsupported image refused, the droplets left after
 * Ctrl-C named with the down line).
 */
const SPINNER = /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /m;

(hasTmux() ? describe : describe.skip)('money on the DigitalOcean emulator', () => {
	const {home, remove} = newHome();
	const token = `sbtest_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
	const terminals: Terminal[] = [];
	let emulator: Emulator;
	let env: Record<string, string>;
	const writes = () =>
		emulator.count({method: 'POST'}) + emulator.count({method: 'PUT'}) + emulator.count({method: 'DELETE'});
	beforeAll(async () => {
		emulator = await startEmulator({tokens: [token], bootDelayMs: 1_000});
		env = {DIGITALOCEAN_API_URL: emulator.url, DIGITALOCEAN_ACCESS_TOKEN: token};
	});
	afterAll(async () => {
		for (const t of terminals) t.kill();
		await emulator?.close();
		remove();
	});

	it('plan --image fedora-42-x64 is refused before any write, naming the image and the supported ones', async () => {
		const result = await cli(
			['plan', 'e2e-mon-img', '--provider', 'digitalocean', '--image', 'fedora-42-x64'],
			home,
			env,
		);
		expect(result.exitCode).toBe(2);
		expect(result.stderr).toContain('image: fedora-42-x64 (Fedora 42 x64) cannot be set up by swarmbee');
		expect(result.stderr).toContain('which only Debian and Ubuntu have');
		expect(result.stderr).toMatch(/use one of: debian-12-x64, debian-13-x64, ubuntu-22-04-x64/);
		expect(writes()).toBe(0);
		expect(existsSync(path.join(home, 'clusters', 'e2e-mon-img'))).toBe(false);
	});

	it("up --provider digitalocean in a terminal shows each droplet's price before it asks; no creates nothing", async () => {
		const name = uniqueName('e2e-mon-price');
		const t = openTerminal(name, ['up', name, '--provider', 'digitalocean', '--workers', '2'], {
			home,
			env,
			columns: 120,
			rows: 30,
		});
		terminals.push(t);
		const asked = await t.waitFor(`Create 3 droplets for ${name} at $18.00 a month?`, 30_000);
		expect(asked).toMatch(/NODE +ROLE +\$\/MONTH +\$\/HOUR/);
		expect(asked).toMatch(/workerbee-2 +worker +\$6\.00 +\$0\.00893/);
		expect(asked).toContain('cost: $18.00 a month ($0.0268 an hour) while they exist, running or not');
		t.keys('n', 'Enter');
		const text = await t.waitFor('EXIT=', 30_000);
		expect(text).toContain('cancelled: nothing was created.');
		expect(writes()).toBe(0);
	});

	it('Ctrl-C during Machines: nothing keeps spinning, and it says how many droplets are left, billed, and the down line', async () => {
		const name = uniqueName('e2e-mon-ctrlc');
		const t = openTerminal(name, ['up', name, '--provider', 'digitalocean', '--workers', '2', '--yes'], {
			home,
			env,
			columns: 120,
			rows: 40,
		});
		terminals.push(t);
		// The droplets exist once the emulator has them; SSH never answers on paper.
		await t.waitFor(/workerbee-2 +booting +waiting for SSH at 198\.18\.\d+\.\d+:22/, 60_000);
		expect(emulator.liveDroplets()).toHaveLength(3);
		t.keys('C-c');
		const text = await t.waitFor('EXIT=130', 60_000);
		// The live view wraps long lines itself: read them as one text.
		expect(text.replace(/\s+/g, ' ')).toContain(
			`! 3 droplets of ${name} exist and are billed by DigitalOcean while they exist, running or not: remove them with swarmbee down ${name}`,
		);
		expect(text).toMatch(/■ cancelled after \d/);
		const after = text.slice(text.indexOf('■ Machines cancelled'));
		expect(after).not.toMatch(SPINNER);
		expect(after).toMatch(
			/■ workerbee-2 +cancelled +stopped when the run was cancelled \(was booting: waiting for SSH at/,
		);
		const down = await cli(['down', name, '--yes', '--forget'], home, env);
		expect(down.exitCode).toBe(0);
		expect(emulator.liveDroplets()).toHaveLength(0);
	});
});

describeInTmux('the dashboard on a real 1+1 cluster', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-mon');
	const terminals: Terminal[] = [];
	const container = (node: string) => `swarmbee-${name}-${node}`;

	beforeAll(async () => {
		const image = await rethinkdbImage();
		const up = await cli(['up', name, '--workers', '1', '--rethinkdb-image', image, '--yes', '--plain'], home);
		if (up.exitCode !== 0) throw new Error(`up failed:\n${up.stdout}\n${up.stderr}`);
	});
	afterAll(async () => {
		for (const t of terminals) t.kill();
		await cli(['down', name, '--yes', '--forget', '--force'], home);
		purge(name);
		remove();
	});

	it('status --plain in a terminal prints once and exits', async () => {
		const t = openTerminal(`${name}-plain`, ['status', name, '--plain'], {home, columns: 100, rows: 30});
		terminals.push(t);
		const text = await t.waitFor('EXIT=', 60_000);
		expect(text).toContain('EXIT=0');
		expect(text).toContain(`${name} (local): ready`);
		expect(text).not.toContain('q quit');
	});

	it('a stopped node turns the headline degraded, naming it, within two refreshes; back to ready after it returns', async () => {
		const t = openTerminal(name, ['status', name], {home, columns: 120, rows: 45});
		terminals.push(t);
		// CPU needs two readings: the second refresh has it.
		const watched = await t.waitFor(/queenbee +manager +ready +\d+% +\d+M\/1\.0G \d+% +\d+M\/450M \d+%/, 60_000, false);
		expect(watched).toMatch(new RegExp(`^${name} \\(local\\): ready`, 'm'));
		expect(watched).toMatch(/NODE +ROLE +STATE +CPU +MEMORY +DATABASE +ADDRESS/);
		expect(watched).toContain("is this machine's (local nodes share it)");
		expect(watched).toContain('RETHINKDB  2 of 2 servers connected');

		execFileSync('docker', ['stop', container('workerbee-1')]);
		const stoppedAt = Date.now();
		const degraded = await t.waitFor(
			new RegExp(`^${name} \\(local\\): degraded: workerbee-1 stopped`, 'm'),
			30_000,
			false,
		);
		// Two refreshes of 5 s, each taking a moment of its own.
		expect(Date.now() - stoppedAt).toBeLessThan(20_000);
		expect(degraded).toMatch(/workerbee-1 +worker +stopped/);
		expect(degraded).toMatch(/\d\d:\d\d:\d\d {2}workerbee-1 stopped/);

		execFileSync('docker', ['start', container('workerbee-1')]);
		const back = await t.waitFor(new RegExp(`^${name} \\(local\\): ready`, 'm'), 180_000, false);
		expect(back).toMatch(/\d\d:\d\d:\d\d {2}workerbee-1 back/);
		expect(back).toContain('RETHINKDB  2 of 2 servers connected');
	});

	it('t twice and q with the tunnel open leave no error; at 80×24 the URL and counts are whole; at 100×15 it scrolls', async () => {
		const t = openTerminal(`${name}-keys`, ['status', name], {home, columns: 100, rows: 45});
		terminals.push(t);
		await t.waitFor('t open tunnel', 60_000, false);
		t.keys('t');
		await t.waitFor(/admin +127\.0\.0\.1:\d+ → queenbee:8080/, 60_000, false);
		t.keys('t');
		await t.waitFor('TUNNEL  closed', 30_000, false);
		expect(t.screen()).not.toMatch(/tunnel: |Cannot read|error:/);
		t.keys('t');
		await t.waitFor('t close tunnel', 30_000, false);

		t.resize(80, 24);
		// tmux reflows the 100-column frame at once; the check waits for Ink's own redraw at 80.
		const small = await t.waitFor(
			text =>
				text.split('\n').every(line => line.length <= 80) &&
				/admin +127\.0\.0\.1:\d+ → queenbee:8080/.test(text) &&
				// The console's address whole, with its token (the guard opens it with nothing less).
				/open http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])/.test(text) &&
				/\d+ open, \d+ total · in \S+ \S+ · out \S+ \S+/.test(text),
			30_000,
			false,
		);
		expect(small.split('\n').filter(line => line.length > 80)).toEqual([]);
		expect(small).toContain('driver  127.0.0.1:');

		t.resize(100, 15);
		const short = await t.waitFor(/q quit +1-12 of \d+/, 30_000, false);
		expect(short.split('\n')[0]).toMatch(new RegExp(`^${name} \\(local\\)`));
		// Shrunk, then grown again: one header, no stale lines left from the wider frames.
		expect(short.match(new RegExp(`^${name} \\(local\\)`, 'gm'))).toHaveLength(1);
		expect(short.match(/^NODES /gm)).toHaveLength(1);
		expect(short).not.toContain('EVENTS');
		t.keys('PageDown');
		t.keys('PageDown');
		const scrolled = await t.waitFor('EVENTS', 30_000, false);
		expect(scrolled.split('\n')[0]).toMatch(new RegExp(`^${name} \\(local\\)`));

		// l: the selected row's logs, through `swarmbee logs`'s reader; esc goes back.
		t.resize(120, 45);
		t.keys('l');
		await t.waitFor(/LOGS OF QUEENBEE: PROVISIONING, THEN THE SYSTEM'S/, 30_000, false);
		await t.waitFor('==> provisioning log', 30_000, false);
		t.keys('Escape');
		await t.waitFor('▸ queenbee', 30_000, false);
		// s: a shell on the selected node with the terminal handed over, then the dashboard again.
		t.keys('s');
		await t.waitFor(`swarmbee ssh ${name} queenbee`, 30_000, false);
		await new Promise(resolve => setTimeout(resolve, 1_500));
		t.keys('echo "on-$(hostname)-now"', 'Enter');
		await t.waitFor('on-queenbee-now', 30_000, false);
		t.keys('exit', 'Enter');
		await t.waitFor(/t close tunnel/, 30_000, false);

		t.keys('q');
		const quit = await t.waitFor('EXIT=', 30_000, false);
		expect(quit).toContain('EXIT=0');
		expect(quit).not.toMatch(/Error|at \S+ \(.*:\d+:\d+\)|Cannot read/);
	});
});
