import {CancelledError, InputError} from '../errors.js';
import type {Journal} from '../store/journal.js';
import type {SshTarget} from '../ssh/connection.js';
import type {RemoteShell} from '../ssh/shell.js';

/** Where and how to reach a node over SSH, from what the journal recorded. */
export function sshTarget(journal: Readonly<Journal>, node: string, privateKey: string): SshTarget {
	const record = journal.nodes.find(n => n.name === node);
	if (!record?.ssh) {
		throw new InputError(`swarmbee has no address for ${node} in cluster ${journal.cluster}`, {
			nextSteps: [`run swarmbee up ${journal.cluster} to create or find it`],
		});
	}
	return {
		node,
		host: record.ssh.host,
		port: record.ssh.port,
		username: record.ssh.user,
		privateKey,
		hostKey: record.hostKey.publicKey,
		...(record.nextHostKey ? {nextHostKey: record.nextHostKey.publicKey} : {}),
	};
}

/**
 * The node a command names, checked against the journal; without a name,
 * the first manager (where `docker` answers for the whole swarm).
 */
export function nodeOrManager(journal: Readonly<Journal>, node: string | undefined): string {
	if (node === undefined) {
		const manager = journal.nodes.find(n => n.role === 'manager' && n.state !== 'deleting');
		if (!manager)
			throw new InputError(`cluster ${journal.cluster} has no manager node yet`, {
				nextSteps: [`run swarmbee up ${journal.cluster} to create it`],
			});
		return manager.name;
	}
	if (!journal.nodes.some(n => n.name === node)) {
		throw new InputError(`cluster ${journal.cluster} has no node ${node}`, {
			nextSteps: [
				journal.nodes.length > 0
					? `choose one of: ${journal.nodes.map(n => n.name).join(', ')}`
					: `run swarmbee up ${journal.cluster} to create its nodes`,
			],
		});
	}
	return node;
}

/**
 * A connection to the first manager that answers, trying each in the
 * journal's order: one manager down does not stop a command another can
 * serve. When none answers, the first one's error is thrown, so a host key
 * swarmbee did not install is never passed over in silence.
 */
export async function connectToManager<S = RemoteShell>(
	journal: Readonly<Journal>,
	ssh: {get(node: string, signal?: AbortSignal): Promise<S>},
	signal?: AbortSignal,
): Promise<{manager: string; shell: S}> {
	const managers = journal.nodes.filter(n => n.role === 'manager' && n.state !== 'deleting' && n.ssh).map(n => n.name);
	if (managers.length === 0)
		throw new InputError(`cluster ${journal.cluster} has no manager swarmbee can reach yet`, {
			nextSteps: [`run swarmbee up ${journal.cluster}`],
		});
	let first: unknown;
	for (const manager of managers) {
		try {
			return {manager, shell: await ssh.get(manager, signal)};
		} catch (error) {
			if (error instanceof CancelledError) throw error;
			first ??= error;
		}
	}
	throw first;
}
