/**
 * The sshd settings every node runs with, in one place: the local node image
 * bakes them (images/node/sshd_config, checked equal by a unit test), a
 * droplet's user_data writes them at first boot, and the playbook enforces
 * them on every node, old ones included.
 */

/**
 * A drop-in read before any other (`00-`): sshd keeps the first value it
 * reads for a keyword, and Debian's sshd_config includes the drop-ins at its
 * top, so these win over the image's defaults and over cloud-init's
 * `50-cloud-init.conf`.
 */
export const SSHD_DROP_IN = '/etc/ssh/sshd_config.d/00-swarmbee.conf';

/** Where earlier swarmbee versions put it; removed so one file says it all. */
export const OLD_SSHD_DROP_IN = '/etc/ssh/sshd_config.d/swarmbee.conf';

/**
 * TCP and stream-local forwarding stay at sshd's default (on): `tunnel`
 * forwards to a task's docker_gwbridge address, `env` forwards the manager's
 * Docker socket. Only root logs in, with the cluster's key, so forwarding is
 * root's already.
 */
export const SSHD_SETTINGS: ReadonlyArray<[keyword: string, value: string, why: string]> = [
	['HostKey', '/etc/ssh/ssh_host_ed25519_key', 'only the host key swarmbee made (or rotated to) for this node'],
	['PermitRootLogin', 'prohibit-password', 'swarmbee logs in as root, with its key'],
	['AllowUsers', 'root', 'nobody else logs in over SSH'],
	['PasswordAuthentication', 'no', 'keys only'],
	['KbdInteractiveAuthentication', 'no', 'keys only'],
	['MaxAuthTries', '3', 'swarmbee offers one key; a scanner gets three tries per connection'],
	['LoginGraceTime', '30', 'an unauthenticated connection is dropped after 30 s'],
	['X11Forwarding', 'no', 'no X11 on a server'],
	['AllowAgentForwarding', 'no', 'no agent to hijack on the node'],
	['PermitTunnel', 'no', 'no tun devices; the tunnel to the database is a TCP forward'],
	['ClientAliveInterval', '15', 'a client that vanished is noticed within a minute'],
	['ClientAliveCountMax', '4', ''],
	['UseDNS', 'no', 'no reverse lookups at login'],
];

/**
 *     # swarmbee: keys only, root only, …
 *     HostKey /etc/ssh/ssh_host_ed25519_key
 *     …
 */
export function sshdConfig(): string {
	return [
		'# Written by swarmbee (source/nodes/sshd.ts): keys only, root only, only the host key swarmbee knows.',
		...SSHD_SETTINGS.map(([keyword, value]) => `${keyword} ${value}`),
		'',
	].join('\n');
}
