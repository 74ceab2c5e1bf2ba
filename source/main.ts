import {parseArgs, type ParseArgsConfig} from 'node:util';
import {errorInfo, exitCodeFor, InputError} from './errors.js';
import {packageVersion} from './paths.js';
import {formatError} from './render/format.js';
import type {SpecInput} from './spec.js';

export interface CommandIO {
	stdout: NodeJS.WritableStream;
	stderr: NodeJS.WritableStream;
	/** Both stdin and stdout are terminals: prompts and live screens allowed. */
	interactive: boolean;
	env: NodeJS.ProcessEnv;
}

export const USAGE = `swarmbee: a multi-host Docker Swarm cluster, RethinkDB on every node, from one command

Usage
  swarmbee up NAME [options]       create a cluster, or resume/repair one (idempotent)
  swarmbee plan NAME [options] [--json]
                                   what up would create, with the price; creates nothing
  swarmbee status NAME [--once] [--json]
                                   nodes, roles, addresses, swarm health
  swarmbee down NAME [--yes]       remove every machine, network and volume of the cluster
  swarmbee ls [--json]             clusters saved under $SWARMBEE_HOME
  swarmbee --version | --help

Options for up and plan
  --provider local|digitalocean    where nodes run (default: local, your Docker engine)
  --workers N                      worker nodes besides queenbee, 1-50 (default 3)
  --managers 1|3                   Swarm managers (3: workerbee-1 and -2 join as managers)
  --size SLUG                      node size (default s-1vcpu-1gb)
  --region SLUG                    DigitalOcean region (default nyc3)
  --image SLUG                     DigitalOcean image (default debian-12-x64)
  --memory-limit SIZE              memory per database server, e.g. 450m, 1g (default 450m)
  --encrypt-overlay / --no-encrypt-overlay
                                   IPsec on the overlay (default: on where the provider can)
  --ssh-from CIDR[,CIDR]           who may reach SSH, the only public port (default: anywhere)
  --yes, -y                        do not ask for confirmation
  --plain                          plain lines even in a terminal
  --json                           one JSON event per line
  --verbose                        show build output and every node's log lines

DigitalOcean: export DIGITALOCEAN_ACCESS_TOKEN (a read/write token; never a flag).
DIGITALOCEAN_API_URL points swarmbee at another endpoint, e.g. the emulator.

State lives in $SWARMBEE_HOME (default: ~/.config/swarmbee-nodejs): specs, journals,
keys (0600) and per-node logs, one folder per cluster.`;

const COMMON = {
	help: {type: 'boolean', short: 'h'},
	json: {type: 'boolean'},
	plain: {type: 'boolean'},
} as const;

const SPEC_OPTIONS = {
	provider: {type: 'string'},
	workers: {type: 'string'},
	managers: {type: 'string'},
	size: {type: 'string'},
	region: {type: 'string'},
	image: {type: 'string'},
	'memory-limit': {type: 'string'},
	'encrypt-overlay': {type: 'boolean'},
	'no-encrypt-overlay': {type: 'boolean'},
	'ssh-from': {type: 'string'},
} as const;

const OPTIONS = {
	up: {...COMMON, ...SPEC_OPTIONS, yes: {type: 'boolean', short: 'y'}, verbose: {type: 'boolean'}},
	plan: {...COMMON, ...SPEC_OPTIONS},
	down: {...COMMON, yes: {type: 'boolean', short: 'y'}, force: {type: 'boolean'}, forget: {type: 'boolean'}},
	status: {...COMMON, once: {type: 'boolean'}},
	ls: {...COMMON},
} satisfies Record<string, ParseArgsConfig['options']>;

export type CommandName = keyof typeof OPTIONS;

function parse(command: CommandName, argv: string[]) {
	try {
		return parseArgs({args: argv, options: OPTIONS[command], allowPositionals: true, strict: true});
	} catch (error) {
		throw new InputError((error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), {
			nextSteps: [`see swarmbee --help for the options of ${command}`],
		});
	}
}

function oneName(command: CommandName, positionals: string[]): string {
	if (positionals.length === 0) throw new InputError(`${command} needs a cluster name`, {nextSteps: [`e.g. swarmbee ${command} demo`]});
	if (positionals.length > 1) throw new InputError(`${command} takes one cluster name, got ${positionals.length}: ${positionals.join(' ')}`);
	return positionals[0]!;
}

type SpecValues = Partial<Record<keyof typeof SPEC_OPTIONS, string | boolean>>;

/** The spec-shaping flags of up and plan, as loose input for resolveSpec. */
function specInput(v: SpecValues): SpecInput {
	if (v['encrypt-overlay'] && v['no-encrypt-overlay']) throw new InputError('--encrypt-overlay and --no-encrypt-overlay contradict each other', {nextSteps: ['pass one of them']});
	return {
		provider: v.provider as string | undefined,
		workers: v.workers as string | undefined,
		managers: v.managers as string | undefined,
		size: v.size as string | undefined,
		region: v.region as string | undefined,
		image: v.image as string | undefined,
		memoryLimit: v['memory-limit'] as string | undefined,
		encryptOverlay: v['encrypt-overlay'] ? true : v['no-encrypt-overlay'] ? false : undefined,
		sshFrom: v['ssh-from'] as string | undefined,
	};
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
	const [command, ...rest] = argv;
	const json = rest.includes('--json');
	type UpValues = Partial<Record<keyof typeof OPTIONS.up, string | boolean>>;
	try {
		if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
			io.stdout.write(`${USAGE}\n`);
			return 0;
		}
		if (command === '--version' || command === '-v' || command === 'version') {
			io.stdout.write(`${packageVersion()}\n`);
			return 0;
		}
		if (!(command in OPTIONS)) {
			throw new InputError(`unknown command "${command}"`, {nextSteps: ['swarmbee --help lists the commands']});
		}
		const name = command as CommandName;
		const {values, positionals} = parse(name, rest);
		if (values.help) {
			io.stdout.write(`${USAGE}\n`);
			return 0;
		}
		switch (name) {
			case 'up': {
				const v = values as UpValues;
				const {upCommand} = await import('./commands/up.js');
				return await upCommand({
					name: oneName(name, positionals),
					input: specInput(v),
					yes: Boolean(v.yes),
					output: v.json ? 'json' : v.plain || !io.interactive ? 'plain' : 'tty',
					verbose: Boolean(v.verbose),
				}, io);
			}
			case 'plan': {
				const v = values as UpValues;
				const {planCommand} = await import('./commands/plan.js');
				return await planCommand({name: oneName(name, positionals), input: specInput(v), json: Boolean(v.json)}, io);
			}
			case 'down': {
				const v = values as {yes?: boolean; force?: boolean; forget?: boolean; json?: boolean};
				const {downCommand} = await import('./commands/down.js');
				return await downCommand({name: oneName(name, positionals), yes: Boolean(v.yes), force: Boolean(v.force), forget: Boolean(v.forget), json: Boolean(v.json)}, io);
			}
			case 'status': {
				const v = values as {once?: boolean; json?: boolean};
				const {statusCommand} = await import('./commands/status.js');
				return await statusCommand({name: oneName(name, positionals), once: Boolean(v.once), json: Boolean(v.json)}, io);
			}
			case 'ls': {
				if (positionals.length > 0) throw new InputError('ls takes no arguments');
				const {lsCommand} = await import('./commands/ls.js');
				return await lsCommand({json: Boolean((values as {json?: boolean}).json)}, io);
			}
		}
	} catch (error) {
		reportError(error, io, json);
		return exitCodeFor(error);
	}
	return 0;
}

/** Writes an error for humans on stderr (and as JSON on stdout with --json). */
export function reportError(error: unknown, io: CommandIO, json: boolean): void {
	const info = errorInfo(error);
	if (json) io.stdout.write(`${JSON.stringify({type: 'error', error: info})}\n`);
	io.stderr.write(`${formatError(info).join('\n')}\n`);
}
