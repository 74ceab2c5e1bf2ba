import {Box, Text} from 'ink';
import type {ErrorInfo} from '../source/errors.js';
import {formatError, wrapErrorLines} from '../source/render/format.js';

/**
 * The one way an error is shown on screen: what failed, why, what to do,
 * where the log is. The text is formatError's, the same as the plain
 * renderer prints, in a box:
 *
 *     ╭──────────────────────────────────────────────────────╮
 *     │ error: provisioning failed on node workerbee-2       │
 *     │   why: workerbee-2: apt-get install exited 100       │
 *     │   try: swarmbee up demo (it resumes where it stopped)│
 *     │   log: ~/.config/swarmbee-nodejs/clusters/demo/logs/…│
 *     ╰──────────────────────────────────────────────────────╯
 */
export function ErrorBanner({error, width}: {error: ErrorInfo; width?: number}) {
	const lines = formatError(error);
	// Wrapped here, between words and under each line's own text: Ink's wrap would break a long path or URL mid-word.
	const wrapped = width ? wrapErrorLines(lines, width - 4) : lines;
	const firstLines = width ? wrapErrorLines(lines.slice(0, 1), width - 4).length : 1;
	const color = error.kind === 'cancelled' ? 'yellow' : 'red';
	return (
		<Box flexDirection="column" borderStyle="round" borderColor={color} paddingX={1} width={width}>
			{wrapped.map((line, i) => (
				// biome-ignore lint/suspicious/noArrayIndexKey: the lines of one error, drawn whole each time; nothing is reordered
				<Text key={i} color={i < firstLines ? color : undefined} bold={i < firstLines} wrap="truncate-end">
					{line}
				</Text>
			))}
		</Box>
	);
}
