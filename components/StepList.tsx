import {Box, Text} from 'ink';
import {formatDuration} from '../source/render/format.js';
import type {StepView} from './run-state.js';
import {Spinner} from './Spinner.js';

/**
 * The steps not yet finished (finished ones are already in `<Static>` above):
 *
 *     ⠹ Machines  4.2s  queenbee: running (SSH ok)
 *     ○ Swarm
 *     ○ Overlay network
 */
export function StepList({steps, frame, now}: {steps: StepView[]; frame: number; now: number}) {
	const open = steps.filter(s => s.status === 'running' || s.status === 'pending');
	if (open.length === 0) return null;
	return (
		<Box flexDirection="column">
			{open.map(step =>
				step.status === 'running' ? (
					<Box key={step.id}>
						<Box flexShrink={0}>
							<Spinner frame={frame} />
						</Box>
						<Text wrap="truncate-end">
							{' '}
							<Text bold>{step.title}</Text>
							<Text dimColor>
								{'  '}
								{formatDuration(Math.max(0, now - (step.startedAt ?? now)))}
							</Text>
							{step.progress ? (
								<Text dimColor>
									{'  '}
									{step.progress}
								</Text>
							) : null}
						</Text>
					</Box>
				) : (
					<Text key={step.id} dimColor wrap="truncate-end">
						○ {step.title}
					</Text>
				),
			)}
		</Box>
	);
}
