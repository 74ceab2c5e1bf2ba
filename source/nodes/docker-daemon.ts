/**
 * The Docker daemon settings swarmbee wants on every node: container logs
 * rotated, so a chatty service cannot fill the disk.
 *
 * They are in place before Docker first starts (the local provider puts the
 * file into the node before its first boot; a droplet's user_data writes it
 * before installing Docker), so provisioning need not restart Docker; the
 * playbook then keeps them so, merged into whatever else daemon.json holds,
 * and restarts Docker only when it had to change them.
 */
export const DOCKER_DAEMON_SETTINGS = {
	'log-driver': 'json-file',
	'log-opts': {'max-file': '3', 'max-size': '10m'},
} as const;

export const DOCKER_DAEMON_FILE = '/etc/docker/daemon.json';

/**
 * daemon.json as the playbook writes it (Ansible's `to_nice_json`: keys
 * sorted, four-space indent), so a file written before first boot is one the
 * playbook leaves alone.
 */
export function dockerDaemonJson(settings: object = DOCKER_DAEMON_SETTINGS): string {
	return `${JSON.stringify(sortKeys(settings), null, 4)}\n`;
}

function sortKeys(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(sortKeys);
	if (value && typeof value === 'object') {
		return Object.fromEntries(
			Object.entries(value)
				.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
				.map(([k, v]) => [k, sortKeys(v)]),
		);
	}
	return value;
}
