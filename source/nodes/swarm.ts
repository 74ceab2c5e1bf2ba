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
		'docker',
		'swarm',
		'init',
		'--advertise-addr',
		privateAddress,
		'--listen-addr',
		`${privateAddress}:${SWARM_PORT}`,
		'--data-path-addr',
		privateAddress,
	]);
}

export function joinTokenCommand(role: 'worker' | 'manager'): string {
	return shellCommand(['docker', 'swarm', 'join-token', '-q', role]);
}

/**
 * What the join asks of the node's engine, sent on stdin: the Engine API's
 * SwarmJoin request (what `docker swarm join --advertise-addr … --listen-addr
 * … --data-path-addr … --token … MANAGER:2377` sends).
 */
export function swarmJoinRequest(privateAddress: string, managerAddress: string, token: string): string {
	return JSON.stringify({
		ListenAddr: `${privateAddress}:${SWARM_PORT}`,
		AdvertiseAddr: privateAddress,
		DataPathAddr: privateAddress,
		RemoteAddrs: [`${managerAddress}:${SWARM_PORT}`],
		JoinToken: token,
	});
}

/**
 * Joins through the Engine API on the node's own socket, the request
 * (token included) read from stdin. `docker swarm join` takes the token only
 * as an argument, and an argument is in the process list, readable by every
 * process and container user on the node while the join runs. python3 is
 * there on every node: Ansible ran on it.
 */
export const swarmJoinCommand = shellCommand([
	'python3',
	'-c',
	[
		'import http.client, json, socket, sys',
		'class Engine(http.client.HTTPConnection):',
		'    def connect(self):',
		'        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)',
		'        self.sock.settimeout(self.timeout)',
		'        self.sock.connect("/var/run/docker.sock")',
		'engine = Engine("localhost", timeout=120)',
		'engine.request("POST", "/swarm/join", body=sys.stdin.buffer.read(), headers={"Content-Type": "application/json"})',
		'response = engine.getresponse()',
		'text = response.read().decode(errors="replace")',
		'if response.status >= 300:',
		'    try:',
		'        text = json.loads(text)["message"]',
		'    except Exception:',
		'        pass',
		'    sys.exit("swarm join failed: " + text)',
	].join('\n'),
]);

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
	return text
		.split('\n')
		.filter(line => line.trim())
		.map(line => JSON.parse(line) as T);
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

/** Tasks Swarm still wants running on a node. */
export function nodeTasksCommand(nodeId: string): string {
	return shellCommand(['docker', 'node', 'ps', nodeId, '--filter', 'desired-state=running', '--format', '{{json .}}']);
}
