import {shellCommand} from '../shell.js';

/**
 * Remote command lines for Swarm mode, run as root on a node over SSH, and
 * parsers for what they print. Pure: tests pin them as strings.
 */

const SWARM_PORT = 2377;

export interface SwarmInfo {
	LocalNodeState: 'inactive' | 'pending' | 'active' | 'error' | 'locked';
	NodeID: string;
	ControlAvailable: boolean;
	Cluster?: {ID: string} | null;
	RemoteManagers?: Array<{NodeID: string; Addr: string}> | null;
}

export const swarmInfoCommand = shellCommand(['docker', 'info', '--format', '{{json .Swarm}}']);

export function parseSwarmInfo(text: string): SwarmInfo {
	return JSON.parse(text.trim()) as SwarmInfo;
}

/** Swarm listens, advertises and carries data on the private address only. */
export function swarmInitCommand(privateAddress: string): string {
	return shellCommand([
		'docker', 'swarm', 'init',
		'--advertise-addr', privateAddress,
		'--listen-addr', `${privateAddress}:${SWARM_PORT}`,
		'--data-path-addr', privateAddress,
	]);
}

export function joinTokenCommand(role: 'worker' | 'manager'): string {
	return shellCommand(['docker', 'swarm', 'join-token', '-q', role]);
}

/**
 * Join with the token read from stdin, so it never sits in a command line
 * swarmbee logs (the remote shell expands it just for docker).
 */
export function swarmJoinCommand(privateAddress: string, managerAddress: string): string {
	return `${shellCommand([
		'docker', 'swarm', 'join',
		'--advertise-addr', privateAddress,
		'--listen-addr', `${privateAddress}:${SWARM_PORT}`,
		'--data-path-addr', privateAddress,
	])} --token "$(cat)" ${shellCommand([`${managerAddress}:${SWARM_PORT}`])}`;
}

export const swarmLeaveCommand = shellCommand(['docker', 'swarm', 'leave', '--force']);

export interface SwarmNode {
	ID: string;
	Hostname: string;
	/** Ready, Down, Unknown, Disconnected. */
	Status: string;
	/** Active, Pause, Drain. */
	Availability: string;
	/** '' for workers; Leader, Reachable, Unreachable for managers. */
	ManagerStatus: string;
}

export const nodeListCommand = shellCommand(['docker', 'node', 'ls', '--format', '{{json .}}']);

export function parseJsonLines<T>(text: string): T[] {
	return text.split('\n').filter(line => line.trim()).map(line => JSON.parse(line) as T);
}

export function nodeRoleCommand(action: 'promote' | 'demote', nodeId: string): string {
	return shellCommand(['docker', 'node', action, nodeId]);
}

export function nodeRemoveCommand(nodeId: string): string {
	return shellCommand(['docker', 'node', 'rm', '--force', nodeId]);
}

export function isManager(node: SwarmNode): boolean {
	return node.ManagerStatus !== '';
}

export function drainCommand(nodeId: string): string {
	return shellCommand(['docker', 'node', 'update', '--availability', 'drain', nodeId]);
}

/** Tasks Swarm still wants running on a node. */
export function nodeTasksCommand(nodeId: string): string {
	return shellCommand(['docker', 'node', 'ps', nodeId, '--filter', 'desired-state=running', '--format', '{{json .}}']);
}
