import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {DockerCli, DockerCommandError, engineEnvironment, NoEngineError} from '../../source/docker/cli.js';
import {ensureLocalImage} from '../../source/docker/local-image.js';
import {InputError} from '../../source/errors.js';
import {registerSecret} from '../../source/redact.js';

const dir = mkdtempSync(path.join(tmpdir(), 'sb-fake-docker-'));
afterAll(() => rmSync(dir, {recursive: true, force: true}));

/**
 * A DockerCli whose `docker` (first on PATH) fails as the real CLI does,
 * printing `stderr`; `docker image inspect` fails as for a missing image.
 */
function docker(name: string, stderr: string): DockerCli {
	const binDir = path.join(dir, name);
	mkdirSync(binDir);
	writeFileSync(path.join(binDir, 'stderr.txt'), stderr);
	writeFileSync(
		path.join(binDir, 'docker'),
		[
			'#!/bin/sh',
			'if [ "$2" = inspect ]; then echo "[]"; echo "Error: No such image: x" >&2; exit 1; fi',
			`cat '${path.join(binDir, 'stderr.txt')}' >&2`,
			'exit 1',
			'',
		].join('\n'),
	);
	chmodSync(path.join(binDir, 'docker'), 0o755);
	return new DockerCli({PATH: `${binDir}:${process.env.PATH ?? ''}`});
}

describe('DockerCli errors', () => {
	it('a daemon that cannot reach a registry is not a missing engine', async () => {
		const cli = docker(
			'offline',
			'Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host\n',
		);
		const error = await cli.run(['pull', 'rethinkdb:2.4.4-bookworm-slim']).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(DockerCommandError);
		expect(error).not.toBeInstanceOf(NoEngineError);
		// …so preflight says the image cannot be had, and what to do.
		const refused = await ensureLocalImage(cli, 'rethinkdb:2.4.4-bookworm-slim', {
			why: 'Nodes load it from here.',
		}).catch((e: unknown) => e);
		expect(refused).toBeInstanceOf(InputError);
		expect((refused as Error).message).toBe(
			'rethinkdb:2.4.4-bookworm-slim is not on this Docker engine and could not be pulled',
		);
	});

	it('a CLI that cannot reach its engine is a missing engine', async () => {
		const cli = docker(
			'down',
			'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n',
		);
		await expect(cli.run(['version'])).rejects.toBeInstanceOf(NoEngineError);
		const remote = docker(
			'remote',
			'error during connect: Get "http://nowhere:2375/v1.24/version": dial tcp: lookup nowhere: no such host\n',
		);
		await expect(remote.run(['version'])).rejects.toBeInstanceOf(NoEngineError);
	});
});

describe('DockerCli environment', () => {
	it('hands docker no DigitalOcean token and no registered secret, only the rest of the environment', async () => {
		const binDir = path.join(dir, 'env');
		mkdirSync(binDir);
		writeFileSync(path.join(binDir, 'docker'), '#!/bin/sh\nenv\n');
		chmodSync(path.join(binDir, 'docker'), 0o755);
		// Neither looks like a dop_v1_ token: only the name, or the registry of secrets, can tell.
		const token = `sb-unit-token-${process.pid}-shaped-unlike-dop`;
		const password = `sb-unit-password-${process.pid}`;
		registerSecret(password);
		const saved = {...process.env};
		Object.assign(process.env, {
			DIGITALOCEAN_ACCESS_TOKEN: token,
			DIGITALOCEAN_TOKEN: token,
			SB_UNIT_PASSWORD: password,
			SB_UNIT_PLAIN: 'kept',
		});
		try {
			const out = await new DockerCli({PATH: `${binDir}:${process.env.PATH ?? ''}`}).run(['version'], {
				env: {DOCKER_BUILDKIT: '1'},
			});
			expect(out).not.toContain(token);
			expect(out).not.toContain(password);
			expect(out).not.toMatch(/^DIGITALOCEAN_(ACCESS_)?TOKEN=/m);
			expect(out).toMatch(/^SB_UNIT_PLAIN=kept$/m);
			expect(out).toMatch(/^DOCKER_BUILDKIT=1$/m);
			expect(out).toMatch(/^HOME=/m);
		} finally {
			for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
			Object.assign(process.env, saved);
		}
	});
});

describe("swarmbee's own docker commands reach this machine's engine, not a cluster's manager", () => {
	const socket = 'unix:///home/me/.config/swarmbee-nodejs/clusters/demo/docker/docker.sock';
	const none = () => undefined;

	it('leaves out the DOCKER_HOST that eval "$(swarmbee env demo)" set', () => {
		const env = engineEnvironment({DOCKER_HOST: socket, SWARMBEE_CLUSTER: 'demo', HOME: '/home/me'}, none);
		expect(env['DOCKER_HOST']).toBeUndefined();
		expect(env['HOME']).toBe('/home/me');
	});

	it("leaves out the DOCKER_CONTEXT of env --context, and overrides a current context of swarmbee's", () => {
		expect(engineEnvironment({DOCKER_CONTEXT: 'swarmbee-demo'}, none)['DOCKER_CONTEXT']).toBeUndefined();
		expect(engineEnvironment({}, () => 'swarmbee-demo')['DOCKER_CONTEXT']).toBe('default');
	});

	it("keeps an engine the user chose: another DOCKER_HOST, another context (Docker Desktop's)", () => {
		expect(engineEnvironment({DOCKER_HOST: 'tcp://10.0.0.5:2376'}, none)['DOCKER_HOST']).toBe('tcp://10.0.0.5:2376');
		expect(engineEnvironment({DOCKER_HOST: 'unix:///var/run/docker.sock'}, none)['DOCKER_HOST']).toBe(
			'unix:///var/run/docker.sock',
		);
		expect(engineEnvironment({DOCKER_CONTEXT: 'desktop-linux'}, none)['DOCKER_CONTEXT']).toBe('desktop-linux');
		expect(engineEnvironment({}, () => 'desktop-linux')['DOCKER_CONTEXT']).toBeUndefined();
	});

	it('reads the current context from the docker config folder', () => {
		const config = path.join(dir, 'docker-config');
		mkdirSync(config);
		writeFileSync(path.join(config, 'config.json'), JSON.stringify({currentContext: 'swarmbee-demo'}));
		expect(engineEnvironment({DOCKER_CONFIG: config})['DOCKER_CONTEXT']).toBe('default');
	});

	it('a docker command run while the shell points at a cluster goes to the engine', async () => {
		const binDir = path.join(dir, 'env-engine');
		mkdirSync(binDir);
		writeFileSync(path.join(binDir, 'docker'), '#!/bin/sh\nenv\n');
		chmodSync(path.join(binDir, 'docker'), 0o755);
		const saved = process.env['DOCKER_HOST'];
		process.env['DOCKER_HOST'] = socket;
		try {
			const out = await new DockerCli({PATH: `${binDir}:${process.env.PATH ?? ''}`}).run(['version']);
			expect(out).not.toMatch(/^DOCKER_HOST=/m);
		} finally {
			if (saved === undefined) delete process.env['DOCKER_HOST'];
			else process.env['DOCKER_HOST'] = saved;
		}
	});
});
