import wrapAnsi from 'wrap-ansi';
import type {ErrorInfo} from '../errors.js';
import type {RunEvent} from '../events.js';
import {redact} from '../redact.js';

/** `1.2s`, `850ms`, `2m05s`. */
export function formatDuration(ms: number): string {
	if (ms < 1_000) return `${Math.round(ms)}ms`;
	if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
	const minutes = Math.floor(ms / 60_000);
	const seconds = Math.round((ms % 60_000) / 1_000);
	return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

/** `1 droplet`, `3 droplets`: a count and its noun, plural when it is not one. */
export function counted(n: number, what: string): string {
	return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/**
 * The one way an error is shown in text:
 *
 *     error: no Docker engine is reachable
 *       why: Cannot connect to the Docker daemon at unix:///var/run/docker.sock
 *       try: start Docker (e.g. `sudo systemctl start docker`)
 *            check with: docker version
 */
export function formatError(error: ErrorInfo, options: {verbose?: boolean} = {}): string[] {
	const label = error.kind === 'cancelled' ? 'cancelled' : error.kind === 'bug' ? 'bug' : 'error';
	const lines = [`${label}: ${error.message}`];
	if (error.hint) {
		const [first, ...rest] = error.hint.split('\n');
		lines.push(`  why: ${first}`, ...rest.map(line => `       ${line}`));
	}
	error.nextSteps.forEach((step, i) => {
		lines.push(`${i === 0 ? '  try: ' : '       '}${step}`);
	});
	if (error.logFile) lines.push(`  log: ${error.logFile}`);
	if (options.verbose && error.stack)
		lines.push('  stack:', ...error.stack.split('\n').map(line => `       ${line.trim()}`));
	return lines.map(line => redact(line));
}

/**
 * Lines (formatError's, a note) wrapped to `width` between words, each
 * continuation indented under its own text, so a terminal never breaks a
 * word in two:
 *
 *     error: workerbee-1 did not answer SSH at
 *       10.101.197.11:22 within 8 s
 *       try: check that the machine is running
 *            (swarmbee status)
 */
export function wrapErrorLines(lines: readonly string[], width: number): string[] {
	const out: string[] = [];
	for (const line of lines) {
		// The pattern matches every line (both parts may be empty).
		const [lead = '', indent = '', label] = /^(\s*)((?:why|try|log|note): )?/.exec(line) ?? [];
		const head = lead.length;
		// A first line ("error: …") continues two spaces in; a labelled one under its text.
		const hang = ' '.repeat(Math.min(label ? head : indent.length || 2, Math.floor(width / 2)));
		const [first = '', ...rest] = wrapAnsi(line.slice(head), Math.max(10, width - Math.max(head, hang.length)), {
			hard: true,
			trim: true,
		}).split('\n');
		out.push(`${line.slice(0, head)}${first}`, ...rest.map(more => `${hang}${more}`));
	}
	return out;
}

/**
 * The words of a run's lasting lines, shared by the plain renderer and the
 * live view's reducer (whose lines go to Ink's <Static>), so both say the
 * same; `title` finds a step's title by its id.
 *
 *     swarmbee up demo (local): Preflight checks, SSH keys, Machines, Provision (Ansible), Swarm, …
 *     ✔ Machines (4.2s): 4 nodes running (4 created)
 *     ✖ Provision (31.0s): provisioning failed on node workerbee-1
 *     ■ Provision cancelled after 2.0s
 *       queenbee: ok=6 changed=4 unreachable=0 failed=0 skipped=3
 */
export function eventLine(e: RunEvent, title: (step: string) => string): string | undefined {
	switch (e.type) {
		case 'run-started':
			return `swarmbee ${e.command} ${e.cluster} (${e.provider}): ${e.steps.map(s => s.title).join(', ')}`;
		case 'step-finished':
			return `✔ ${title(e.step)} (${formatDuration(e.durationMs)}): ${e.summary}`;
		case 'step-failed':
			return `✖ ${title(e.step)} (${formatDuration(e.durationMs)}): ${e.error.message}`;
		case 'step-cancelled':
			return `■ ${title(e.step)} cancelled after ${formatDuration(e.durationMs)}`;
		case 'node-log':
			return `  ${e.node}: full ${e.step} log in ${e.file}`;
		case 'node-recap': {
			const r = e.recap;
			return `  ${e.node}: ok=${r.ok} changed=${r.changed} unreachable=${r.unreachable} failed=${r.failed} skipped=${r.skipped}`;
		}
		case 'warning':
			return `! ${e.message}`;
		case 'run-cancelled':
			return `cancelled after ${formatDuration(e.durationMs)}; state saved. Resume with: ${e.resume}`;
		default:
			return undefined;
	}
}

/** Left-aligned columns, as `docker ps` prints them. */
export function formatTable(rows: string[][]): string[] {
	const widths: number[] = [];
	for (const row of rows) {
		row.forEach((cell, i) => {
			widths[i] = Math.max(widths[i] ?? 0, cell.length);
		});
	}
	return rows.map(row =>
		row
			.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
			.join('  ')
			.trimEnd(),
	);
}

/** A price in US dollars (what cloud price lists give): cents from a dollar up, three significant digits below. */
export function formatUsd(amount: number): string {
	return amount >= 1 ? `$${amount.toFixed(2)}` : `$${Number(amount.toPrecision(3))}`;
}

/**
 * A command line that stays copyable at any width: as it is where it fits,
 * else broken before its flags with shell line continuations, each line at
 * most `width` wide (a word longer than that stays whole: a terminal's soft
 * wrap of one word still pastes as the same word).
 *
 *     swarmbee up demo --provider local --workers 2 \
 *       --managers 3 --rethinkdb-image swarmbee-rethinkdb:0123456789ab
 */
export function commandLines(command: string, width: number): string[] {
	if (command.length <= width) return [command];
	// Words split at spaces outside quotes; a flag keeps its value on its line.
	const words = command.match(/(?:[^\s"']+|"[^"]*"|'[^']*')+/g) ?? [command];
	const units: string[] = [];
	for (const word of words) {
		if (units.length === 0 || word.startsWith('-')) units.push(word);
		else units[units.length - 1] += ` ${word}`;
	}
	const lines: string[] = [];
	let line = '';
	for (const unit of units) {
		const indent = lines.length === 0 ? '' : '  ';
		// Two characters stay free for " \" at the end of a continued line.
		if (line && indent.length + line.length + 1 + unit.length + 2 > width) {
			lines.push(`${indent}${line} \\`);
			line = unit;
		} else line = line ? `${line} ${unit}` : unit;
	}
	lines.push(`${lines.length === 0 ? '' : '  '}${line}`);
	return lines;
}

/**
 * A message inside a prompt (an answer's validation), broken between words
 * so that with the prompt's `> ` before it no line is wider than `width`:
 * the prompt library would otherwise cut the line mid-word at the edge.
 */
export function wrapPromptMessage(message: string, width: number): string {
	return wrapAnsi(message, Math.max(20, width - 3), {hard: true, trim: true})
		.split('\n')
		.map((line, i) => (i === 0 ? line : `  ${line}`))
		.join('\n');
}
