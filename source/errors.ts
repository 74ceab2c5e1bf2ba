/**
 * Errors that carry their own fix. Every failure the user can see is one of
 * these, so one renderer can always say: what failed, why, and what to do next.
 */

export type ErrorKind = 'input' | 'external' | 'cancelled' | 'bug';

export interface ErrorDetails {
	/** Why it failed, in one or two sentences. */
	hint?: string;
	/** Commands or actions that fix it, most likely first. */
	nextSteps?: string[];
	/** The node this failure belongs to, when there is one. */
	node?: string;
	/** A log file with the full story. */
	logFile?: string;
	cause?: unknown;
}

export class SwarmbeeError extends Error {
	readonly kind: ErrorKind = 'external';
	readonly hint?: string;
	readonly nextSteps: string[];
	readonly node?: string;
	readonly logFile?: string;

	constructor(message: string, details: ErrorDetails = {}) {
		super(message, details.cause === undefined ? undefined : {cause: details.cause});
		this.name = new.target.name;
		this.hint = details.hint;
		this.nextSteps = details.nextSteps ?? [];
		this.node = details.node;
		this.logFile = details.logFile;
	}
}

/** Something the user asked for cannot work as asked. Nothing was created. */
export class InputError extends SwarmbeeError {
	override readonly kind = 'input';
}

/** Something outside swarmbee (Docker, SSH, an API, a node) failed. */
export class ExternalError extends SwarmbeeError {
	override readonly kind = 'external';
}

/** swarmbee broke one of its own rules: not the user's fault, and worth a bug report. */
export class BugError extends SwarmbeeError {
	override readonly kind = 'bug';
}

/** The user pressed Ctrl-C (or the run was aborted). */
export class CancelledError extends SwarmbeeError {
	override readonly kind = 'cancelled';
	constructor(message = 'Cancelled.', details: ErrorDetails = {}) {
		super(message, details);
	}
}

/** One problem with one field of what the user asked for. */
export interface FieldProblem {
	field: string;
	problem: string;
	fix: string;
}

/** Several input problems at once, so the user can fix them all in one go. */
export class SpecError extends InputError {
	readonly problems: FieldProblem[];
	constructor(problems: FieldProblem[]) {
		const first = problems[0];
		super(
			problems.length === 1 && first
				? `${first.field}: ${first.problem}`
				: `${problems.length} problems with the cluster settings`,
			{
				// With several problems the message only counts them: say each one.
				hint: problems.length > 1 ? problems.map(p => `${p.field}: ${p.problem}`).join('\n') : undefined,
				nextSteps: problems.map(p => `${p.field}: ${p.fix}`),
			},
		);
		this.problems = problems;
	}
}

/** Failures on several nodes, collected so siblings could finish first. */
export class NodeFailures extends ExternalError {
	readonly failures: Array<{node: string; error: SwarmbeeError}>;
	constructor(what: string, failures: Array<{node: string; error: SwarmbeeError}>) {
		const names = failures.map(f => f.node).join(', ');
		super(`${what} failed on ${failures.length === 1 ? 'node' : 'nodes'} ${names}`, {
			hint: failures.map(f => `${f.node}: ${f.error.message}${f.error.hint ? ` (${f.error.hint})` : ''}`).join('\n'),
			nextSteps: [
				...new Set([
					...failures.flatMap(f => f.error.nextSteps),
					...(failures.length > 1
						? failures.flatMap(f => (f.error.logFile ? [`${f.node}'s log: ${f.error.logFile}`] : []))
						: []),
				]),
			],
			node: failures.length === 1 ? failures[0]?.node : undefined,
			logFile: failures.length === 1 ? failures[0]?.error.logFile : undefined,
		});
		this.failures = failures;
	}
}

export function isAbort(error: unknown, signal?: AbortSignal): boolean {
	if (error instanceof CancelledError) return true;
	if (signal?.aborted) return true;
	return error instanceof Error && error.name === 'AbortError';
}

/**
 * Whether an error that is not one of ours came from outside swarmbee: the
 * operating system (a socket, a file: it has an errno code), SSH (ssh2
 * marks its errors with a level), the database driver (ReqlError and its
 * kind), a child process (execa). Anything else — a TypeError, a bare
 * `throw new Error` — is swarmbee breaking its own rules.
 */
function fromOutside(error: unknown): boolean {
	if (!(error instanceof Error)) return false;
	const e = error as Error & {code?: unknown; errno?: unknown; syscall?: unknown; level?: unknown};
	if (typeof e.code === 'string' || typeof e.errno === 'number' || typeof e.syscall === 'string') return true;
	if (typeof e.level === 'string') return true;
	return /^Reql|^Execa/.test(e.name);
}

/** What a bug says besides its message: that it is one, and what to send. */
const BUG_STEPS = [
	'this is a bug in swarmbee, not something you did: please report it with the command line, swarmbee --version and what the same command prints with --verbose (its stack)',
];

/**
 * Turns anything thrown into a SwarmbeeError without losing its message:
 * an error from outside is external (the user's environment, a node, an
 * API); anything else not made by swarmbee is a bug, shown as one, with its
 * stack kept for --verbose.
 */
export function toSwarmbeeError(error: unknown): SwarmbeeError {
	if (error instanceof SwarmbeeError) return error;
	if (error instanceof Error && error.name === 'AbortError') return new CancelledError();
	const message = error instanceof Error ? error.message : String(error);
	if (fromOutside(error)) return new ExternalError(message, {cause: error});
	const bug = new BugError(`${error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : ''}${message}`, {
		cause: error,
		nextSteps: BUG_STEPS,
	});
	if (error instanceof Error && error.stack) bug.stack = error.stack;
	return bug;
}

/** The plain data form of an error, as it travels in events and journals. */
export interface ErrorInfo {
	kind: ErrorKind;
	message: string;
	hint?: string;
	nextSteps: string[];
	node?: string;
	logFile?: string;
	/** A bug's stack (where swarmbee broke), shown with --verbose. */
	stack?: string;
}

export function errorInfo(error: unknown): ErrorInfo {
	const e = toSwarmbeeError(error);
	return {
		kind: e.kind,
		message: e.message,
		...(e.hint ? {hint: e.hint} : {}),
		nextSteps: e.nextSteps,
		...(e.node ? {node: e.node} : {}),
		...(e.logFile ? {logFile: e.logFile} : {}),
		...(e.kind === 'bug' && e.stack ? {stack: e.stack} : {}),
	};
}

/** Exit codes: 0 done, 1 failed, 2 bad input, 130 cancelled (as shells do for SIGINT). */
export function exitCodeFor(error: unknown): number {
	const e = toSwarmbeeError(error);
	switch (e.kind) {
		case 'input':
			return 2;
		case 'cancelled':
			return 130;
		default:
			return 1;
	}
}

/**
 * The value, or a BugError saying which of our own invariants broke. For values the code above has
 * already guaranteed (a list checked non-empty, a key just set): the message names what was expected.
 */
export function defined<T>(value: T | null | undefined, message: string): T {
	if (value === undefined || value === null) throw new BugError(message);
	return value;
}
