import {Box, Text} from 'ink';
import type {NodeView} from './run-state.js';
import {nodeStateColor} from './NodeTable.js';

/**
 * One node's live output: a header with Ansible's counters, the last lines,
 * and where the full log is. Selected panes have a bright border; failed
 * ones a red one.
 *
 *     ╭ workerbee-1 · provision · ok 12 changed 5 failed 0 · 214 lines ────╮
 *     │ TASK [Install packages] ****************************************** │
 *     │ changed: [localhost]                                               │
 *     │ log: ~/.config/swarmbee-nodejs/clusters/demo/logs/workerbee-1/…    │
 *     ╰────────────────────────────────────────────────────────────────────╯
 */
export function NodePane({node, lines, selected, width}: {node: NodeView; lines: number; selected: boolean; width: number}) {
	const failed = node.state === 'failed' || node.counters.failed + node.counters.unreachable > 0;
	const borderColor = failed ? 'red' : selected ? 'cyan' : 'gray';
	const c = node.counters;
	const tail = node.tail.slice(-Math.max(1, lines));
	return (
		<Box flexDirection="column" borderStyle={selected ? 'bold' : 'round'} borderColor={borderColor} paddingX={1} width={width}>
			<Text wrap="truncate-end">
				<Text bold>{selected ? '▸ ' : ''}{node.name}</Text>
				<Text dimColor> · {node.step ?? 'output'} · </Text>
				<Text color={nodeStateColor(node.state)}>{node.state}</Text>
				<Text> · </Text>
				<Text color="green">ok {c.ok}</Text>{' '}
				<Text color="yellow">changed {c.changed}</Text>{' '}
				<Text color={c.failed > 0 ? 'red' : undefined}>failed {c.failed}</Text>
				{c.unreachable > 0 ? <Text color="red"> unreachable {c.unreachable}</Text> : null}
				<Text dimColor> · {node.lines} line{node.lines === 1 ? '' : 's'}{node.recapped ? ' · recap' : ''}</Text>
			</Text>
			{tail.map((line, i) => (
				<Text key={i} wrap="truncate-end" color={/^(fatal|failed):/.test(line) ? 'red' : undefined} dimColor={!/^(fatal|failed):/.test(line)}>{line || ' '}</Text>
			))}
			{node.logFile ? <Text wrap="truncate-middle" dimColor>log: {node.logFile}</Text> : null}
		</Box>
	);
}
