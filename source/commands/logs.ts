import {streamLogs, type LogLines} from '../access/logs.js';
import {InputError} from '../errors.js';
import {handleInterrupts, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import type {CommandArgs} from './args.js';

interface LogsRequest {
	name: string;
	target?: string;
	follow: boolean;
	lines: LogLines;
}

/** The most lines `--lines N` asks for; more is `--lines all`. */
const MAX_LINES = 1_000_000;

/** `--lines 50`, `--lines all`; 100 when not given. A count is checked here, never sent to a node as it was typed. */
function linesOption(value: string | boolean | undefined): LogLines {
	if (typeof value !== 'string') return 100;
	if (value === 'all') return 'all';
	if (/^\d{1,7}$/.test(value) && Number(value) >= 1 && Number(value) <= MAX_LINES) return Number(value);
	throw new InputError(`--lines ${JSON.stringify(value).slice(1, -1)} is not a number of lines swarmbee can ask for`, {
		nextSteps: [`give a whole number from 1 to ${MAX_LINES.toLocaleString('en-US')}, or all`],
	});
}

/** Reads `logs NAME [SERVICE|NODE] [--follow] [--lines N]`. */
export function parseLogsArgs(values: CommandArgs['values'], positionals: string[]): LogsRequest {
	if (positionals.length === 0)
		throw new InputError('logs needs a cluster name', {
			nextSteps: ['e.g. swarmbee logs demo rdb-queenbee, or swarmbee logs demo workerbee-1'],
		});
	if (positionals.length > 2)
		throw new InputError(`logs takes a cluster name and one server or node, got ${positionals.join(' ')}`, {
			nextSteps: [`e.g. swarmbee logs ${positionals[0]} ${positionals[1]}`],
		});
	const [name, target] = positionals as [string, string | undefined];
	return {
		name,
		...(target !== undefined ? {target} : {}),
		follow: Boolean(values.follow),
		lines: linesOption(values.lines),
	};
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const request = parseLogsArgs(values, positionals);
	const session = await openCluster(request.name, io, {needs: ['ssh'], verb: 'read the logs of'});
	const controller = new AbortController();
	// Ctrl-C ends --follow: the command stops on the node and this one exits 0.
	const release = handleInterrupts(controller, io, () => {});
	try {
		await streamLogs({
			journal: session.journal.value,
			ssh: session.ssh,
			logsDir: session.paths.logsDir,
			target: request.target,
			lines: request.lines,
			follow: request.follow,
			signal: controller.signal,
			onLine: line => (line.stream === 'stdout' ? io.stdout : io.stderr).write(`${line.text}\n`),
		});
		return 0;
	} finally {
		release();
		await session.close();
	}
}
