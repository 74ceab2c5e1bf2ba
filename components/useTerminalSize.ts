import {useStdout} from 'ink';
import {useEffect, useState} from 'react';

/**
 * The terminal's size, updated on resize. Ink re-lays out on its own resize
 * listener too, but not in CI mode, and layout choices (how many panes fit)
 * are ours to make.
 */
export function useTerminalSize(): {columns: number; rows: number} {
	const {stdout} = useStdout();
	const [size, setSize] = useState(() => terminalSize(stdout));
	useEffect(() => {
		const onResize = () => setSize(terminalSize(stdout));
		stdout.on('resize', onResize);
		return () => {
			stdout.off('resize', onResize);
		};
	}, [stdout]);
	return size;
}

function terminalSize(stdout: NodeJS.WriteStream): {columns: number; rows: number} {
	return {columns: stdout.columns || 80, rows: stdout.rows || 24};
}
