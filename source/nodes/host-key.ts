import {shq} from '../shell.js';

/**
 * Replacing a node's host key over a verified connection (droplets: the key
 * swarmbee made travelled in user_data, which the metadata service serves to
 * every process on the droplet for its whole life). The new key is made on
 * the node and never leaves it; swarmbee learns its public half over the
 * connection it verified with the old one. Command lines here, pure; the
 * order of the steps, and the journal, in steps/machines.ts.
 */

const KEY = '/etc/ssh/ssh_host_ed25519_key';
const NEXT = `${KEY}.next`;

/**
 * Makes the next key on the node, or keeps the one an interrupted rotation
 * made, and prints its public half.
 */
export function nextHostKeyCommand(comment: string): string {
	return [
		'set -e',
		`if [ ! -s ${NEXT} ] || [ ! -s ${NEXT}.pub ]; then rm -f ${NEXT} ${NEXT}.pub; ssh-keygen -q -t ed25519 -N '' -C ${shq(comment)} -f ${NEXT}; fi`,
		`cat ${NEXT}.pub`,
	].join('; ');
}

/**
 * Puts the next key in place and has sshd load it (a reload: open sessions,
 * this one included, go on), only if it is the key swarmbee pinned: the
 * algorithm and key fields must match what swarmbee wrote to its journal.
 * Already swapped (an interrupted run) is fine too.
 */
export function swapHostKeyCommand(pinned: string): string {
	const [type, blob] = pinned.trim().split(/\s+/);
	const wanted = shq(`${type} ${blob}`);
	const fields = (file: string) => `"$(cut -d' ' -f1,2 ${file} 2>/dev/null)"`;
	return [
		'set -e',
		`if [ ${fields(`${KEY}.pub`)} = ${wanted} ] && [ ! -e ${NEXT} ]; then echo already; exit 0; fi`,
		`[ ${fields(`${NEXT}.pub`)} = ${wanted} ] || { echo 'the next host key on the node is not the one swarmbee pinned' >&2; exit 3; }`,
		`mv -f ${NEXT} ${KEY}`,
		`mv -f ${NEXT}.pub ${KEY}.pub`,
		'sshd -t',
		'service ssh reload >/dev/null',
		'echo swapped',
	].join('; ');
}
