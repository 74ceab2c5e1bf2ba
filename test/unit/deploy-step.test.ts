import {readFileSync} from 'node:fs';
import {afterEach, describe, expect, it, vi} from 'vitest';
import {stackServicesCommand} from '../../source/database/stack.js';
import {deployStep} from '../../steps/deploy.js';
import {recordedCluster, recordedIO} from './recorder.js';

// The database's own health answer needs a RethinkDB server (test/e2e/rethinkdb-server.test.ts asks the real one):
// here it is the one part not recorded, so the step's commands and events can be.
vi.mock('../../source/database/health.js', async original => ({
	...(await original<typeof import('../../source/database/health.js')>()),
	waitForHealthy: vi.fn(async (input: {onChange: (said: string) => void; nodes: string[]}) => {
		input.onChange(`${input.nodes.length} of ${input.nodes.length} servers connected`);
		return {connected: input.nodes.length, expected: input.nodes.length, missing: [], issues: [], tables: []};
	}),
}));

let remove = () => {};
afterEach(() => remove());

describe('deploy', () => {
	it('side-loads where needed, puts the password in a secret, uploads the stack file and deploys it on queenbee', async () => {
		const c = recordedCluster(
			{database: 'rethinkdb'},
			{
				docker: [{match: 'image inspect rethinkdb:2.4.4-bookworm-slim', reply: JSON.stringify([{Id: 'sha256:db'}])}],
				ssh: [
					{match: 'docker image inspect --format', reply: 'sha256:db\n'},
					{node: 'queenbee', match: stackServicesCommand, reply: ''},
					{node: 'queenbee', match: 'docker secret inspect', reply: ''},
					{node: 'queenbee', match: 'mkdir -p -m 700 /root/.swarmbee', reply: ''},
					{node: 'queenbee', match: 'docker stack deploy', reply: ''},
				],
			},
		);
		remove = c.remove;
		c.ctx.journal.update(j => {
			j.nodes = ['queenbee', 'workerbee-1'].map((name, index) => ({
				name,
				index,
				role: index === 0 ? ('manager' as const) : ('worker' as const),
				state: 'running' as const,
				hostKey: {publicKey: 'k', fingerprint: 'f'},
			}));
			// What the network step recorded: the servers' two overlays.
			j.swarm = {
				clusterId: 'c',
				managerAddress: '10.0.0.10',
				overlay: {name: 'swarmbee', subnet: '10.217.40.0/22', encrypted: false},
				databaseOverlay: {name: 'swarmbee-db', subnet: '10.217.44.0/24', encrypted: false},
			};
		});
		const {io, events} = recordedIO();
		const result = await deployStep.run(c.ctx, io);
		const password = readFileSync(c.ctx.paths.rethinkdbPassword, 'utf8').trim();
		const secret = c.ssh.commands.find(r => r.command.includes('docker secret'))!;
		expect(secret.stdin).toContain(password);
		expect(secret.command).not.toContain(password);
		expect(c.ssh.on('queenbee').at(-1)).toBe(
			'docker stack deploy --prune --resolve-image never -c /root/.swarmbee/stack.yml swarmbee',
		);
		const stack = c.ssh.uploads.find(u => u.path === '/root/.swarmbee/stack.yml')!;
		expect(stack.contents).toBe(readFileSync(c.ctx.paths.stack, 'utf8'));
		expect(stack.mode).toBe(0o600);
		// Both servers on both overlays, every one with the password secret.
		expect(stack.contents).toContain('swarmbee-db:\n        aliases:');
		expect(stack.contents.match(/target: rethinkdb-admin\.conf/g)).toHaveLength(2);
		// Both nodes had the image already: nothing was saved or loaded.
		expect(c.docker.commands).toEqual([['image', 'inspect', 'rethinkdb:2.4.4-bookworm-slim']]);
		expect(events.filter(e => e.type === 'step-progress').map(e => (e as {message: string}).message)).toEqual([
			`docker stack deploy: 2 servers (stack file: ${c.ctx.paths.stack})`,
			'RethinkDB: 2 of 2 servers connected',
		]);
		expect(c.ctx.journal.value.database).toMatchObject({
			image: 'rethinkdb:2.4.4-bookworm-slim',
			secret: expect.any(String),
		});
		expect(result).toEqual({changed: true, summary: '2 of 2 servers connected'});
	});

	it('is skipped without a database, touching nothing', async () => {
		const c = recordedCluster({database: 'none'});
		remove = c.remove;
		expect(await deployStep.run(c.ctx, recordedIO().io)).toEqual({
			changed: false,
			summary: 'skipped (--database none)',
		});
		expect(c.ssh.commands).toEqual([]);
		expect(c.docker.commands).toEqual([]);
	});
});
