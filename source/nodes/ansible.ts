import type {PlayRecap} from '../events.js';
import {shellCommand, shq} from '../shell.js';

/**
 * Ansible on the node itself: no Ansible needed on your machine, every node
 * provisions itself in parallel. Command lines and output parsing, pure.
 */

/** Where swarmbee puts playbooks on a node while they run (removed afterwards). */
export const REMOTE_ANSIBLE_DIR = '/root/.swarmbee/ansible';

/** The Debian convention a playbook uses to ask for a reboot. */
const REBOOT_REQUIRED_FILE = '/var/run/reboot-required';

/**
 * Installs ansible-core from the distribution when it is missing. Debian's
 * package, not a virtualenv: it needs no PyPI (unreachable from some
 * networks), is signed by the archive the node already trusts, and is
 * about 10 MB without recommends.
 */
export const installAnsibleCommand = [
	// dpkg-query answers in milliseconds; `ansible-playbook --version` costs half a CPU second.
	"if command -v ansible-playbook >/dev/null 2>&1; then echo \"ansible-playbook present: ansible-core $(dpkg-query -W -f='${Version}' ansible-core 2>/dev/null || echo '(not from Debian)')\"; exit 0; fi",
	'export DEBIAN_FRONTEND=noninteractive',
	'apt-get -o DPkg::Lock::Timeout=300 update -q',
	'apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends ansible-core',
].join(' && ');

export const prepareDirCommand = `rm -rf ${REMOTE_ANSIBLE_DIR} && mkdir -p -m 700 ${REMOTE_ANSIBLE_DIR}`;
export const cleanupDirCommand = `rm -rf ${REMOTE_ANSIBLE_DIR}`;

/** Runs one uploaded playbook against the node itself, output unbuffered and uncoloured. */
export function playbookCommand(playbookFile: string, varsFile: string): string {
	const env = [
		'ANSIBLE_NOCOLOR=1',
		'ANSIBLE_FORCE_COLOR=0',
		'PYTHONUNBUFFERED=1',
		'ANSIBLE_RETRY_FILES_ENABLED=0',
		'ANSIBLE_LOCALHOST_WARNING=0',
		'ANSIBLE_INVENTORY_UNPARSED_WARNING=0',
		'ANSIBLE_STDOUT_CALLBACK=default',
		// One process per task instead of copy, chmod, run, remove: tasks start faster.
		'ANSIBLE_PIPELINING=1',
		// Debian's ansible-core runs on Debian's python3: no interpreter discovery.
		'ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3',
	];
	return `cd ${REMOTE_ANSIBLE_DIR} && env ${env.join(' ')} ${shellCommand(['ansible-playbook', '-i', 'localhost,', '-c', 'local', '-e', `@${varsFile}`, playbookFile])}`;
}

export const rebootRequiredCommand = `test -e ${shq(REBOOT_REQUIRED_FILE)} && echo yes || echo no`;

const RECAP_LINE =
	/^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)(?:\s+skipped=(\d+))?(?:\s+rescued=(\d+))?(?:\s+ignored=(\d+))?/;

export function parseRecapLine(line: string): PlayRecap | undefined {
	const m = RECAP_LINE.exec(line.trim());
	if (!m) return undefined;
	const n = (i: number) => Number(m[i] ?? 0);
	return {ok: n(2), changed: n(3), unreachable: n(4), failed: n(5), skipped: n(6), rescued: n(7), ignored: n(8)};
}

/**
 * Follows ansible-playbook's output line by line: the task running, live
 * counters, the first failure, and the PLAY RECAP when it comes.
 *
 *     TASK [Install packages] *****      → task = "Install packages"
 *     changed: [localhost]               → live.changed++
 *     fatal: [localhost]: FAILED! => {…} → failure = {task, message}
 *     localhost : ok=10 changed=5 …      → recap
 */
export class AnsibleProgress {
	task?: string;
	readonly live: PlayRecap = {ok: 0, changed: 0, unreachable: 0, failed: 0, skipped: 0, rescued: 0, ignored: 0};
	recap?: PlayRecap;
	failure?: {task: string; message: string};
	private inRecap = false;
	/** Lines of an `ERROR!` block still to fold into its message. */
	private errorLines = 0;
	/** A failure's result printed as indented JSON over several lines, until its `}`. */
	private resultLines?: string[];

	push(line: string): void {
		if (this.resultLines) {
			this.resultLines.push(line);
			if (line !== '}') return;
			const message = resultMessage(this.resultLines.join('\n'));
			if (message && this.failure) this.failure.message = message;
			this.resultLines = undefined;
			return;
		}
		if (this.errorLines > 0 && this.failure) {
			if (line.trim()) this.failure.message = `${this.failure.message} ${line.trim()}`.slice(0, 400);
			this.errorLines = line.startsWith('The offending line') ? 0 : this.errorLines - 1;
			return;
		}
		const task = /^TASK \[(.*)\] \**$/.exec(line.trim()) ?? /^RUNNING HANDLER \[(.*)\] \**$/.exec(line.trim());
		if (task) {
			this.task = task[1];
			return;
		}
		if (/^PLAY RECAP \**$/.test(line.trim())) {
			this.inRecap = true;
			return;
		}
		if (this.inRecap) {
			const recap = parseRecapLine(line);
			if (recap) this.recap = recap;
			return;
		}
		const status = /^(ok|changed|skipping|fatal|failed|unreachable|rescued|ignored): \[/.exec(line);
		if (status) {
			const kind = status[1];
			if (kind === 'ok') this.live.ok++;
			else if (kind === 'changed') this.live.changed++;
			else if (kind === 'skipping') this.live.skipped++;
			else if (kind === 'unreachable') this.live.unreachable++;
			else if (kind === 'fatal' || kind === 'failed') {
				this.live.failed++;
				if (!this.failure) {
					this.failure = {task: this.task ?? '(before the first task)', message: failureMessage(line)};
					if (line.endsWith('=> {')) this.resultLines = ['{'];
				}
			}
			return;
		}
		if (/^ERROR! /.test(line) && !this.failure) {
			this.failure = {task: this.task ?? '(parsing the playbook)', message: line.replace(/^ERROR! /, '')};
			// The cause and the file:line follow on the next lines.
			this.errorLines = 8;
		}
	}
}

/** The `msg` of a `fatal: [host]: FAILED! => {...}` line, or the line itself. */
function failureMessage(line: string): string {
	const json = line.indexOf('=> {');
	return (json >= 0 ? resultMessage(line.slice(json + 3)) : undefined) ?? line.slice(0, 300);
}

/** The first line of a task result's `msg` (or `stderr`), when the result is JSON. */
function resultMessage(json: string): string | undefined {
	try {
		const body = JSON.parse(json) as {msg?: string; stderr?: string};
		const message = body.msg ?? body.stderr;
		return message ? (String(message).split('\n')[0] ?? '').slice(0, 300) : undefined;
	} catch {
		// Cut short or not JSON at all.
		return undefined;
	}
}
