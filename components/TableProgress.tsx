import {Box, Text} from 'ink';
import {formatBytes, formatCount, tableFraction} from '../source/render/table-progress.js';
import type {TableView} from './run-state.js';
import {Spinner} from './Spinner.js';

const BAR = 20;

/** `████████░░░░░░░░░░░░`, or a dim bar while the total is not known. */
export function progressBar(fraction: number | undefined, width = BAR): string {
	if (fraction === undefined) return '░'.repeat(width);
	const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
	return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/**
 * The tables a backup or restore is working on (finished ones are already
 * lines in `<Static>` above):
 *
 *     ⠹ app.orders  ████████░░░░░░░░░░░░  40%  writing documents · 2,000 of 5,000 documents · 1.20 MB
 *     ⠹ app.users   ░░░░░░░░░░░░░░░░░░░░       creating the table
 */
export function TableProgress({tables, frame}: {tables: readonly TableView[]; frame: number}) {
	const running = tables.filter(t => t.state === 'running');
	if (running.length === 0) return null;
	const nameWidth = Math.max(...running.map(t => t.name.length));
	return (
		<Box flexDirection="column">
			{running.map(table => {
				const fraction = tableFraction(table);
				const counts =
					table.totalDocuments !== undefined
						? `${formatCount(table.documents)} of ${formatCount(table.totalDocuments)} documents`
						: `${formatCount(table.documents)} documents`;
				return (
					<Box key={table.name}>
						<Box flexShrink={0}>
							<Spinner frame={frame} />
						</Box>
						<Text wrap="truncate-end">
							{' '}
							{table.name.padEnd(nameWidth)}
							{'  '}
							<Text color="cyan">{progressBar(fraction)}</Text>{' '}
							{fraction === undefined ? '    ' : `${String(Math.floor(fraction * 100)).padStart(3)}%`}
							<Text dimColor>
								{'  '}
								{table.detail ? `${table.detail} · ` : ''}
								{counts} · {formatBytes(table.bytes)}
							</Text>
						</Text>
					</Box>
				);
			})}
		</Box>
	);
}
