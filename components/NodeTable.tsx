import {Box, Text} from 'ink';
import type {NodeActivity} from '../source/states.js';
import type {NodeView} from './run-state.js';
import {Spinner} from './Spinner.js';

const SETTLED: Partial<Record<NodeActivity, {icon: string; color: string}>> = {
	pending: {icon: '○', color: 'gray'},
	ready: {icon: '✔', color: 'green'},
	running: {icon: '✔', color: 'green'},
	failed: {icon: '✖', color: 'red'},
	cancelled: {icon: '■', color: 'yellow'},
	deleted: {icon: '✔', color: 'gray'},
	stopped: {icon: '■', color: 'gray'},
};

export function nodeStateColor(state: NodeActivity): string {
	return SETTLED[state]?.color ?? (state === 'retrying' ? 'yellow' : 'cyan');
}

/**
 * One row per node with its state; busy states spin:
 *
 *     ✔ queenbee     ready
 *     ⠹ workerbee-1  provisioning  TASK [Install packages]
 *     ✖ workerbee-2  failed        apt-get exited 100
 */
export function NodeTable({nodes, frame}: {nodes: NodeView[]; frame: number}) {
	if (nodes.length === 0) return null;
	const nameWidth = Math.max(...nodes.map(n => n.name.length));
	const stateWidth = Math.max(...nodes.map(n => n.state.length));
	return (
		<Box flexDirection="column">
			{nodes.map(node => {
				const settled = SETTLED[node.state];
				const color = nodeStateColor(node.state);
				const task = node.task && node.state === 'provisioning' ? `TASK [${node.task}]` : '';
				// A detail that only repeats the state ("booting: booting") says nothing.
				const detail = node.detail && node.detail !== node.state ? node.detail : task;
				return (
					<Box key={node.name}>
						<Box flexShrink={0}>
							{settled ? <Text color={color}>{settled.icon}</Text> : <Spinner frame={frame} color={color} />}
						</Box>
						<Text wrap="truncate-end">
							{' '}
							{node.name.padEnd(nameWidth)}
							{'  '}
							<Text color={color}>{node.state.padEnd(stateWidth)}</Text>
							{detail ? (
								<Text dimColor>
									{'  '}
									{detail}
								</Text>
							) : null}
						</Text>
					</Box>
				);
			})}
		</Box>
	);
}
