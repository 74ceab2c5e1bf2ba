import {parseArgs, type ParseArgsConfig} from 'node:util';
import {COMMANDS, START, usage, type CommandName} from './commands/index.js';
import {reportError, type CommandIO} from './commands/io.js';
import {exitCodeFor, InputError} from './errors.js';
import {packageVersion} from './paths.js';

export type {CommandIO} from './commands/io.js';

/**
 * `--workers -1` is read as `--workers=-1`: parseArgs would otherwise call
 * the value an ambiguous option, and the field's own check, which says
 * what a worker count may be, would never see it.
 */
export function joinNegativeValues(argv: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
	const out: string[] = [];
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i]!;
		const next = argv[i + 1];
		const option = arg.startsWith('--') && !arg.includes('=') ? options[arg.slice(2)] : undefined;
		if (option?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
			out.push(`${arg}=${next}`);
			i++;
		} else {
			out.push(arg);
		}
	}
	return out;
}

function parse(command: CommandName, argv: string[]) {
	const options = COMMANDS[command].options;
	try {
		return parseArgs({args: joinNegativeValues(argv, options), options, allowPositionals: true, strict: true});
	} catch (error) {
		throw new InputError((error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), {
			nextSteps: [`see swarmbee --help for the options of ${command}`],
		});
	}
}

/**
 * The command line → one command of COMMANDS, its options parsed, its code
 * loaded. Every error a command throws ends here: shown once, with its fix,
 * and turned into the exit code.
 */
export async function main(argv: string[], io: CommandIO): Promise<number> {
	const [command, ...rest] = argv;
	const json = rest.includes('--json');
	const names = Object.keys(COMMANDS);
	const dispatch = (next: string[]) => main(next, io);
	try {
		if (command === undefined && io.interactive) {
			const {run} = await START.load();
			return await run({values: {}, positionals: [], commands: names, dispatch}, io);
		}
		if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
			io.stdout.write(`${usage()}\n`);
			return 0;
		}
		if (command === '--version' || command === '-v' || command === 'version') {
			io.stdout.write(`${packageVersion()}\n`);
			return 0;
		}
		if (!(command in COMMANDS)) {
			throw new InputError(`unknown command "${command}"`, {nextSteps: ['swarmbee --help lists the commands']});
		}
		const name = command as CommandName;
		const {values, positionals} = parse(name, rest);
		if (values.help) {
			io.stdout.write(`${usage()}\n`);
			return 0;
		}
		const {run} = await COMMANDS[name].load();
		return await run({values: values as Record<string, string | boolean | undefined>, positionals, commands: names, dispatch}, io);
	} catch (error) {
		reportError(error, io, json);
		return exitCodeFor(error);
	}
}
