import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, describe, expect, it} from 'vitest';
import {DockerCli, DockerCommandError, NoEngineError} from '../../source/docker/cli.js';
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
