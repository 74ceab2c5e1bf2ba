import {parseArgs, type ParseArgsConfig} from 'node:util';
import {errorInfo, exitCodeFor, InputError} from './errors.js';
import {packageVersion} from './paths.js';
import {formatError} from './render/format.js';
import type {SpecInput} from './spec.js';

export interface CommandIO {
	stdout: NodeJS.WritableStream;
	stderr: NodeJS.WritableStream;
	/** Where keys come from in interactive mode (default: process.stdin). */
	stdin?: NodeJS.ReadableStream;
	/** Both stdin and stdout are terminals: prompts and live screens allowed. */
	interactive: boolean;
	env: NodeJS.ProcessEnv;
}

export const USAGE = `swarmbee: a multi-host Docker Swarm cluster, RethinkDB on every node, from one command

Usage
  swarmbee                         in a terminal: saved clusters and what to do, or a new one
  swarmbee up [NAME] [options]     create a cluster, or resume/repair one (idempotent);
                                   without NAME, in a terminal, a few questions first
  swarmbee plan NAME [options] [--json]
                                   what up would create, with the price; creates nothing
  swarmbee status NAME [--once] [--json]
                                   nodes, roles, addresses, swarm health
  swarmbee down NAME [--yes]       remove every machine, network and volume of the cluster
  swarmbee tunnel NAME [--admin-port 8080] [--driver-port 28015] [--server NODE] [--json]
                                   hold SSH tunnels to the RethinkDB admin panel and driver port
  swarmbee scale NAME --workers N [--yes]
                                   add workers (and their database servers) or remove the last ones
  swarmbee stack NAME              print the stack file swarmbee deployed
  swarmbee backup NAME [--out FILE|DIR] [--tables DB[.TABLE],...]
                                   every table to a .tar.gz in rethinkdb dump's format, over SSH
  swarmbee restore NAME FILE [--tables DB[.TABLE],...] [--force] [--yes]
                                   an archive of swarmbee backup or rethinkdb dump back into the
                                   cluster (--force: write into tables that exist)
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
  --playbook FILE|none             your own Ansible playbook, run on every node after swarmbee's
                                   (remembered; none forgets it)
  --database rethinkdb|none        RethinkDB on every node (default), or the Swarm only
  --rethinkdb-image IMAGE          default rethinkdb:2.4.4-bookworm-slim
  --side-load                      load the image from this machine into nodes instead of pulling
                                   (always so on the local provider)
  --profile NAME                   start from answers the wizard saved (flags win)
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
	playbook: {type: 'string'},
	database: {type: 'string'},
	'rethinkdb-image': {type: 'string'},
	'side-load': {type: 'boolean'},
} as const;

const OPTIONS = {
	up: {...COMMON, ...SPEC_OPTIONS, profile: {type: 'string'}, yes: {type: 'boolean', short: 'y'}, verbose: {type: 'boolean'}},
	plan: {...COMMON, ...SPEC_OPTIONS},
	down: {...COMMON, yes: {type: 'boolean', short: 'y'}, force: {type: 'boolean'}, forget: {type: 'boolean'}},
	status: {...COMMON, once: {type: 'boolean'}},
	tunnel: {...COMMON, 'admin-port': {type: 'string'}, 'driver-port': {type: 'string'}, server: {type: 'string'}},
	stack: {...COMMON},
	scale: {...COMMON, workers: {type: 'string'}, yes: {type: 'boolean', short: 'y'}, verbose: {type: 'boolean'}},
	ls: {...COMMON},
	backup: {...COMMON, out: {type: 'string', short: 'o'}, tables: {type: 'string'}},
	restore: {...COMMON, tables: {type: 'string'}, force: {type: 'boolean'}, yes: {type: 'boolean', short: 'y'}},
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

function portOption(flag: string, value: string | undefined, fallback: number): number {
	if (value === undefined) return fallback;
	const port = Number(value);
	if (!/^\d+$/.test(value) || port < 1 || port > 65_535) throw new InputError(`--${flag} ${value} is not a TCP port`, {nextSteps: ['give a number from 1 to 65535']});
	return port;
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
		playbook: v.playbook as string | undefined,
		database: v.database as string | undefined,
		rethinkdbImage: v['rethinkdb-image'] as string | undefined,
		sideLoad: v['side-load'] ? true : undefined,
	};
}

export async function main(argv: string[], io: CommandIO): Promise<number> {
	const [command, ...rest] = argv;
	const json = rest.includes('--json');
	type UpValues = Partial<Record<keyof typeof OPTIONS.up, string | boolean>>;
	try {
		if (command === undefined && io.interactive) {
			const {startCommand} = await import('./commands/guided.js');
			return await startCommand(io, Object.keys(OPTIONS), next => main(next, io));
		}
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
				if (positionals.length === 0) {
					const {noTerminalError, wizardUp} = await import('./commands/guided.js');
					if (!io.interactive || v.yes || v.json || v.plain) throw noTerminalError('up without a cluster name');
					return await wizardUp(io);
				}
				const {upCommand} = await import('./commands/up.js');
				const flags = specInput(v);
				const input = v.profile ? (await import('./commands/guided.js')).inputFromProfile(io, v.profile as string, flags) : flags;
				return await upCommand({
					name: oneName(name, positionals),
					input,
					yes: Boolean(v.yes),
					output: outputMode(v, io),
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
			case 'tunnel': {
				const v = values as {'admin-port'?: string; 'driver-port'?: string; server?: string; json?: boolean};
				const {tunnelCommand} = await import('./commands/tunnel.js');
				return await tunnelCommand({
					name: oneName(name, positionals),
					adminPort: portOption('admin-port', v['admin-port'], 8080),
					driverPort: portOption('driver-port', v['driver-port'], 28015),
					server: v.server,
					json: Boolean(v.json),
				}, io);
			}
			case 'scale': {
				const v = values as {workers?: string; yes?: boolean; json?: boolean; plain?: boolean; verbose?: boolean};
				if (v.workers === undefined) throw new InputError('scale needs --workers N', {nextSteps: [`e.g. swarmbee scale ${positionals[0] ?? 'demo'} --workers 4`]});
				const {scaleCommand} = await import('./commands/scale.js');
				return await scaleCommand({
					name: oneName(name, positionals),
					workers: v.workers,
					yes: Boolean(v.yes),
					output: outputMode(v, io),
					verbose: Boolean(v.verbose),
				}, io);
			}
			case 'stack': {
				const {stackCommand} = await import('./commands/stack.js');
				return await stackCommand({name: oneName(name, positionals)}, io);
			}
			case 'backup': {
				const v = values as {out?: string; tables?: string; json?: boolean; plain?: boolean};
				const {backupCommand} = await import('./commands/backup.js');
				return await backupCommand({name: oneName(name, positionals), out: v.out, tables: v.tables, output: outputMode(v, io)}, io);
			}
			case 'restore': {
				const v = values as {tables?: string; force?: boolean; yes?: boolean; json?: boolean; plain?: boolean};
				if (positionals.length !== 2) throw new InputError('restore takes a cluster name and an archive', {nextSteps: ['e.g. swarmbee restore demo demo-backup-2026-12-01T20-13-46.tar.gz']});
				const {restoreCommand} = await import('./commands/restore.js');
				return await restoreCommand({name: positionals[0]!, file: positionals[1]!, tables: v.tables, force: Boolean(v.force), yes: Boolean(v.yes), output: outputMode(v, io)}, io);
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

/** --json, else --plain or no terminal: plain lines, else the live view. */
function outputMode(v: {json?: unknown; plain?: unknown}, io: CommandIO): 'json' | 'plain' | 'tty' {
	return v.json ? 'json' : v.plain || !io.interactive ? 'plain' : 'tty';
}
