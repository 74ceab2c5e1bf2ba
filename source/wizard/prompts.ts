import {CancelledError} from '../errors.js';
import {commandLines, wrapErrorLines, wrapPromptMessage} from '../render/format.js';

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
	/**
	 * A line between prompts (an account found, a summary). A `command` is
	 * one to copy and paste: never wrapped into an indented line a shell
	 * would not take, but continued with `\` where it is wider than the
	 * terminal.
	 */
	say(line: string, options?: {command?: boolean}): void;
}

/**
 * The real prompts, on the process's terminal. Ctrl-C inside any prompt
 * becomes a CancelledError saying nothing was created (exit 130, no stack).
 */
export async function inquirerPrompts(
	output: NodeJS.WritableStream = process.stdout,
	options: {cancelled?: string; input?: NodeJS.ReadableStream} = {},
): Promise<WizardPrompts> {
	const inquirer = await import('@inquirer/prompts');
	// The prompts draw on the same terminal the lines between them go to.
	const context = {output, ...(options.input ? {input: options.input} : {})} as {output: NodeJS.WritableStream};
	const columns = () =>
		(output as NodeJS.WriteStream).isTTY ? (output as NodeJS.WriteStream).columns || undefined : undefined;
	/** What is wrong with an answer, broken between words at the terminal's width (inquirer would cut words). */
	const wrapped = (validate?: (value: string) => true | string | Promise<true | string>) =>
		validate &&
		(async (value: string) => {
			const verdict = await validate(value);
			const width = columns();
			return verdict === true || !width ? verdict : wrapPromptMessage(verdict, width);
		});
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
				inquirer.select(
					{
						message: options.message,
						default: options.default,
						pageSize: 12,
						choices: options.choices.map(c => ({
							value: c.value,
							name: c.name,
							description: c.description,
							disabled: c.disabled || false,
						})),
					},
					context,
				),
			),
		input: options =>
			cancellable(() =>
				inquirer.input(
					{message: options.message, default: options.default, validate: wrapped(options.validate)},
					context,
				),
			),
		password: options =>
			cancellable(() =>
				inquirer.password({message: options.message, mask: '*', validate: wrapped(options.validate)}, context),
			),
		confirm: options =>
			cancellable(() => inquirer.confirm({message: options.message, default: options.default}, context)),
		// Wrapped between words at the terminal's width: the terminal would cut a word in two.
		say: (line, sayOptions) => {
			const width = columns();
			const lines = !width ? [line] : sayOptions?.command ? commandLines(line, width) : wrapErrorLines([line], width);
			output.write(`${lines.join('\n')}\n`);
		},
	};
}
