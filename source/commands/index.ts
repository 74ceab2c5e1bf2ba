import type {ParseArgsConfig} from 'node:util';
import {providerCredential} from '../providers/credentials.js';
import {PROVIDER_NAMES, specParseOptions, specUsageLines} from '../spec-fields.js';
import type {CommandRun} from './args.js';

/**
 * Every command of swarmbee, described once: its usage line, its options,
 * and where its code is (loaded only when the command runs, so `--help`
 * and `--version` load none of it). A new command is one entry here and one
 * file beside this one exporting `run` (see ARCHITECTURE.md).
 */
interface CommandDefinition {
	/** After `swarmbee `: `up [NAME] [options]`. */
	synopsis: string;
	/** What it does; a second line after `\n`. */
	summary: string;
	options: NonNullable<ParseArgsConfig['options']>;
	load: () => Promise<{run: CommandRun}>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

const COMMON = {
	help: {type: 'boolean', short: 'h'},
	json: {type: 'boolean'},
	plain: {type: 'boolean'},
} satisfies Options;

const YES = {yes: {type: 'boolean', short: 'y'}} satisfies Options;
/** The tunnel's local ports, for `tunnel` and for the dashboard's `t` key (`status`). */
const TUNNEL_PORTS = {'admin-port': {type: 'string'}, 'driver-port': {type: 'string'}} satisfies Options;
const VERBOSE = {verbose: {type: 'boolean'}} satisfies Options;

export const COMMANDS = {
	up: {
		synopsis: 'up [NAME] [options]',
		summary: 'create a cluster, or resume/repair one (idempotent);\nwithout NAME, in a terminal, a few questions first',
		options: {
			...COMMON,
			...specParseOptions(),
			profile: {type: 'string'},
			...YES,
			...VERBOSE,
			reprovision: {type: 'boolean'},
			'emergency-repair': {type: 'string'},
			'drop-lost-tables': {type: 'string', multiple: true},
		},
		load: () => import('./up.js'),
	},
	plan: {
		synopsis: 'plan NAME [options] [--json]',
		summary: 'what up would create, with the price; creates nothing',
		options: {...COMMON, ...specParseOptions()},
		load: () => import('./plan.js'),
	},
	status: {
		synopsis: 'status NAME [--once] [--json] [--admin-port 8080] [--driver-port 28015]',
		summary:
			'live health of nodes, services and the database (a dashboard in a terminal;\n--once, --plain or no terminal: one table); ports for its tunnel key',
		options: {...COMMON, once: {type: 'boolean'}, ...TUNNEL_PORTS},
		load: () => import('./status.js'),
	},
	down: {
		synopsis: 'down NAME [--yes]',
		summary: 'remove every machine, network and volume of the cluster',
		options: {...COMMON, ...YES, ...VERBOSE, force: {type: 'boolean'}, forget: {type: 'boolean'}},
		load: () => import('./down.js'),
	},
	tunnel: {
		synopsis: 'tunnel NAME [--admin-port 8080] [--driver-port 28015] [--server NODE] [--json]',
		summary: 'hold SSH tunnels to the RethinkDB admin panel and driver port',
		options: {...COMMON, ...TUNNEL_PORTS, server: {type: 'string'}},
		load: () => import('./tunnel.js'),
	},
	scale: {
		synopsis: 'scale NAME --workers N [--yes]',
		summary: 'add workers (and their database servers) or remove the last ones',
		options: {...COMMON, workers: {type: 'string'}, ...YES, ...VERBOSE},
		load: () => import('./scale.js'),
	},
	node: {
		synopsis: 'node NAME restart|stop|start NODE... [--all] [--allow-unavailable]',
		summary:
			'restart, stop or start nodes one at a time, every table available\n(--all: a rolling restart of every node; refused when a table would\nlose its majority, unless --allow-unavailable)',
		options: {...COMMON, ...VERBOSE, all: {type: 'boolean'}, 'allow-unavailable': {type: 'boolean'}},
		load: () => import('./node.js'),
	},
	upgrade: {
		synopsis: 'upgrade NAME --rethinkdb-image IMAGE [--dry-run] [--allow-unavailable]',
		summary:
			'move every database server to a RethinkDB 2.4.x image, one server at a\ntime, every table available (workers first; --dry-run: the plan)',
		options: {
			...COMMON,
			...VERBOSE,
			'rethinkdb-image': {type: 'string'},
			'dry-run': {type: 'boolean'},
			'allow-unavailable': {type: 'boolean'},
		},
		load: () => import('./upgrade.js'),
	},
	stack: {
		synopsis: 'stack NAME',
		summary: 'print the stack file swarmbee deployed',
		options: {...COMMON},
		load: () => import('./stack.js'),
	},
	backup: {
		synopsis: 'backup NAME [--out FILE|DIR] [--tables DB[.TABLE],...] [--no-verify]',
		summary:
			"every table to a .tar.gz in rethinkdb dump's format, over SSH,\nread back before it is called done (--no-verify: not read back)",
		options: {...COMMON, out: {type: 'string', short: 'o'}, tables: {type: 'string'}, 'no-verify': {type: 'boolean'}},
		load: () => import('./backup.js'),
	},
	restore: {
		synopsis: 'restore NAME FILE [--tables DB[.TABLE],...] [--force] [--yes]',
		summary:
			'an archive of swarmbee backup or rethinkdb dump back into the\ncluster (--force: write into tables that exist)',
		options: {...COMMON, tables: {type: 'string'}, force: {type: 'boolean'}, ...YES},
		load: () => import('./restore.js'),
	},
	ssh: {
		synopsis: 'ssh NAME [NODE] [--all] [-t|-T] [-- COMMAND...]',
		summary:
			"a shell on a node (the manager by default), or COMMAND's output\nand exit status; --all: on every node at once, lines prefixed",
		options: {
			help: COMMON.help,
			all: {type: 'boolean'},
			tty: {type: 'boolean', short: 't'},
			'no-tty': {type: 'boolean', short: 'T'},
		},
		load: () => import('./ssh.js'),
	},
	env: {
		synopsis: 'env NAME [--unset] [--shell fish|powershell] [--context]',
		summary:
			'point the docker CLI at the swarm: eval "$(swarmbee env NAME)"\n(a local socket forwarded over SSH; --unset stops it)',
		options: {
			help: COMMON.help,
			unset: {type: 'boolean', short: 'u'},
			shell: {type: 'string'},
			context: {type: 'boolean'},
		},
		load: () => import('./env.js'),
	},
	logs: {
		synopsis: 'logs NAME [SERVER|NODE] [--follow] [--lines N]',
		summary: "a database server's log (rdb-NODE; all of them without one),\nor a node's provisioning and system log",
		options: {help: COMMON.help, follow: {type: 'boolean', short: 'f'}, lines: {type: 'string', short: 'n'}},
		load: () => import('./logs.js'),
	},
	certs: {
		synopsis: 'certs NAME [rotate] [--json]',
		summary:
			"the database's TLS certificates and when they end;\nrotate: new server certificates, one server restarted at a time",
		options: {...COMMON},
		load: () => import('./certs.js'),
	},
	ca: {
		synopsis: 'ca NAME [--path]',
		summary: "the cluster's CA certificate (PEM) a TLS client checks the servers with",
		options: {help: COMMON.help, path: {type: 'boolean'}},
		load: () => import('./ca.js'),
	},
	load: {
		synopsis: 'load NAME IMAGE...',
		summary: "images from this machine's engine onto every node that lacks them",
		options: {...COMMON},
		load: () => import('./load.js'),
	},
	deploy: {
		synopsis: 'deploy NAME FILE [--app APP] [--allow-host-access]',
		summary:
			"a Compose stack as Swarm stack APP (default: the file's folder), on the\ncluster overlay, with its own database user; again: a rolling update",
		options: {...COMMON, app: {type: 'string'}, 'allow-host-access': {type: 'boolean'}},
		load: () => import('./deploy.js'),
	},
	apps: {
		synopsis: 'apps NAME [--json]',
		summary: 'apps with their services, replicas and secrets',
		options: {...COMMON},
		load: () => import('./apps.js'),
	},
	undeploy: {
		synopsis: 'undeploy NAME APP [--drop-data] [--yes]',
		summary: "remove an app's services (--drop-data: its database and user too)",
		options: {...COMMON, 'drop-data': {type: 'boolean'}, ...YES},
		load: () => import('./undeploy.js'),
	},
	secret: {
		synopsis: 'secret NAME set|ls|rm APP [KEY] [--from-file F]',
		summary:
			"an app's secrets (the value from stdin or --from-file);\nset on an existing key rolls the services onto it",
		options: {...COMMON, 'from-file': {type: 'string'}},
		load: () => import('./secret.js'),
	},
	ls: {
		synopsis: 'ls [--json]',
		summary: 'clusters saved under $SWARMBEE_HOME',
		options: {...COMMON},
		load: () => import('./ls.js'),
	},
} satisfies Record<string, CommandDefinition>;

export type CommandName = keyof typeof COMMANDS;

/** `swarmbee` alone in a terminal. */
export const START: Pick<CommandDefinition, 'load'> = {load: () => import('./start.js')};

function usageLine(left: string, text: string, width: number): string[] {
	const [first, ...more] = text.split('\n');
	const lines =
		left.length < width ? [`  ${left.padEnd(width)}${first}`] : [`  ${left}`, `  ${' '.repeat(width)}${first}`];
	return [...lines, ...more.map(line => `  ${' '.repeat(width)}${line}`)];
}

/** What --help prints, made from COMMANDS and SPEC_FIELDS. */
export function usage(): string {
	return [
		'swarmbee: a multi-host Docker Swarm cluster, RethinkDB on every node, from one command',
		'',
		'Usage',
		...usageLine('swarmbee', 'in a terminal: saved clusters and what to do, or a new one', 33),
		...Object.values(COMMANDS).flatMap(c => usageLine(`swarmbee ${c.synopsis}`, c.summary, 33)),
		...usageLine('swarmbee --version | --help', '', 33).map(line => line.trimEnd()),
		'',
		'Options for up and plan',
		...specUsageLines(),
		...[
			['--profile NAME', 'start from answers the wizard saved (flags win)'],
			['--reprovision', 'up: run the playbook on every node even when nothing changed'],
			[
				'--emergency-repair MODE',
				'up, with --yes: let RethinkDB recover tables that lost the\nmajority of their replicas (unsafe_rollback; unsafe_rollback_or_erase\nalso empties shards none of whose replicas survive)',
			],
			[
				'--drop-lost-tables DB.TABLE,…',
				'up: drop tables every server of which is gone (each named;\nswarmbee says how many rows it held when last seen)',
			],
			['--yes, -y', 'do not ask for confirmation'],
			['--plain', 'plain lines even in a terminal'],
			['--json', 'one JSON event per line'],
			['--verbose', "show build output and every node's log lines"],
		].flatMap(([left, text]) => usageLine(left!, text!, 33)),
		'',
		...PROVIDER_NAMES.flatMap(name => providerCredential(name)?.help ?? []),
		'DIGITALOCEAN_API_URL points swarmbee at another endpoint, e.g. the emulator.',
		'',
		'State lives in $SWARMBEE_HOME (default: ~/.config/swarmbee-nodejs): specs, journals,',
		'keys (0600) and per-node logs, one folder per cluster.',
	].join('\n');
}
