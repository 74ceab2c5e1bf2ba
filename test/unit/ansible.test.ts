import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {DOCKER_DAEMON_SETTINGS, dockerDaemonJson} from '../../source/nodes/docker-daemon.js';
import {cpuHeavyLimit} from '../../source/concurrency.js';
import {AnsibleProgress, installAnsibleCommand, parseRecapLine, playbookCommand} from '../../source/nodes/ansible.js';

const run = `
PLAY [Prepare a swarmbee node] *************************************************

TASK [Gathering Facts] *********************************************************
ok: [localhost]

TASK [Install packages] ********************************************************
changed: [localhost]

TASK [Allow SSH from 0.0.0.0/0, ::/0] ******************************************
changed: [localhost] => (item=0.0.0.0/0)
changed: [localhost] => (item=::/0)

TASK [Set memory limit in GRUB] ************************************************
skipping: [localhost]

TASK [Rotate Docker's container logs] ******************************************
fatal: [localhost]: FAILED! => {"changed": false, "msg": "Destination directory /etc/docker does not exist"}

PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=2    unreachable=0    failed=1    skipped=1    rescued=0    ignored=0
`;

/** An AnsibleProgress that has followed these lines. */
function followed(lines: Iterable<string>): AnsibleProgress {
	const progress = new AnsibleProgress();
	for (const line of lines) progress.push(line);
	return progress;
}

describe('AnsibleProgress', () => {
	it('follows tasks, counts results live, keeps the first failure and reads the recap', () => {
		const progress = followed(run.split('\n'));
		expect(progress.live).toMatchObject({ok: 1, changed: 3, skipped: 1, failed: 1});
		expect(progress.failure).toEqual({
			task: "Rotate Docker's container logs",
			message: 'Destination directory /etc/docker does not exist',
		});
		expect(progress.recap).toEqual({ok: 3, changed: 2, unreachable: 0, failed: 1, skipped: 1, rescued: 0, ignored: 0});
	});

	it("folds a parse error's location into its message", () => {
		const progress = followed([
			'ERROR! We were unable to read either as JSON nor YAML, these are the errors we got from each:',
			'JSON: Expecting value: line 1 column 1 (char 0)',
			'',
			'Syntax Error while loading YAML.',
			'  mapping values are not allowed in this context',
			'',
			"The error appears to be in '/root/.swarmbee/ansible/user.yml': line 6, column 53, but may",
			'The offending line appears to be:',
			'    - name: not part of the message',
		]);
		expect(progress.failure?.task).toBe('(parsing the playbook)');
		expect(progress.failure?.message).toContain('mapping values are not allowed in this context');
		expect(progress.failure?.message).toContain('line 6, column 53');
		expect(progress.failure?.message).not.toContain('not part of the message');
	});

	it('reads the message of a failure whose result is printed over several lines (assert, fail)', () => {
		const progress = followed([
			'TASK [Check that this node may run workloads] **********************************',
			'fatal: [localhost]: FAILED! => {',
			'    "assertion": "ansible_hostname != \\"workerbee-2\\"",',
			'    "changed": false,',
			'    "evaluated_to": false,',
			'    "msg": "workerbee-2 is reserved for maintenance this week"',
			'}',
			'',
			'PLAY RECAP *********************************************************************',
			'localhost                  : ok=2    changed=1    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0',
		]);
		expect(progress.failure).toEqual({
			task: 'Check that this node may run workloads',
			message: 'workerbee-2 is reserved for maintenance this week',
		});
		expect(progress.recap).toMatchObject({ok: 2, changed: 1, failed: 1});
	});

	it('parses recap lines from older Ansible without skipped/rescued/ignored', () => {
		expect(parseRecapLine('localhost                  : ok=10   changed=5    unreachable=0    failed=0')).toEqual({
			ok: 10,
			changed: 5,
			unreachable: 0,
			failed: 0,
			skipped: 0,
			rescued: 0,
			ignored: 0,
		});
		expect(parseRecapLine('TASK [x] ***')).toBeUndefined();
	});
});

describe('ansible commands', () => {
	it('installs ansible-core from Debian only when missing, without recommends', () => {
		expect(installAnsibleCommand).toMatch(/^if command -v ansible-playbook/);
		expect(installAnsibleCommand).toContain('install -y -q --no-install-recommends ansible-core');
	});

	it('runs the playbook against the node itself, unbuffered and uncoloured', () => {
		const command = playbookCommand('playbook.yml', 'vars.json');
		expect(command).toContain('ANSIBLE_NOCOLOR=1');
		expect(command).toContain('PYTHONUNBUFFERED=1');
		expect(command).toMatch(/ansible-playbook -i localhost, -c local -e @vars.json playbook.yml$/);
	});
});

describe('daemon.json before first boot', () => {
	it("is byte for byte what the playbook writes (Ansible's to_nice_json), so provisioning leaves Docker running", () => {
		const nice = execFileSync(
			'python3',
			[
				'-c',
				'import json, sys; sys.stdout.write(json.dumps(json.load(sys.stdin), indent=4, sort_keys=True, separators=(",", ": ")) + "\\n")',
			],
			{
				input: JSON.stringify({'log-opts': {'max-size': '10m', 'max-file': '3'}, 'log-driver': 'json-file'}),
				encoding: 'utf8',
			},
		);
		expect(dockerDaemonJson()).toBe(nice);
		expect(dockerDaemonJson({b: 1, a: {d: [2, 1], c: 'x'}})).toBe(
			'{\n    "a": {\n        "c": "x",\n        "d": [\n            2,\n            1\n        ]\n    },\n    "b": 1\n}\n',
		);
	});

	it('is what the playbook is told to keep', () => {
		const playbook = readFileSync(path.join(import.meta.dirname, '../../ansible/playbook.yml'), 'utf8');
		expect(playbook).toContain('combine(swarmbee_docker_settings)) | to_nice_json }}\\n"');
		expect(DOCKER_DAEMON_SETTINGS).toEqual({
			'log-driver': 'json-file',
			'log-opts': {'max-file': '3', 'max-size': '10m'},
		});
	});
});

describe('CPU-heavy work on nodes', () => {
	it('runs on every node at once when each is its own machine, on as many as there are cores when they share them', () => {
		expect(cpuHeavyLimit(false, 2)).toBe(64);
		expect(cpuHeavyLimit(true, 2)).toBe(2);
		expect(cpuHeavyLimit(true, 16)).toBe(16);
		expect(cpuHeavyLimit(true, 0)).toBe(1);
	});
});
