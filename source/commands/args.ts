import {InputError} from '../errors.js';
import type {CommandIO} from '../session/io.js';

/** A command's parsed command line, as main hands it over. */
export interface CommandArgs {
	values: Record<string, string | boolean | undefined>;
	positionals: string[];
	/** The words after `--`, when there was one (they are the last of `positionals` too). */
	afterDoubleDash?: string[];
	/** The names of every command this build has (the start screen offers only those). */
	commands: readonly string[];
	/** Runs another command line in this process (the start screen's choice), with the same io and credentials. */
	dispatch: (argv: string[]) => Promise<number>;
}

export type CommandRun = (args: CommandArgs, io: CommandIO) => Promise<number>;

/** The one cluster name a command takes. */
export function oneName(command: string, positionals: string[]): string {
	const [name, ...more] = positionals;
	if (name === undefined)
		throw new InputError(`${command} needs a cluster name`, {nextSteps: [`e.g. swarmbee ${command} demo`]});
	if (more.length > 0)
		throw new InputError(`${command} takes one cluster name, got ${positionals.length}: ${positionals.join(' ')}`);
	return name;
}
