import {Text} from 'ink';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * A spinner that does not tick by itself: its frame comes from the view's
 * one clock (useRunEvents), so spinners never cause renders of their own.
 */
export function Spinner({frame, color = 'cyan'}: {frame: number; color?: string}) {
	return <Text color={color}>{FRAMES[frame % FRAMES.length]}</Text>;
}
