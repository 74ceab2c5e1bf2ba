import path from 'node:path';
import {DockerCli, DockerCommandError} from '../docker/cli.js';
import {dockerHostUrl, startDockerSocket, stopDockerSocket} from '../access/docker-socket.js';
import {InputError} from '../errors.js';
import {swarmbeeHome} from '../paths.js';
import {openCluster} from '../session/open.js';
import {shq} from '../shell.js';
import {ClusterStore} from '../store/cluster-store.js';
import type {CommandIO} from '../session/io.js';
import type {CommandArgs} from './args.js';

/** The shells `env` writes for, as docker-machine's `--shell`. */
export type ShellKind = 'posix' | 'fish' | 'powershell';

const SHELLS: Record<string, ShellKind> = {
	sh: 'posix',
	bash: 'posix',
	zsh: 'posix',
	dash: 'posix',
	ksh: 'posix',
	posix: 'posix',
	fish: 'fish',
	powershell: 'powershell',
	pwsh: 'powershell',
};

/** `--shell`, else the user's login shell ($SHELL) when it is fish, else POSIX sh (bash, zsh). */
export function shellKind(option: string | boolean | undefined, env: NodeJS.ProcessEnv): ShellKind {
	if (typeof option === 'string') {
		const kind = SHELLS[option.toLowerCase()];
		if (!kind)
			throw new InputError(`--shell ${option} is not a shell swarmbee writes for`, {
				nextSteps: ['choose bash, zsh, sh, fish or powershell'],
			});
		return kind;
	}
	return path.basename(env['SHELL'] ?? '') === 'fish' ? 'fish' : 'posix';
}

/** fish's single quotes: only \ and ' are special inside. */
function fishQuote(value: string): string {
	return `'${value.replace(/[\\']/g, c => `\\${c}`)}'`;
}

/** PowerShell's single quotes: nothing is special but ', written twice. */
function powershellQuote(value: string): string {
	return `'${value.replace(/'/g, "''")}'`;
}

/**
 * The lines that set and unset environment variables in a shell, then
 * comments (how to use them), as docker-machine's `env` prints them:
 *
 *     export DOCKER_HOST=unix:///home/me/.config/swarmbee-nodejs/clusters/demo/docker/docker.sock
 *     export SWARMBEE_CLUSTER=demo
 *     # Run this command to configure your shell:
 *     # eval "$(swarmbee env demo)"
 */
export function shellLines(
	kind: ShellKind,
	change: {set?: Record<string, string>; unset?: string[]; comments?: string[]},
): string {
	const set = Object.entries(change.set ?? {});
	const unset = change.unset ?? [];
	const lines: string[] = [];
	switch (kind) {
		case 'posix':
			if (unset.length > 0) lines.push(`unset ${unset.join(' ')}`);
			lines.push(...set.map(([name, value]) => `export ${name}=${shq(value)}`));
			break;
		case 'fish':
			lines.push(
				...unset.map(name => `set -e ${name};`),
				...set.map(([name, value]) => `set -gx ${name} ${fishQuote(value)};`),
			);
			break;
		case 'powershell':
			lines.push(
				...unset.map(name => `Remove-Item Env:\\${name} -ErrorAction SilentlyContinue`),
				...set.map(([name, value]) => `$Env:${name} = ${powershellQuote(value)}`),
			);
			break;
	}
	lines.push(...(change.comments ?? []).map(comment => `# ${comment}`));
	return `${lines.join('\n')}\n`;
}

/** How to run `swarmbee ARGS` so that its lines change this shell. */
export function evalHint(kind: ShellKind, args: string): string {
	switch (kind) {
		case 'posix':
			return `eval "$(swarmbee ${args})"`;
		case 'fish':
			return `swarmbee ${args} | source`;
		case 'powershell':
			return `& swarmbee ${args} | Invoke-Expression`;
	}
}

/** The docker context `env --context` offers, by the ecosystem's naming (k3d-NAME, kind-NAME). */
export function contextName(cluster: string): string {
	return `swarmbee-${cluster}`;
}

const CONTEXT_DESCRIPTION = 'swarmbee cluster';

interface EnvRequest {
	name: string;
	unset: boolean;
	context: boolean;
	shell: ShellKind;
}

/** Reads `env NAME [--unset] [--shell S] [--context]`; after an `env`, `--unset` finds the cluster in SWARMBEE_CLUSTER. */
export function parseEnvArgs(values: CommandArgs['values'], positionals: string[], env: NodeJS.ProcessEnv): EnvRequest {
	const shell = shellKind(values.shell, env);
	if (positionals.length > 1)
		throw new InputError(`env takes one cluster name, got ${positionals.length}: ${positionals.join(' ')}`);
	const name = positionals[0] ?? (values.unset ? env['SWARMBEE_CLUSTER'] : undefined);
	if (!name) throw new InputError('env needs a cluster name', {nextSteps: [`e.g. ${evalHint(shell, 'env demo')}`]});
	return {name, unset: Boolean(values.unset), context: Boolean(values.context), shell};
}

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const request = parseEnvArgs(values, positionals, io.env);
	const home = swarmbeeHome(io.env);
	const store = new ClusterStore(home);
	const docker = new DockerCli();
	const context = contextName(request.name);
	const args = `env ${request.name}${request.shell === 'posix' ? '' : ` --shell ${request.shell}`}`;

	if (request.unset) {
		// Works for a cluster already forgotten too: what is left of its helper goes.
		const {stopped} = await stopDockerSocket(store.paths(request.name).dir);
		const removed = await removeContext(docker, context);
		io.stdout.write(
			shellLines(request.shell, {
				unset: ['DOCKER_HOST', 'SWARMBEE_CLUSTER', ...(io.env['DOCKER_CONTEXT'] === context ? ['DOCKER_CONTEXT'] : [])],
				comments: [
					stopped
						? `stopped the Docker socket helper of ${request.name} (pid ${stopped})`
						: `no Docker socket helper of ${request.name} was running`,
					...(removed ? [`removed docker context ${context}`] : []),
					'Run this command to configure your shell:',
					evalHint(request.shell, `${args} --unset`),
				],
			}),
		);
		return 0;
	}

	// Checked here, where the user hears it; the helper opens its own session for as long as it serves.
	const session = await openCluster(request.name, io, {needs: ['ssh'], verb: 'point docker at'});
	await session.close();
	const {socket} = await startDockerSocket({home, name: request.name, clusterDir: session.paths.dir});
	if (request.context) {
		await saveContext(docker, context, request.name, socket);
		io.stdout.write(
			shellLines(request.shell, {
				set: {DOCKER_CONTEXT: context, SWARMBEE_CLUSTER: request.name},
				// DOCKER_HOST would win over the context.
				unset: ['DOCKER_HOST'],
				comments: [
					`docker context ${context} reaches ${request.name}'s manager through ${socket}`,
					`without this shell: docker --context ${context} node ls, or docker context use ${context}`,
					'Run this command to configure your shell:',
					evalHint(request.shell, `${args} --context`),
				],
			}),
		);
		return 0;
	}
	io.stdout.write(
		shellLines(request.shell, {
			set: {DOCKER_HOST: dockerHostUrl(socket), SWARMBEE_CLUSTER: request.name},
			comments: ['Run this command to configure your shell:', evalHint(request.shell, args)],
		}),
	);
	return 0;
}

/** The description of a context swarmbee made, or undefined when there is no context of that name. */
async function contextDescription(docker: DockerCli, context: string): Promise<string | undefined> {
	try {
		// JSON, not --format: the metadata's Go type has no Description field to name in a template.
		const [found] = JSON.parse(await docker.run(['context', 'inspect', context])) as Array<{
			Metadata?: {Description?: string};
		}>;
		return found?.Metadata?.Description ?? '';
	} catch (error) {
		if (error instanceof DockerCommandError) return undefined;
		throw error;
	}
}

/** Creates `swarmbee-NAME` pointing at the socket, or points the one swarmbee made there; never takes over someone else's. */
async function saveContext(docker: DockerCli, context: string, name: string, socket: string): Promise<void> {
	const description = await contextDescription(docker, context);
	if (description !== undefined && !description.startsWith(CONTEXT_DESCRIPTION)) {
		throw new InputError(`a docker context named ${context} exists and swarmbee did not make it`, {
			nextSteps: [
				`use DOCKER_HOST instead: ${evalHint('posix', `env ${name}`)}`,
				`or remove it: docker context rm ${context}`,
			],
		});
	}
	await docker.run([
		'context',
		description === undefined ? 'create' : 'update',
		context,
		'--description',
		`${CONTEXT_DESCRIPTION} ${name} (swarmbee env ${name} --unset removes it)`,
		'--docker',
		`host=${dockerHostUrl(socket)}`,
	]);
}

/** Removes `swarmbee-NAME` when swarmbee made it; says whether it did. */
async function removeContext(docker: DockerCli, context: string): Promise<boolean> {
	const description = await contextDescription(docker, context).catch(() => undefined);
	if (description === undefined || !description.startsWith(CONTEXT_DESCRIPTION)) return false;
	await docker.run(['context', 'rm', '--force', context]);
	return true;
}
