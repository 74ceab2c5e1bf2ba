import {spawn, spawnSync} from 'node:child_process';
import {mkdtempSync, rmSync} from 'node:fs';
import net from 'node:net';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {queryHealth} from '../../source/cluster/rethinkdb.js';

const root = path.resolve(import.meta.dirname, '../..');
const SERVER = path.join(root, 'test/fixtures/rethinkdb-standin/server.mjs');
const PASSWORD = 'health-test-password';

async function freeOffset(): Promise<number> {
	for (;;) {
		const offset = 2000 + Math.floor(Math.random() * 3000);
		const free = await Promise.all([28015, 29015, 8080].map(base => new Promise<boolean>(resolve => {
			const probe = net.createServer().once('error', () => resolve(false));
			probe.listen(base + offset, '127.0.0.1', () => probe.close(() => resolve(true)));
		})));
		if (free.every(Boolean)) return offset;
	}
}

/**
 * swarmbee's health query against the RethinkDB stand-in (a test fixture,
 * not RethinkDB): what it reports, and that a refused password does not take
 * the process down later (the driver's rethinkdb#6290).
 */
describe('queryHealth', () => {
	let offset: number;
	const directory = mkdtempSync(path.join(tmpdir(), 'sb-health-'));
	let server: ReturnType<typeof spawn>;

	beforeAll(async () => {
		offset = await freeOffset();
		server = spawn(process.execPath, [SERVER, '--bind', 'all', '--port-offset', String(offset), '--directory', path.join(directory, 'data'), '--server-name', 'queenbee', '--initial-password', PASSWORD, '--canonical-address', '127.0.0.1'], {stdio: 'ignore'});
		const deadline = Date.now() + 10_000;
		for (;;) {
			const open = await new Promise<boolean>(resolve => {
				const socket = net.connect(28015 + offset, '127.0.0.1', () => {
					socket.destroy();
					resolve(true);
				}).once('error', () => resolve(false));
			});
			if (open) break;
			if (Date.now() > deadline) throw new Error('the stand-in did not open its driver port');
			await new Promise(resolve => setTimeout(resolve, 50));
		}
	});
	afterAll(async () => {
		const exited = new Promise(resolve => server.once('exit', resolve));
		server.kill('SIGTERM');
		await exited;
		rmSync(directory, {recursive: true, force: true});
	});

	it('counts connected servers against the expected nodes and names the missing ones', async () => {
		const health = await queryHealth(28015 + offset, PASSWORD, ['queenbee', 'workerbee-1']);
		expect(health).toEqual({connected: 1, expected: 2, missing: ['workerbee_1'], issues: []});
	});

	it('survives a refused password (the driver\'s orphaned timer is disarmed)', () => {
		const script = `
import {queryHealth} from ${JSON.stringify(path.join(root, 'dist/source/cluster/rethinkdb.js'))};
// The process ends once nothing is left to run, the driver's orphaned timer
// included: alive that long means its firing did no harm (no fixed sleep).
process.once('beforeExit', () => console.log('still alive'));
try {
	await queryHealth(${28015 + offset}, 'wrong password', ['queenbee'], 1);
	console.log('connected?!');
} catch (error) {
	console.log(error.name);
}
`;
		const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {encoding: 'utf8', timeout: 15_000});
		expect(result.stderr).not.toContain('ReqlTimeoutError');
		expect(result.stdout.trim().split('\n')).toEqual(['ReqlAuthError', 'still alive']);
		expect(result.status).toBe(0);
	});
});
