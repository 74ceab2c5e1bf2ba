import {execFileSync} from 'node:child_process';
import {
	existsSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	readlinkSync,
	rmSync,
	statSync,
	writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {execa} from 'execa';
import {afterAll, beforeAll, expect, it} from 'vitest';
import type {ClusterStatus} from '../../source/observe/status.js';
import {shq} from '../../source/shell.js';
import {
	cli,
	CLI,
	describeWithEngine,
	dockerIn,
	hasTmux,
	newHome,
	purge,
	rethinkdbImage,
	spawnCli,
	uniqueName,
} from './helpers.js';

if (!hasTmux() && process.env['CI'])
	throw new Error('CI is set but tmux is missing: the ssh test drives a terminal in tmux (apt-get install tmux)');

/** The inodes of the sockets a process holds open. */
function socketInodes(pid: number): Set<string> {
	const inodes = new Set<string>();
	for (const fd of readdirSync(`/proc/${pid}/fd`)) {
		try {
			const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
			if (match) inodes.add(match[1]!);
		} catch {
			// Closed while we looked.
		}
	}
	return inodes;
}

/** What a process listens on: TCP ports (state 0A in /proc/net/tcp*) and unix socket paths, by the inodes it holds. */
function listeners(pid: number): {tcp: string[]; unix: string[]} {
	const mine = socketInodes(pid);
	const table = (file: string) =>
		readFileSync(file, 'utf8')
			.split('\n')
			.slice(1)
			.map(line => line.trim().split(/\s+/))
			.filter(cols => cols.length > 7);
	const tcp = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap(file =>
		table(file)
			.filter(cols => cols[3] === '0A' && mine.has(cols[9]!))
			.map(cols => cols[1]!),
	);
	// /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; flag 00010000 is __SO_ACCEPTCON, a listener.
	const unix = table('/proc/net/unix')
		.filter(cols => cols[3] === '00010000' && mine.has(cols[6]!))
		.map(cols => cols[7]!);
	return {tcp, unix};
}

/** Whether a process still runs (a zombie does not: it has exited, only its status is unread by init). */
function running(pid: number): boolean {
	try {
		return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
	} catch {
		return false;
	}
}

/**
 * The cluster as the 2015 walk-through reached it, on one shared 1+1
 * cluster with the real RethinkDB server: `ssh` (a command, --all, a real
 * terminal in tmux), `env` (the local docker CLI at the swarm, through a
 * socket forwarded over SSH), `logs`; then a host key swarmbee did not
 * install (each refuses), then a manager that is down (status says which).
 */
describeWithEngine('ssh, env and logs on a 1+1 cluster', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-acc');
	const container = (node: string) => `swarmbee-${name}-${node}`;
	const dockerConfig = mkdtempSync(path.join(tmpdir(), 'swarmbee-e2e-docker-config-'));
	// A HOME of its own: nothing swarmbee does may write ~/.ssh.
	const userHome = mkdtempSync(path.join(tmpdir(), 'swarmbee-e2e-user-'));
	const env = {DOCKER_CONFIG: dockerConfig, HOME: userHome};
	const helperFiles = path.join(home, 'clusters', name, 'docker');
	const tmuxSocket = `swarmbee-${name}`;
	const tmux = (...args: string[]) => execFileSync('tmux', ['-L', tmuxSocket, ...args], {encoding: 'utf8'});
	/** bash with `swarmbee` being this build, the docker CLI on this machine, and the test's HOME and DOCKER_CONFIG. */
	const bash = (script: string) =>
		execa('bash', ['-c', `swarmbee() { ${shq(process.execPath)} ${shq(CLI)} "$@"; }\n${script}`], {
			reject: false,
			env: {SWARMBEE_HOME: home, ...env},
		});
	let image: string;
	/** The helper has exited (give init a moment to reap it) and left only its log. */
	const expectHelperGone = async (pid: number) => {
		for (let waited = 0; running(pid) && waited < 5_000; waited += 100) await sleep(100);
		expect(running(pid)).toBe(false);
		expect(readdirSync(helperFiles)).toEqual(['helper.log']);
	};

	beforeAll(async () => {
		image = await rethinkdbImage();
	});
	afterAll(async () => {
		try {
			tmux('kill-server');
		} catch {
			// No session left.
		}
		await cli(['env', name, '--unset'], home, env);
		await cli(['down', name, '--yes', '--force', '--forget'], home, env);
		purge(name);
		remove();
		rmSync(dockerConfig, {recursive: true, force: true});
		rmSync(userHome, {recursive: true, force: true});
	});

	it('comes up: 1+1 with the real RethinkDB server', async () => {
		const result = await cli(['up', name, '--workers', '1', '--rethinkdb-image', image, '--yes', '--plain'], home, env);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		// The hints name the new commands.
		expect(result.stdout).toContain(`swarmbee ssh ${name} [NODE]`);
		expect(result.stdout).toContain(`eval "$(swarmbee env ${name})"`);
		expect(result.stdout).toContain(`swarmbee logs ${name} rdb-queenbee`);
	});

	it('ssh runs a command on a node: its output, its exit status; the manager by default', async () => {
		const hostname = await cli(['ssh', name, 'queenbee', '--', 'hostname'], home, env);
		expect(hostname).toMatchObject({exitCode: 0, stdout: 'queenbee', stderr: ''});
		expect((await cli(['ssh', name, '--', 'hostname'], home, env)).stdout).toBe('queenbee');
		// Ten times: a command this quick ends while the session is handed over, and its status must still come back.
		for (let i = 0; i < 10; i++)
			expect(await cli(['ssh', name, 'workerbee-1', '--', 'false'], home, env)).toMatchObject({
				exitCode: 1,
				stderr: '',
			});
		// One line for the node's shell, as ssh sends it: the pipe and the exit run there.
		const piped = await cli(['ssh', name, 'workerbee-1', '--', 'echo one two | wc -w; exit 7'], home, env);
		expect(piped).toMatchObject({exitCode: 7, stdout: '2'});
		const unknown = await cli(['ssh', name, 'workerbee-9', '--', 'hostname'], home, env);
		expect(unknown.exitCode).toBe(2);
		expect(unknown.stderr).toContain(`cluster ${name} has no node workerbee-9`);
		expect(unknown.stderr).toContain('choose one of: queenbee, workerbee-1');
		expect(existsSync(path.join(userHome, '.ssh'))).toBe(false);
	});

	it('ssh --all runs on every node at once, lines prefixed by node, the worst exit status', async () => {
		const all = await cli(['ssh', name, '--all', '--', 'hostname'], home, env);
		expect(all.exitCode).toBe(0);
		expect(all.stdout.split('\n').filter(Boolean).sort()).toEqual([
			'queenbee    | queenbee',
			'workerbee-1 | workerbee-1',
		]);
		const one = await cli(
			['ssh', name, '--all', '--', 'echo $(hostname) here; test $(hostname) = queenbee'],
			home,
			env,
		);
		expect(one.exitCode).toBe(1);
		expect(one.stdout.split('\n').filter(Boolean).sort()).toEqual([
			'queenbee    | queenbee here',
			'workerbee-1 | workerbee-1 here',
		]);
	});

	it.runIf(hasTmux())(
		'ssh in a real terminal (tmux): a PTY that resizes, htop, Ctrl-C for the remote program, the exit status back',
		async () => {
			const command = `SWARMBEE_HOME=${shq(home)} HOME=${shq(userHome)} ${shq(process.execPath)} ${shq(CLI)} ssh ${name} workerbee-1; echo "EXIT=$?"; sleep 600`;
			tmux('new-session', '-d', '-s', 'ssh', '-x', '100', '-y', '30', command);
			const screen = () => tmux('capture-pane', '-p', '-J', '-t', 'ssh', '-S', '-200');
			const waitFor = async (pattern: RegExp, timeoutMs = 20_000) => {
				const deadline = Date.now() + timeoutMs;
				for (;;) {
					const text = screen();
					if (pattern.test(text)) return text;
					if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; screen:\n${text}`);
					await sleep(100);
				}
			};
			const keys = (...k: string[]) => tmux('send-keys', '-t', 'ssh', ...k);
			await waitFor(/root@workerbee-1:~# $/m);
			keys('stty size; echo "term=$TERM"', 'Enter');
			await waitFor(/^30 100$/m);
			expect(screen()).toMatch(/^term=(tmux|screen)/m);
			// The window changes size: SIGWINCH here, window-change there.
			tmux('resize-window', '-t', 'ssh', '-x', '120', '-y', '40');
			await sleep(300);
			keys('clear; stty size', 'Enter');
			await waitFor(/^40 120$/m);
			keys('htop', 'Enter');
			const htop = await waitFor(/Load average:/);
			expect(htop).toMatch(/Tasks: \d+/);
			keys('q');
			await waitFor(/root@workerbee-1:~# $/m);
			// Ctrl-C reaches the remote sleep (raw mode), not swarmbee: the session goes on.
			keys('clear; sleep 60', 'Enter');
			await sleep(500);
			keys('C-c');
			keys('echo "after=$?"', 'Enter');
			await waitFor(/^after=130$/m);
			keys('exit 7', 'Enter');
			await waitFor(/^EXIT=7$/m);
		},
	);

	it('eval "$(swarmbee env NAME)": the local docker CLI lists the swarm\'s nodes, services and tasks; --unset leaves no process and no socket', async () => {
		const result = await bash(
			[
				`eval "$(swarmbee env ${name})"`,
				'echo "host=$DOCKER_HOST"',
				"docker node ls --format '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'",
				"docker service ls --format '{{.Name}} {{.Replicas}}'",
				"docker stack ps swarmbee --format '{{.Node}} {{.DesiredState}}'",
				'cat "$(dirname "${DOCKER_HOST#unix://}")/helper.json"',
			].join('\n'),
		);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		const lines = result.stdout.split('\n');
		expect(lines[0]).toBe(`host=unix://${helperFiles}/docker.sock`);
		expect(lines).toEqual(
			expect.arrayContaining([
				'queenbee Ready Leader',
				'workerbee-1 Ready ',
				'swarmbee_rdb-queenbee 1/1',
				'swarmbee_rdb-workerbee-1 1/1',
				'queenbee Running',
				'workerbee-1 Running',
			]),
		);
		const {pid} = JSON.parse(lines.at(-1)!) as {pid: number};
		expect(running(pid)).toBe(true);

		// Only this user can reach it, and no TCP port is open.
		expect(statSync(helperFiles).mode & 0o777).toBe(0o700);
		expect(statSync(path.join(helperFiles, 'docker.sock')).mode & 0o777).toBe(0o600);
		expect(listeners(pid)).toEqual({tcp: [], unix: [path.join(helperFiles, 'docker.sock')]});

		// A second env keeps the helper that answers.
		const again = await cli(['env', name], home, env);
		expect(again.stdout).toContain(`export DOCKER_HOST=unix://${helperFiles}/docker.sock`);
		expect((JSON.parse(readFileSync(path.join(helperFiles, 'helper.json'), 'utf8')) as {pid: number}).pid).toBe(pid);

		const unset = await bash(
			[
				`eval "$(swarmbee env ${name})"`,
				'eval "$(swarmbee env --unset)"',
				'echo "host=${DOCKER_HOST:-none} cluster=${SWARMBEE_CLUSTER:-none}"',
			].join('\n'),
		);
		expect(unset.stdout.trim()).toBe('host=none cluster=none');
		await expectHelperGone(pid);
	});

	it('env --context: a docker context swarmbee-NAME any shell can use; --unset removes it with the helper', async () => {
		const made = await cli(['env', name, '--context'], home, env);
		expect(made.exitCode).toBe(0);
		expect(made.stdout).toContain(`export DOCKER_CONTEXT=swarmbee-${name}`);
		const nodes = execFileSync('docker', ['--context', `swarmbee-${name}`, 'node', 'ls', '--format', '{{.Hostname}}'], {
			encoding: 'utf8',
			env: {...process.env, DOCKER_CONFIG: dockerConfig},
		});
		expect(nodes.split('\n').filter(Boolean).sort()).toEqual(['queenbee', 'workerbee-1']);
		const {pid} = JSON.parse(readFileSync(path.join(helperFiles, 'helper.json'), 'utf8')) as {pid: number};

		const unset = await cli(['env', name, '--unset'], home, env);
		expect(unset.stdout).toContain(`# removed docker context swarmbee-${name}`);
		const contexts = execFileSync('docker', ['context', 'ls', '--format', '{{.Name}}'], {
			encoding: 'utf8',
			env: {...process.env, DOCKER_CONFIG: dockerConfig},
		});
		expect(contexts).not.toContain(`swarmbee-${name}`);
		await expectHelperGone(pid);
	});

	it.each([
		['naming another process and a file of the user as its socket', 'decoy'],
		['not JSON at all', 'garbage'],
		['removed', 'removed'],
	] as const)(
		'helper.json %s: env --unset still stops the real helper, and signals or removes nothing else',
		async (_what, tamper) => {
			const made = await cli(['env', name], home, env);
			expect(made.exitCode).toBe(0);
			const {pid} = JSON.parse(readFileSync(path.join(helperFiles, 'helper.json'), 'utf8')) as {pid: number};
			expect(running(pid)).toBe(true);
			// A process of this user's that is not the helper, and a file that is not its socket.
			const decoy = execa('sleep', ['300']);
			const victim = path.join(userHome, 'important');
			writeFileSync(victim, 'keep me\n');
			try {
				const state = path.join(helperFiles, 'helper.json');
				if (tamper === 'decoy')
					writeFileSync(
						state,
						JSON.stringify({pid: decoy.pid, cluster: name, socket: victim, startedAt: new Date().toISOString()}),
					);
				else if (tamper === 'garbage') writeFileSync(state, '{"pid": ');
				else rmSync(state);

				const unset = await cli(['env', name, '--unset'], home, env);
				expect(unset.exitCode).toBe(0);
				expect(unset.stdout).toContain(`# stopped the Docker socket helper of ${name} (pid ${pid})`);
				await expectHelperGone(pid);
				expect(running(decoy.pid!)).toBe(true);
				expect(readFileSync(victim, 'utf8')).toBe('keep me\n');
			} finally {
				decoy.kill();
				await decoy.catch(() => {});
				rmSync(victim, {force: true});
			}
		},
	);

	it("logs: a database server's log shows RethinkDB's \"Server ready\"; a node's shows its provisioning and its daemons' log", async () => {
		const server = await cli(['logs', name, 'rdb-queenbee'], home, env);
		expect(server.exitCode).toBe(0);
		expect(server.stdout).toMatch(
			/^swarmbee_rdb-queenbee\.1\.\w+@queenbee\s+\| Server ready, "queenbee" [0-9a-f-]{36}$/m,
		);
		const node = await cli(['logs', name, 'workerbee-1', '--lines', '5'], home, env);
		expect(node.exitCode).toBe(0);
		expect(node.stdout).toContain(
			`==> provisioning log (${path.join(home, 'clusters', name, 'logs', 'workerbee-1', 'provision.log')}) <==`,
		);
		expect(node.stdout).toMatch(/^localhost\s+: ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0/m);
		// A local node has no journal and no syslog: its daemons' own files.
		expect(node.stdout).toContain('==> /var/log/docker.log <==');
	});

	it('logs --follow shows new lines as they come, until Ctrl-C; nothing is left running on the node', async () => {
		const child = spawnCli(['logs', name, 'queenbee', '--follow', '--lines', '1'], home, env);
		let out = '';
		child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
		const deadline = Date.now() + 20_000;
		while (!out.includes('==> /var/log/docker.log <==') && Date.now() < deadline) await sleep(100);
		const marker = `swarmbee-e2e-marker-${Date.now()}`;
		dockerIn(container('queenbee'), `echo ${marker} >>/var/log/docker.log`);
		while (!out.includes(marker) && Date.now() < deadline) await sleep(100);
		expect(out).toContain(marker);
		child.kill('SIGINT');
		const result = await child;
		expect(result.exitCode).toBe(0);
		await sleep(500);
		expect(dockerIn(container('queenbee'), 'pgrep -x tail >/dev/null && echo tail-left || echo none')).toBe('none');

		// docker service logs --follow ignores the channel closing on a quiet log: swarmbee stops it all the same.
		const service = spawnCli(['logs', name, 'rdb-queenbee', '--follow', '--lines', 'all'], home, env);
		let served = '';
		service.stdout!.on('data', (chunk: Buffer) => (served += chunk.toString()));
		while (!served.includes('Server ready') && Date.now() < deadline + 20_000) await sleep(100);
		expect(served).toContain('Server ready');
		service.kill('SIGINT');
		expect((await service).exitCode).toBe(0);
		await sleep(500);
		expect(
			dockerIn(container('queenbee'), "pgrep -f '[d]ocker service logs' >/dev/null && echo left || echo none"),
		).toBe('none');
	});

	it('a host key swarmbee did not install: ssh, ssh --all, env and logs refuse, as status does', async () => {
		// Another machine answering at the manager's address.
		dockerIn(
			container('queenbee'),
			"rm -f /tmp/k /tmp/k.pub && ssh-keygen -q -t ed25519 -N '' -f /tmp/k && cp /tmp/k /etc/ssh/ssh_host_ed25519_key && cp /tmp/k.pub /etc/ssh/ssh_host_ed25519_key.pub && kill -HUP $(cat /run/sshd.pid)",
		);
		await sleep(500);
		const refused = (stderr: string) => {
			expect(stderr).toContain('queenbee');
			expect(stderr).toContain('offered host key SHA256:');
			expect(stderr).toContain('swarmbee refuses to connect');
		};
		const ssh = await cli(['ssh', name, 'queenbee', '--', 'hostname'], home, env);
		expect(ssh.exitCode).toBe(255);
		expect(ssh.stdout).toBe('');
		refused(ssh.stderr);

		const all = await cli(['ssh', name, '--all', '--', 'hostname'], home, env);
		expect(all.exitCode).toBe(255);
		expect(all.stdout).toBe('workerbee-1 | workerbee-1');
		expect(all.stderr).toMatch(/^queenbee {4}\| error: queenbee \(.+\) offered host key SHA256:/m);

		const envResult = await cli(['env', name], home, env);
		expect(envResult.exitCode).toBe(1);
		// Nothing for eval to run, no helper and no socket left.
		expect(envResult.stdout).toBe('');
		refused(envResult.stderr);
		expect(readdirSync(helperFiles)).toEqual(['helper.log']);

		const logs = await cli(['logs', name, 'rdb-queenbee'], home, env);
		expect(logs.exitCode).toBe(1);
		refused(logs.stderr);

		const status = await cli(['status', name, '--once'], home, env);
		expect(status.exitCode).toBe(1);
		refused(status.stdout);
		expect(existsSync(path.join(userHome, '.ssh'))).toBe(false);
	});

	it('a manager that is down: status --once and --json say which; ssh --all runs where it can', async () => {
		// Down as a machine that lost power is: at once.
		execFileSync('docker', ['kill', container('queenbee')], {stdio: 'ignore'});
		const once = await cli(['status', name, '--once'], home, env);
		expect(once.exitCode).toBe(1);
		expect(once.stdout).toMatch(/^queenbee\s+manager\s+stopped\s/m);
		expect(once.stdout).toContain('swarm: no manager answered (queenbee is stopped)');
		const json = JSON.parse((await cli(['status', name, '--json'], home, env)).stdout) as ClusterStatus;
		expect(json.nodes.map(n => [n.name, n.machine])).toEqual([
			['queenbee', 'stopped'],
			['workerbee-1', 'running'],
		]);
		expect(json.swarm).toBeNull();

		const all = await cli(['ssh', name, '--all', '--', 'hostname'], home, env);
		expect(all.exitCode).toBe(255);
		expect(all.stdout).toBe('workerbee-1 | workerbee-1');
		expect(all.stderr).toContain(`queenbee    |   try: is the machine running? swarmbee status ${name} --once`);
	});
});
