import {parseArgs, type ParseArgsConfig} from 'node:util';
import {COMMANDS, START, usage, type CommandName} from './commands/index.js';
import {reportError, type CommandIO} from './session/io.js';
import {exitCodeFor, InputError} from './errors.js';
import {packageVersion} from './paths.js';

export type {CommandIO} from './session/io.js';

/**
 * `--workers -1` is read as `--workers=-1`: parseArgs would otherwise call
 * the value an ambiguous option, and the field's own check, which says
 * what a worker count may be, would never see it.
 */
export function joinNegativeValues(
	argv: readonly string[],
	options: NonNullable<ParseArgsConfig['options']>,
): string[] {
	const out: string[] = [];
	for (let i = 0; i < argv.length; i++) {
		const arg = argv[i];
		if (arg === undefined) break;
		// After `--` everything is someone else's argument (`ssh demo -- cmd --opt -1`): left as given.
		if (arg === '--') return [...out, ...argv.slice(i)];
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

type ParsedToken = NonNullable<ReturnType<typeof parseArgs>['tokens']>[number];

/**
 * An option given twice (`--workers 1 --workers 2`, `-n 3 --lines 4`) is
 * refused for every command, whatever its type: parseArgs keeps the last
 * one without a word, and which one the user meant cannot be known.
 *
 *     error: --workers is given twice (1, then 2): give it once
 */
export function refuseRepeatedOptions(command: string, tokens: readonly ParsedToken[]): void {
	const seen = new Map<string, Array<string | undefined>>();
	for (const token of tokens) {
		if (token.kind !== 'option') continue;
		seen.set(token.name, [...(seen.get(token.name) ?? []), token.value]);
	}
	for (const [name, given] of seen) {
		if (given.length < 2) continue;
		// A value from the command line is shown as JSON would quote it: no control character reaches the terminal raw.
		const shown = (value: string) => (/^[\w.,:/@%+=-]*$/.test(value) ? value : JSON.stringify(value));
		const values = given.some(value => value !== undefined)
			? ` (${given.map(value => (value === undefined ? '(no value)' : shown(value))).join(', then ')})`
			: '';
		throw new InputError(
			`--${name} is given ${given.length === 2 ? 'twice' : `${given.length} times`}${values}: give it once`,
			{
				nextSteps: [`keep the one you mean and run the command again (see swarmbee ${command} --help)`],
			},
		);
	}
}

function parse(command: CommandName, argv: string[]) {
	const options = COMMANDS[command].options;
	try {
		const args = joinNegativeValues(argv, options);
		const {values, positionals, tokens} = parseArgs({
			args,
			options,
			allowPositionals: true,
			strict: true,
			tokens: true,
		});
		refuseRepeatedOptions(command, tokens);
		// What follows `--` is kept apart as well: `ssh demo -- ls -l` runs it on the node.
		const terminator = tokens.find(token => token.kind === 'option-terminator');
		return {values, positionals, ...(terminator ? {afterDoubleDash: args.slice(terminator.index + 1)} : {})};
	} catch (error) {
		if (error instanceof InputError) throw error;
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
	// Only swarmbee's own --json counts, not one in a command for a node (`ssh demo -- tool --json`).
	const own = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
	const json = own.includes('--json');
	// A bug's stack is shown with --verbose (any command) or SWARMBEE_DEBUG=1.
	const verbose = own.includes('--verbose') || io.env['SWARMBEE_DEBUG'] === '1';
	const names = Object.keys(COMMANDS);
	// The start screen's choice runs with the same io: a token it asked for is in io.credentials.
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
		const {values, positionals, afterDoubleDash} = parse(name, rest);
		if (values.help) {
			io.stdout.write(`${usage()}\n`);
			return 0;
		}
		const {run} = await COMMANDS[name].load();
		return await run(
			{
				values: values as Record<string, string | boolean | undefined>,
				positionals,
				...(afterDoubleDash ? {afterDoubleDash} : {}),
				commands: names,
				dispatch,
			},
			io,
		);
	} catch (error) {
		reportError(error, io, json, verbose);
		return exitCodeFor(error);
	}
}
