import path from 'node:path';
import {DOCKER_DAEMON_FILE, dockerDaemonJson} from '../../nodes/docker-daemon.js';
import {SSHD_DROP_IN, sshdConfig} from '../../nodes/sshd.js';
import {shq} from '../../shell.js';
import type {KeyPair} from '../../ssh/keys.js';

/**
 * The distributions whose first boot the user_data script (and then the
 * playbook) can carry out: it installs with apt and restarts sshd with
 * `service ssh`, which Fedora, Rocky Linux, AlmaLinux and the rest do not
 * have. Any other image would be billed from its create and never finish
 * its first boot, so `plan`, `up` and the wizard refuse it before any write.
 */
export const FIRST_BOOT_DISTRIBUTIONS = ['Debian', 'Ubuntu'] as const;

export function firstBootSupports(image: {distribution: string}): boolean {
	return (FIRST_BOOT_DISTRIBUTIONS as readonly string[]).includes(image.distribution);
}

/** DigitalOcean refuses larger user_data. */
export const USER_DATA_LIMIT = 64 * 1024;

/** Where the first-boot script leaves its result on the droplet. */
const FIRST_BOOT_DIR = '/var/lib/swarmbee';

interface UserDataNode {
	/** The droplet's name, which cloud-init makes its hostname. */
	name: string;
	hostKey: KeyPair;
}

/**
 * The `user_data` of one create request: a shell script cloud-init runs once,
 * as root, late in the droplet's first boot. It
 *
 *  1. installs the ed25519 host key swarmbee generated for this droplet (chosen
 *     by hostname) and restarts sshd: from then on sshd answers with the one
 *     key swarmbee accepts, so even the first connection is verified; before
 *     that the image's own key is refused and swarmbee waits;
 *  2. installs Docker if the image has none (DigitalOcean's Debian and Ubuntu
 *     images do not) and starts it, with swarmbee's daemon.json (log
 *     rotation) in place before it starts, unless the image brings its own
 *     (an image whose Docker already runs gets it restarted), so
 *     provisioning need not restart it;
 *  3. writes `/var/lib/swarmbee/first-boot.done`, or `first-boot.failed`
 *     with the step that failed, which swarmbee reads over SSH.
 *
 * One create request (`names`, up to 10 droplets) carries one user_data, so
 * it holds the host keys of every droplet in the batch. A droplet's
 * user_data can be read back from its metadata service, so root on one node
 * could learn its batch siblings' host keys; swarmbee accepts that (every
 * node of a cluster already trusts the others with the swarm) in exchange
 * for one request per ten droplets. See the README.
 *
 *     #!/bin/sh
 *     # swarmbee first boot, cluster demo: queenbee
 *     set -eu
 *     …
 *     case "$(hostname)" in
 *       queenbee)
 *         private_key='-----BEGIN OPENSSH PRIVATE KEY-----…'
 *     …
 */
export function renderUserData(cluster: string, nodes: readonly UserDataNode[]): string {
	const cases = nodes.map(node =>
		[
			`  ${shq(node.name)})`,
			`    private_key=${shq(node.hostKey.privateKey.trim())}`,
			`    public_key=${shq(node.hostKey.publicKey.trim())}`,
			'    ;;',
		].join('\n'),
	);
	return `#!/bin/sh
# swarmbee first boot, cluster ${cluster}: ${nodes.map(n => n.name).join(', ')}
# Installs the host key swarmbee made for this droplet, then Docker, then
# marks completion in ${FIRST_BOOT_DIR}. Output: /var/log/cloud-init-output.log
set -eu
umask 077
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
state=${FIRST_BOOT_DIR}
mkdir -p "$state"
rm -f "$state/first-boot.done" "$state/first-boot.failed"
step=start
trap 'code=$?; if [ "$code" -ne 0 ]; then echo "step $step failed (exit $code)" >"$state/first-boot.failed"; fi' EXIT

step=host-key
node=$(hostname)
case "$node" in
${cases.join('\n')}
  *)
    echo "swarmbee: this user_data has no host key for a droplet named $node" >&2
    exit 1
    ;;
esac
printf '%s\\n' "$private_key" >/etc/ssh/ssh_host_ed25519_key.swarmbee
printf '%s\\n' "$public_key" >/etc/ssh/ssh_host_ed25519_key.pub.swarmbee
unset private_key
chmod 600 /etc/ssh/ssh_host_ed25519_key.swarmbee
chmod 644 /etc/ssh/ssh_host_ed25519_key.pub.swarmbee
mv -f /etc/ssh/ssh_host_ed25519_key.swarmbee /etc/ssh/ssh_host_ed25519_key
mv -f /etc/ssh/ssh_host_ed25519_key.pub.swarmbee /etc/ssh/ssh_host_ed25519_key.pub
mkdir -p /etc/ssh/sshd_config.d
cat >${SSHD_DROP_IN} <<'SSHD'
${sshdConfig().trimEnd()}
SSHD
chmod 644 ${SSHD_DROP_IN}
sshd -t
service ssh restart

step=docker
settings=kept
if [ ! -e ${DOCKER_DAEMON_FILE} ]; then
  mkdir -p -m 755 ${path.posix.dirname(DOCKER_DAEMON_FILE)}
  printf '%s' ${shq(dockerDaemonJson())} >${DOCKER_DAEMON_FILE}
  chmod 644 ${DOCKER_DAEMON_FILE}
  settings=written
fi
if ! command -v docker >/dev/null 2>&1; then
${aptInstall(['docker.io'])}
elif [ "$settings" = written ]; then
  # An image with Docker already running: it reads daemon.json only at start.
  systemctl restart docker >/dev/null 2>&1 || service docker restart
fi
systemctl enable --now docker >/dev/null 2>&1 || service docker start
docker info >/dev/null

step=done
date -u +%Y-%m-%dT%H:%M:%SZ >"$state/first-boot.done"
`;
}

/** How long first boot waits for apt's locks (unattended-upgrades and apt-daily hold them at first boot). */
export const APT_LOCK_TIMEOUT_SECONDS = 900;

/**
 * Shell lines that install `packages` with apt, waiting for the package
 * locks rather than failing on them: on a fresh Debian or Ubuntu droplet
 * `unattended-upgrades` or `apt-daily` often hold them during first boot.
 * `DPkg::Lock::Timeout` makes apt wait for the dpkg lock; `apt-get update`'s
 * lists lock is waited for by asking again until the same deadline.
 *
 *       export DEBIAN_FRONTEND=noninteractive
 *       waited=0
 *       until apt-get -o DPkg::Lock::Timeout=900 update -q; do … sleep 5; done
 *       apt-get -o DPkg::Lock::Timeout=900 install -y -q docker.io
 */
export function aptInstall(packages: readonly string[], timeoutSeconds = APT_LOCK_TIMEOUT_SECONDS): string {
	const apt = `apt-get -o DPkg::Lock::Timeout=${timeoutSeconds}`;
	return [
		'  export DEBIAN_FRONTEND=noninteractive',
		'  waited=0',
		`  until ${apt} update -q; do`,
		`    if [ "$waited" -ge ${timeoutSeconds} ]; then echo "swarmbee: apt's package lists stayed locked for ${timeoutSeconds} s" >&2; exit 1; fi`,
		'    sleep 5; waited=$((waited + 5))',
		'  done',
		`  ${apt} install -y -q ${packages.map(shq).join(' ')}`,
	].join('\n');
}

/**
 * Run over SSH once the node answers with its own host key: prints `done`,
 * `running`, or `failed: <step>` followed by the tail of cloud-init's log.
 */
export const firstBootStatusCommand = [
	`if [ -e ${FIRST_BOOT_DIR}/first-boot.done ]; then echo done;`,
	`elif [ -e ${FIRST_BOOT_DIR}/first-boot.failed ]; then echo "failed: $(cat ${FIRST_BOOT_DIR}/first-boot.failed)"; tail -n 15 /var/log/cloud-init-output.log 2>/dev/null;`,
	'else echo running; fi',
].join(' ');

type FirstBootState = {state: 'done'} | {state: 'running'} | {state: 'failed'; detail: string};

export function parseFirstBootStatus(stdout: string): FirstBootState {
	const [first = '', ...rest] = stdout.trim().split('\n');
	if (first === 'done') return {state: 'done'};
	if (first.startsWith('failed: '))
		return {state: 'failed', detail: [first.slice('failed: '.length), ...rest].join('\n').trim()};
	return {state: 'running'};
}
