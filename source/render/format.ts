import type {ErrorInfo} from '../errors.js';
import {redact} from '../redact.js';

/** `1.2s`, `850ms`, `2m05s`. */
export function formatDuration(ms: number): string {
	if (ms < 1_000) return `${Math.round(ms)}ms`;
	if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
	const minutes = Math.floor(ms / 60_000);
	const seconds = Math.round((ms % 60_000) / 1_000);
	return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

/**
 * The one way an error is shown in text:
 *
 *     error: no Docker engine is reachable
 *       why: Cannot connect to the Docker daemon at unix:///var/run/docker.sock
 *       try: start Docker (e.g. `sudo systemctl start docker`)
 *            check with: docker version
 */
export function formatError(error: ErrorInfo): string[] {
	const lines = [`${error.kind === 'cancelled' ? 'cancelled' : 'error'}: ${error.message}`];
	if (error.hint) {
		const [first, ...rest] = error.hint.split('\n');
		lines.push(`  why: ${first}`, ...rest.map(line => `       ${line}`));
	}
	error.nextSteps.forEach((step, i) => lines.push(`${i === 0 ? '  try: ' : '       '}${step}`));
	if (error.logFile) lines.push(`  log: ${error.logFile}`);
	return lines.map(line => redact(line));
}

/** Left-aligned columns, as `docker ps` prints them. */
export function formatTable(rows: string[][]): string[] {
	const widths: number[] = [];
	for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
	return rows.map(row => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
}
