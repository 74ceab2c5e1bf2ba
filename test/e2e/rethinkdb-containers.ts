import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

/**
 * The real RethinkDB 2.4.4 server's image: built from its source folder
 * (../shared/rethinkdb or $SWARMBEE_RETHINKDB_SOURCE) once, then cached by
 * content; where no such folder exists, the official image, pulled where a
 * registry answers. Neither: an error that says both ways.
 */
export async function rethinkdbImage(): Promise<string> {
	const {DockerCli} = await import('../../source/docker/cli.js');
	const {ensureRethinkdbImage, findRethinkdbSource} = await import('../../source/docker/rethinkdb-image.js');
	const {ensureLocalImage} = await import('../../source/docker/local-image.js');
	const {DEFAULT_RETHINKDB_IMAGE} = await import('../../source/spec-fields.js');
	const docker = new DockerCli();
	let source: string | undefined;
	try {
		source = findRethinkdbSource();
	} catch {
		// No source folder here: the official image, where a registry answers.
	}
	if (source) return (await ensureRethinkdbImage(docker)).tag;
	await ensureLocalImage(docker, DEFAULT_RETHINKDB_IMAGE, {
		why: 'The database tests run the real RethinkDB 2.4.4 server: from its source folder (none found: set SWARMBEE_RETHINKDB_SOURCE), or the official image.',
	});
	return DEFAULT_RETHINKDB_IMAGE;
}

function docker(args: string[]): string {
	return execFileSync('docker', args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).trim();
}

/**
 * Real RethinkDB servers as plain containers on this engine's bridges (no
 * Swarm): for what the database itself does, fast. Everything carries the
 * label `swarmbee.cluster=<name>` (name starts with e2e-, so .ci/run's
 * cleanup finds what a killed run left) and is removed by `remove()`.
 */
export class ServerBed {
	private readonly secrets = mkdtempSync(path.join(tmpdir(), 'sb-rdb-secrets-'));
	private readonly networks: string[] = [];
	private readonly containers: string[] = [];

	constructor(
		readonly name: string,
		readonly image: string,
	) {}

	/** A bridge network; its subnet as Docker chose it. */
	network(suffix: string): {name: string; subnet: string} {
		const name = `swarmbee-${this.name}-${suffix}`;
		docker(['network', 'create', '--label', `swarmbee.cluster=${this.name}`, name]);
		this.networks.push(name);
		return {name, subnet: docker(['network', 'inspect', '--format', '{{(index .IPAM.Config 0).Subnet}}', name])};
	}

	/** A file the containers see at /run/secrets/<target>, read-only, as a Docker secret would be. */
	secret(target: string, content: string): string {
		const file = path.join(this.secrets, target);
		writeFileSync(file, content, {mode: 0o644});
		return file;
	}

	/** Creates (does not start) a server container; `connect` adds networks with their aliases, as Swarm would before the task starts. */
	create(
		container: string,
		command: string[],
		options: {
			network: string;
			connect?: Array<{network: string; aliases: string[]}>;
			secrets?: Record<string, string>;
			hostname?: string;
			memory?: string;
		},
	): string {
		const name = `${this.name}-${container}`;
		docker([
			'create',
			'--name',
			name,
			'--label',
			`swarmbee.cluster=${this.name}`,
			'--network',
			options.network,
			...(options.hostname ? ['--hostname', options.hostname] : []),
			...(options.memory ? ['--memory', options.memory] : []),
			...Object.entries(options.secrets ?? {}).flatMap(([target, file]) => ['-v', `${file}:/run/secrets/${target}:ro`]),
			this.image,
			...command,
		]);
		this.containers.push(name);
		for (const extra of options.connect ?? [])
			docker(['network', 'connect', ...extra.aliases.flatMap(a => ['--alias', a]), extra.network, name]);
		return name;
	}

	start(container: string): void {
		docker(['start', container]);
	}

	stop(container: string): void {
		docker(['stop', '-t', '10', container]);
	}

	address(container: string, network: string): string {
		return docker(['inspect', '--format', `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`, container]);
	}

	/** stdout and stderr of the container, interleaved as it printed them. */
	logs(container: string): string {
		return execFileSync('sh', ['-c', 'docker logs "$1" 2>&1', 'sh', container], {encoding: 'utf8'});
	}

	/** Waits (polling `docker logs`) until the container's output matches. */
	async waitForLog(container: string, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const text = this.logs(container);
			if (pattern.test(text)) return text;
			if (Date.now() > deadline)
				throw new Error(`${container} did not print ${pattern} within ${timeoutMs / 1000} s; its log:\n${text}`);
			await sleep(200);
		}
	}

	remove(): void {
		if (this.containers.length > 0) execFileSync('docker', ['rm', '-f', '-v', ...this.containers], {stdio: 'ignore'});
		for (const network of this.networks) execFileSync('docker', ['network', 'rm', network], {stdio: 'ignore'});
		rmSync(this.secrets, {recursive: true, force: true});
	}
}
