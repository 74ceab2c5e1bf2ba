import {Box, Text} from 'ink';
import type {NodeView} from './run-state.js';
import {nodeStateColor} from './NodeTable.js';

/**
 * One node's live output: a header with Ansible's counters, the last lines
 * under a bar (cyan when selected, red when something failed), and where
 * the full log is. No box: side borders cost a write per row on every
 * frame, and a flood of output is exactly when frames must be cheap.
 *
 *     ▸ workerbee-1 (provision) provisioning  ok 12 changed 5 failed 0  214 lines
 *     ┃ TASK [Install packages] *********************************************
 *     ┃ changed: [localhost]
 *     ┃ log: ~/.config/swarmbee-nodejs/clusters/demo/logs/workerbee-1/provision.log
 */
export function NodePane({
	node,
	lines,
	selected,
	width,
}: {
	node: NodeView;
	lines: number;
	selected: boolean;
	width: number;
}) {
	const failed = node.state === 'failed' || node.counters.failed + node.counters.unreachable > 0;
	const barColor = failed ? 'red' : selected ? 'cyan' : 'gray';
	const bar = (
		<Box flexShrink={0} width={2}>
			<Text color={barColor}>{selected ? '┃' : '│'}</Text>
		</Box>
	);
	const c = node.counters;
	const tail = node.tail.slice(-Math.max(1, lines));
	return (
		<Box flexDirection="column" width={width}>
			<Box>
				<Box flexShrink={0} width={2}>
					<Text color={barColor} bold>
						{selected ? '▸' : '•'}
					</Text>
				</Box>
				{/* ASCII only from here on, so Ink measures it on its fast path (see bench/render-flood). */}
				<Text wrap="truncate-end">
					<Text bold>{node.name}</Text>
					<Text dimColor>
						{' '}
						({node.step ?? 'output'}
						{node.playbook ? ` · ${node.playbook}` : ''}){' '}
					</Text>
					<Text color={nodeStateColor(node.state)}>{node.state}</Text>
					<Text>{'  '}</Text>
					<Text color="green">ok {c.ok}</Text> <Text color="yellow">changed {c.changed}</Text>{' '}
					<Text color={c.failed > 0 ? 'red' : undefined}>failed {c.failed}</Text>
					{c.unreachable > 0 ? <Text color="red"> unreachable {c.unreachable}</Text> : null}
					<Text dimColor>
						{'  '}
						{node.lines} line{node.lines === 1 ? '' : 's'}
						{node.recapped ? ', recap' : ''}
					</Text>
				</Text>
			</Box>
			{tail.map((line, i) => (
				// The bar is its own Text: a line of plain ASCII is measured on Ink's fast path.
				// biome-ignore lint/suspicious/noArrayIndexKey: a log tail is position by position (the same line may come twice)
				<Box key={i}>
					{bar}
					<Text
						wrap="truncate-end"
						color={/^(fatal|failed):/.test(line) ? 'red' : undefined}
						dimColor={!/^(fatal|failed):/.test(line)}
					>
						{line}
					</Text>
				</Box>
			))}
			{node.logFile ? (
				<Box>
					{bar}
					<Text wrap="truncate-middle" dimColor>
						log: {node.logFile}
					</Text>
				</Box>
			) : null}
		</Box>
	);
}
