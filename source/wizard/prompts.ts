import {CancelledError} from '../errors.js';
import {wrapErrorLines} from '../render/format.js';

export interface Choice<T> {
	value: T;
	name: string;
	description?: string;
	/** A reason the choice cannot be taken, shown beside it. */
	disabled?: string | false;
}

/**
 * The prompts the wizard and start screen use: a small subset of
 * @inquirer/prompts, so tests hand in scripted answers and the real one
 * is loaded only in a terminal. `validate` returns true or what is wrong.
 */
export interface WizardPrompts {
	select<T>(options: {message: string; choices: Array<Choice<T>>; default?: T}): Promise<T>;
	input(options: {
		message: string;
		default?: string;
		validate?: (value: string) => true | string | Promise<true | string>;
	}): Promise<string>;
	password(options: {
		message: string;
		validate?: (value: string) => true | string | Promise<true | string>;
	}): Promise<string>;
	confirm(options: {message: string; default?: boolean}): Promise<boolean>;
	/** A line between prompts (an account found, a summary). */
	say(line: string): void;
}

/**
 * The real prompts, on the process's terminal. Ctrl-C inside any prompt
 * becomes a CancelledError saying nothing was created (exit 130, no stack).
 */
export async function inquirerPrompts(
	output: NodeJS.WritableStream = process.stdout,
	options: {cancelled?: string} = {},
): Promise<WizardPrompts> {
	const inquirer = await import('@inquirer/prompts');
	const cancellable = async <T>(ask: () => Promise<T>): Promise<T> => {
		try {
			return await ask();
		} catch (error) {
			if ((error as Error).name === 'ExitPromptError')
				throw new CancelledError(options.cancelled ?? 'nothing was created.');
			throw error;
		}
	};
	return {
		select: options =>
			cancellable(() =>
				inquirer.select({
					message: options.message,
					default: options.default,
					pageSize: 12,
					choices: options.choices.map(c => ({
						value: c.value,
						name: c.name,
						description: c.description,
						disabled: c.disabled || false,
					})),
				}),
			),
		input: options =>
			cancellable(() =>
				inquirer.input({message: options.message, default: options.default, validate: options.validate}),
			),
		password: options =>
			cancellable(() => inquirer.password({message: options.message, mask: '*', validate: options.validate})),
		confirm: options => cancellable(() => inquirer.confirm({message: options.message, default: options.default})),
		// Wrapped between words at the terminal's width: the terminal would cut a word in two.
		say: line => {
			const columns = (output as NodeJS.WriteStream).isTTY ? (output as NodeJS.WriteStream).columns : undefined;
			output.write(`${(columns ? wrapErrorLines([line], columns) : [line]).join('\n')}\n`);
		},
	};
}
