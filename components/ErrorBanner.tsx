import {Box, Text} from 'ink';
import type {ErrorInfo} from '../source/errors.js';
import {formatError} from '../source/render/format.js';

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
	const [first, ...rest] = formatError(error);
	const color = error.kind === 'cancelled' ? 'yellow' : 'red';
	return (
		<Box flexDirection="column" borderStyle="round" borderColor={color} paddingX={1} width={width}>
			<Text color={color} bold wrap="wrap">{first}</Text>
			{rest.map((line, i) => (
				<Text key={i} wrap="wrap">{line}</Text>
			))}
		</Box>
	);
}
