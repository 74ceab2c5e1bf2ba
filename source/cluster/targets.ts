import {InputError} from '../errors.js';
import type {Journal} from '../store/journal.js';
import type {SshTarget} from '../ssh/connection.js';

/** Where and how to reach a node over SSH, from what the journal recorded. */
export function sshTarget(journal: Readonly<Journal>, node: string, privateKey: string): SshTarget {
	const record = journal.nodes.find(n => n.name === node);
	if (!record?.ssh) {
		throw new InputError(`swarmbee has no address for ${node} in cluster ${journal.cluster}`, {
			nextSteps: [`run swarmbee up ${journal.cluster} to create or find it`],
		});
	}
	return {
		node, host: record.ssh.host, port: record.ssh.port, username: record.ssh.user, privateKey, hostKey: record.hostKey.publicKey,
		...(record.nextHostKey ? {nextHostKey: record.nextHostKey.publicKey} : {}),
	};
}
