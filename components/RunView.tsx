import {Box, Static, Text, useInput} from 'ink';
import {useRef, useState} from 'react';
import {counted, formatDuration} from '../source/render/format.js';
import {ErrorBanner} from './ErrorBanner.js';
import type {RunEventSource} from './event-source.js';
import {NodePane} from './NodePane.js';
import {NodeTable} from './NodeTable.js';
import {nodesWithOutput, type FinishedLine, type NodeView} from './run-state.js';
import {StepList} from './StepList.js';
import {TableProgress} from './TableProgress.js';
import {useRunEvents} from './useRunEvents.js';
import {useTerminalSize} from './useTerminalSize.js';

const TONES: Record<FinishedLine['tone'], {color?: string; bold?: boolean; dim?: boolean}> = {
	title: {bold: true},
	done: {color: 'green'},
	failed: {color: 'red'},
	cancelled: {color: 'yellow'},
	note: {dim: true},
	warning: {color: 'yellow'},
};

/** Lines a collapsed pane shows; an expanded one gets what the terminal has left. */
const COLLAPSED_LINES = 3;

/**
 * Which panes fit: the selected one and its neighbours, as many as the
 * terminal's height allows (each collapsed pane takes its lines plus two).
 */
export function paneWindow(count: number, selected: number, fit: number): {start: number; end: number} {
	const size = Math.max(1, Math.min(count, fit));
	const start = Math.min(Math.max(0, selected - Math.floor(size / 2)), count - size);
	return {start: Math.max(0, start), end: Math.max(0, start) + size};
}

interface RunViewProps {
	source: RunEventSource;
	/** Ctrl-C: handed to the command's one interrupt owner (it aborts, saves and says how to resume). */
	onInterrupt: () => void;
	intervalMs?: number;
}

/**
 * The live view of `swarmbee up` (listr2's default renderer, cdktf deploy):
 *
 *     swarmbee up demo (local): Preflight checks, SSH keys, Machines, Provision (Ansible), Swarm, …
 *     ✔ Preflight checks (1.2s): Docker engine 20.10.24+dfsg1 reachable       ← <Static>
 *     ✔ SSH keys (15ms): 3 keys generated
 *       queenbee: full provision log in …/logs/queenbee/provision.log
 *     ⠹ Provision  12.4s                                                       ← live
 *     ○ Swarm
 *     ✔ queenbee     ready
 *     ⠹ workerbee-1  provisioning  TASK [Install packages]
 *     ▸ workerbee-1 · provision · provisioning · ok 12 changed 5 failed 0 · 9 lines
 *     ┃ TASK [Install packages] ******************************************
 *     ┃ changed: [localhost]
 *     ↑↓ choose a node · enter expand · ctrl-c stop and save
 */
export function RunView({source, onInterrupt, intervalMs}: RunViewProps) {
	const {state, frame, now} = useRunEvents(source, intervalMs);
	const {columns, rows} = useTerminalSize();
	const [selectedName, setSelectedName] = useState<string | undefined>();
	const [expanded, setExpanded] = useState(false);
	const done = state.outcome !== undefined;
	// Once the run is over only failed nodes keep their pane: the rest is in the logs.
	const panes = nodesWithOutput(state).filter(
		n => !done || n.state === 'failed' || n.counters.failed + n.counters.unreachable > 0,
	);
	const selectedIndex = Math.max(
		0,
		panes.findIndex(n => n.name === selectedName),
	);
	const selected: NodeView | undefined = panes[selectedIndex];

	// Key handlers read the latest panes through a ref: Ink may call a handler from a render ago.
	const latest = useRef({panes, selectedIndex});
	latest.current = {panes, selectedIndex};
	useInput((input, key) => {
		if (key.ctrl && input === 'c') {
			onInterrupt();
			return;
		}
		const {panes, selectedIndex} = latest.current;
		if (panes.length === 0) return;
		const move = (by: number) => setSelectedName(panes[(selectedIndex + by + panes.length) % panes.length]?.name);
		if (key.downArrow || key.rightArrow || key.tab || input === 'j') move(1);
		else if (key.upArrow || key.leftArrow || input === 'k') move(-1);
		else if (key.return || input === ' ' || input === 'e') setExpanded(value => !value);
		else if (key.escape) setExpanded(false);
	});

	const openSteps = state.steps.filter(s => s.status === 'running' || s.status === 'pending').length;
	// Rows the fixed parts take: open steps, the node table, the banner/hint lines.
	const reserved = openSteps + state.nodes.length + (done ? 8 : 3);
	const room = Math.max(COLLAPSED_LINES + 2, rows - reserved);
	const shown =
		expanded && selected
			? [selected]
			: (() => {
					const {start, end} = paneWindow(panes.length, selectedIndex, Math.floor(room / (COLLAPSED_LINES + 2)));
					return panes.slice(start, end);
				})();
	const paneLines = expanded ? Math.max(COLLAPSED_LINES, room - 3) : COLLAPSED_LINES;
	const hidden = panes.length - shown.length;
	const outcome = state.outcome;

	return (
		<Box flexDirection="column" width={columns}>
			<Static items={state.finished}>
				{line => {
					const tone = TONES[line.tone];
					return (
						<Text key={line.key} color={tone.color} bold={tone.bold} dimColor={tone.dim}>
							{line.text}
						</Text>
					);
				}}
			</Static>
			{/* Once the run is over, steps that never started will not: only the outcome matters. */}
			{done ? null : <StepList steps={state.steps} frame={frame} now={now} />}
			{done || !state.tables ? null : <TableProgress tables={state.tables} frame={frame} />}
			<NodeTable nodes={state.nodes} frame={frame} />
			{shown.map(node => (
				<NodePane
					key={node.name}
					node={node}
					lines={paneLines}
					selected={panes.length > 1 && node.name === selected?.name}
					width={columns}
				/>
			))}
			{outcome?.kind === 'failed' ? <ErrorBanner error={outcome.error} width={columns} /> : null}
			{outcome?.kind === 'done' ? (
				<Text color="green" bold>
					✔ done in {formatDuration(outcome.durationMs)}: {outcome.summary}
				</Text>
			) : null}
			{outcome?.kind === 'cancelled' ? (
				<Text color="yellow" bold wrap="wrap">
					■ cancelled after {formatDuration(outcome.durationMs)}; state saved. Resume with: {outcome.resume}
				</Text>
			) : null}
			{panes.length > 0 && !done ? (
				<Text dimColor wrap="truncate-end">
					{panes.length > 1 ? '↑↓ choose a node · ' : ''}enter {expanded ? 'collapse' : 'expand'}
					{hidden > 0 ? ` · ${counted(hidden, 'more node')}` : ''} · ctrl-c stop and save
				</Text>
			) : null}
			{panes.length === 0 && !done && state.command ? <Text dimColor>ctrl-c stop and save</Text> : null}
		</Box>
	);
}
