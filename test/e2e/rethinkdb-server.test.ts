import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import r from 'rethinkdb';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {planPlacement, refusals} from '../../source/database/placement.js';
import {connectDriver, queryHealth, sessionOver, type RethinkdbHealth} from '../../source/database/rethinkdb.js';
import {applyPlan, emergencyRepair, readLayouts, type ApplyProgress} from '../../source/database/tables.js';
import {
	passwordSecretContent,
	PASSWORD_SECRET_TARGET,
	PEERS_ALIAS,
	peerAlias,
	serverArguments,
	serverName,
	serverScript,
	serviceName,
	type StackInput,
} from '../../source/database/stack.js';
import {describeWithEngine, uniqueName} from './helpers.js';
import {rethinkdbImage, ServerBed} from './rethinkdb-containers.js';

/**
 * The real RethinkDB 2.4.4 server, run the way swarmbee's stack runs it (the
 * very script the stack file carries), as plain containers on this engine:
 * what the database does on its own, without the minutes a Swarm costs.
 */

const PASSWORD = 'e2e-cluster-password';
const NODES = ['queenbee', 'workerbee-1', 'workerbee-2'];

async function until<T>(what: () => Promise<T | undefined>, timeoutMs: number, describe: () => string): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await what().catch(() => undefined);
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
		await sleep(250);
	}
}

describeWithEngine('the real RethinkDB server as swarmbee runs it', () => {
	let bed: ServerBed;
	let image: string;
	let app: {name: string; subnet: string};
	let input: StackInput;
	const containers: Record<string, string> = {};
	const connect = (node: string, password = PASSWORD) =>
		connectDriver({host: bed.address(containers[node]!, app.name), port: 28015, password, timeoutSeconds: 5});

	beforeAll(async () => {
		image = await rethinkdbImage();
		bed = new ServerBed(uniqueName('e2e-rdbsrv'), image);
	});
	afterAll(() => bed?.remove());

	it("joins into one cluster with swarmbee's admin password even when the joiners' data directories are older than the first server's", async () => {
		app = bed.network('app');
		const db = bed.network('db');
		input = {
			cluster: bed.name,
			nodes: NODES,
			image,
			memoryLimitBytes: 450 * 1024 * 1024,
			network: app,
			databaseNetwork: db,
			secret: 'unused',
		};
		const secret = bed.secret(PASSWORD_SECRET_TARGET, passwordSecretContent(PASSWORD));
		for (const node of NODES) {
			containers[node] = bed.create(
				node,
				['sh', '-c', serverScript(input.memoryLimitBytes), 'rdb-server', ...serverArguments(input, node, 4)],
				{
					network: app.name,
					hostname: serviceName(node),
					connect: [{network: db.name, aliases: [PEERS_ALIAS, peerAlias(node)]}],
					secrets: {[PASSWORD_SECRET_TARGET]: secret},
				},
			);
		}
		// The worst order: both joiners first; they wait for queenbee, give up after their patience and join each other.
		bed.start(containers['workerbee-1']!);
		bed.start(containers['workerbee-2']!);
		for (const node of ['workerbee-1', 'workerbee-2']) await bed.waitForLog(containers[node]!, /Server ready/);

		// Health while a server is still to come: 2 of 3, the missing one named.
		const early = await until(
			async () => {
				const connection = await connect('workerbee-1');
				try {
					const health = await queryHealth(connection, NODES);
					return health.connected === 2 ? health : undefined;
				} finally {
					await connection.close();
				}
			},
			30_000,
			() => 'workerbee-1 and workerbee-2 never saw each other',
		);
		expect(early).toEqual({connected: 2, expected: 3, missing: ['queenbee'], issues: [], tables: []});

		// Only now the first server: its data directory is the youngest.
		bed.start(containers['queenbee']!);
		await bed.waitForLog(containers['queenbee']!, /Server ready/);
		expect(bed.logs(containers['workerbee-1']!)).toMatch(/waiting for rdb-peer-queenbee/);

		for (const node of NODES) {
			const health = await until(
				async () => {
					const connection = await connect(node);
					try {
						const seen = await queryHealth(connection, NODES);
						return seen.connected === 3 ? seen : undefined;
					} finally {
						await connection.close();
					}
				},
				30_000,
				() => `${node} does not see 3 servers with the cluster's password`,
			);
			expect(health).toEqual({connected: 3, expected: 3, missing: [], issues: [], tables: []});
		}
		const connection = await connect('queenbee');
		const servers = (await (
			await r
				.db('rethinkdb')
				.table('server_status')
				.pluck('name', {network: ['canonical_addresses']} as never)
				.run(connection)
		).toArray()) as Array<{name: string; network: {canonical_addresses: Array<{host: string; port: number}>}}>;
		await connection.close();
		expect(servers.map(s => s.name).sort()).toEqual(NODES.map(serverName).sort());
		for (const server of servers) {
			const node = NODES.find(n => serverName(n) === server.name)!;
			expect(server.network.canonical_addresses).toEqual([
				{host: bed.address(containers[node]!, db.name), port: 29015},
			]);
		}
	});

	it('control: with joiners started on "--initial-password auto" (swarmbee before this fix), the same order loses the password', async () => {
		const net = bed.network('control');
		const joiner = bed.create(
			'control-joiner',
			['rethinkdb', '--bind', 'all', '--server-name', 'joiner', '--initial-password', 'auto'],
			{network: net.name, hostname: 'control-joiner'},
		);
		const seed = bed.create(
			'control-seed',
			[
				'rethinkdb',
				'--bind',
				'all',
				'--server-name',
				'seed',
				'--initial-password',
				PASSWORD,
				'--join',
				'control-joiner:29015',
			],
			{network: net.name},
		);
		bed.start(joiner);
		await bed.waitForLog(joiner, /Server ready/);
		await sleep(1_100); // rethinkdb dates an initial password in whole seconds: make the joiner's strictly older
		bed.start(seed);
		await bed.waitForLog(joiner, /Connected to server "seed"/);
		const error = await until(
			async () => {
				try {
					const connection = await connectDriver({
						host: bed.address(seed, net.name),
						port: 28015,
						password: PASSWORD,
						timeoutSeconds: 5,
					});
					await connection.close();
					return undefined;
				} catch (caught) {
					return (caught as Error).name === 'ReqlAuthError' ? (caught as Error) : undefined;
				}
			},
			30_000,
			() => 'the seed kept its own password',
		);
		expect(error.message).toMatch(/Wrong password/);
	});

	it("reports each table's replicas and readiness, and a stopped server as missing with the table degraded", async () => {
		const connection = await connect('queenbee');
		try {
			await r.dbCreate('app').run(connection);
			await r
				.db('app')
				.tableCreate('orders', {replicas: 2} as never)
				.run(connection);
			await r.db('app').table('orders').wait().run(connection);
			await r
				.db('app')
				.table('orders')
				.insert(Array.from({length: 1000}, (_, n) => ({n})))
				.run(connection);
			const health = await queryHealth(connection, NODES);
			expect(health.tables).toHaveLength(1);
			const [orders] = health.tables;
			expect(orders).toMatchObject({db: 'app', table: 'orders', shards: 1, replicas: 2, readiness: 'ready'});
			expect(orders!.servers).toHaveLength(2);
			expect(orders!.servers).toContain(orders!.primaries[0]);

			// Stop a replica that is not the server we ask (of two replicas, one is not queenbee's).
			const victim = NODES.find(n => orders!.servers.includes(serverName(n)) && n !== 'queenbee')!;
			const idBefore = (
				(await (
					await r
						.db('rethinkdb')
						.table('server_config')
						.filter({name: serverName(victim)})
						.run(connection)
				).toArray()) as Array<{id: string}>
			)[0]!.id;
			bed.stop(containers[victim]!);
			const degraded: RethinkdbHealth = await until(
				async () => {
					const seen = await queryHealth(connection, NODES);
					return seen.connected === 2 ? seen : undefined;
				},
				30_000,
				() => `${victim} still counted after it stopped`,
			);
			expect(degraded.missing).toEqual([serverName(victim)]);
			expect(degraded.tables[0]!.readiness).not.toBe('ready');
			expect(degraded.issues.map(i => i.type)).toContain('table_availability');

			// Back: the same server (its id), with its data.
			bed.start(containers[victim]!);
			await until(
				async () => {
					const seen = await queryHealth(connection, NODES);
					return seen.connected === 3 && seen.tables[0]?.readiness === 'ready' ? seen : undefined;
				},
				60_000,
				() => `${victim} did not come back`,
			);
			const idAfter = (
				(await (
					await r
						.db('rethinkdb')
						.table('server_config')
						.filter({name: serverName(victim)})
						.run(connection)
				).toArray()) as Array<{id: string}>
			)[0]!.id;
			expect(idAfter).toBe(idBefore);
			expect(await r.db('app').table('orders').count().run(connection)).toBe(1000);
		} finally {
			await connection.close();
		}
	});

	it('applies the replication policy: tables grow to R with primaries spread, then move off a server, every row still there', async () => {
		const connection = await connect('queenbee');
		try {
			await r.db('app').tableCreate('events').run(connection);
			await r.db('app').tableCreate('users').run(connection);
			for (const name of ['events', 'users']) {
				await r.db('app').table(name).wait().run(connection);
				await r
					.db('app')
					.table(name)
					.insert(Array.from({length: 5000}, (_, n) => ({n, pad: 'x'.repeat(200)})))
					.run(connection);
			}
			const servers = NODES.map(serverName);
			const grown = planPlacement(await readLayouts(connection), servers, 3);
			const seen: ApplyProgress[] = [];
			for (const plan of grown) await applyPlan(connection, plan, {onProgress: p => seen.push(p)});
			let layouts = await readLayouts(connection);
			expect(layouts.map(t => [t.table, t.shards[0]!.replicas.length])).toEqual([
				['events', 3],
				['orders', 3],
				['users', 3],
			]);
			expect(new Set(layouts.map(t => t.shards[0]!.primary)).size).toBe(3);
			expect(seen.some(p => p.stage === 'grow')).toBe(true);

			// workerbee_2 leaves: every table moves off it before anything else would happen.
			const staying = servers.filter(s => s !== 'workerbee_2');
			for (const plan of planPlacement(layouts, staying, 3)) await applyPlan(connection, plan);
			layouts = await readLayouts(connection);
			for (const layout of layouts) {
				expect(layout.shards[0]!.replicas.sort()).toEqual(staying.slice().sort());
				expect(layout.live[0]!.sort()).toEqual(staying.slice().sort());
			}
			expect(planPlacement(layouts, staying, 3).flatMap(p => p.stages)).toEqual([]);
			const health = await queryHealth(connection, NODES);
			expect(health.tables.every(t => t.readiness === 'ready' && !t.servers.includes('workerbee_2'))).toBe(true);
			for (const name of ['events', 'users']) expect(await r.db('app').table(name).count().run(connection)).toBe(5000);
			expect(await r.db('app').table('orders').count().run(connection)).toBe(1000);
		} finally {
			await connection.close();
		}
	});

	it('a move whose driver connection closes while it waits opens it again and finishes (as a scale does when its connection drops)', async () => {
		const session = await sessionOver('queenbee', () => connect('queenbee'));
		try {
			const servers = NODES.map(serverName);
			// Back onto all three servers: 5,000 documents to copy onto workerbee_2.
			const [plan] = planPlacement(
				(await readLayouts(session.connection)).filter(t => t.table === 'events'),
				servers,
				3,
			);
			const first = session.connection;
			let closed = false;
			await applyPlan(session.connection, plan!, {
				session,
				onProgress: () => {
					if (closed) return;
					closed = true;
					// Cut right after the new placement is written, before the wait's first look.
					void first.close({noreplyWait: false});
				},
			});
			expect(closed).toBe(true);
			expect(session.connection).not.toBe(first);
			const [events] = (await readLayouts(session.connection)).filter(t => t.table === 'events');
			expect(events!.shards[0]!.replicas.sort()).toEqual(servers.slice().sort());
			expect(await r.db('app').table('events').count().run(session.connection)).toBe(5000);
		} finally {
			await session.close();
		}
	});

	it("a table that lost its majority: refused as unplaceable, RethinkDB's emergency repair said by a dry run, then applied, its surviving rows kept", async () => {
		const connection = await connect('queenbee');
		try {
			await r
				.db('app')
				.tableCreate('fragile', {replicas: 3} as never)
				.run(connection);
			await r.db('app').table('fragile').wait().run(connection);
			await r
				.db('app')
				.table('fragile')
				.insert(Array.from({length: 500}, (_, n) => ({n})))
				.run(connection);
			for (const node of ['workerbee-1', 'workerbee-2']) bed.stop(containers[node]!);
			const lost = await until(
				async () => {
					const table = (await readLayouts(connection)).find(t => t.table === 'fragile');
					return table && !table.writable ? table : undefined;
				},
				30_000,
				() => 'fragile still writable with two of three servers stopped',
			);
			expect(refusals([lost], [])[0]!.why).toBe(
				'app.fragile has lost the majority of its replicas, so its configuration cannot change',
			);
			const dry = await emergencyRepair(connection, lost, 'unsafe_rollback', true);
			// RethinkDB keeps the lost replicas listed as non-voting: the one voting replica is the survivor.
			expect(dry).toHaveLength(1);
			expect(dry[0]!.primary).toBe('queenbee');
			expect(dry[0]!.replicas.filter(s => !dry[0]!.nonvoting.includes(s))).toEqual(['queenbee']);
			// The dry run changed nothing.
			expect((await readLayouts(connection)).find(t => t.table === 'fragile')!.writable).toBe(false);
			await emergencyRepair(connection, lost, 'unsafe_rollback', false);
			await r
				.db('app')
				.table('fragile')
				.wait({waitFor: 'ready_for_writes', timeout: 60} as never)
				.run(connection);
			expect(await r.db('app').table('fragile').count().run(connection)).toBe(500);
		} finally {
			await connection.close();
			for (const node of ['workerbee-1', 'workerbee-2']) bed.start(containers[node]!);
			for (const node of ['workerbee-1', 'workerbee-2'])
				await bed.waitForLog(containers[node]!, /Server ready[\s\S]*Server ready/);
		}
	});

	it("refuses a wrong password (ReqlAuthError), and the driver's orphaned connect timer does not take the process down later", () => {
		const script = `
import {connectDriver} from ${JSON.stringify(path.resolve(import.meta.dirname, '../../dist/source/database/rethinkdb.js'))};
try {
	await connectDriver({host: ${JSON.stringify(bed.address(containers['queenbee']!, app.name))}, port: 28015, password: 'wrong password', timeoutSeconds: 1});
	console.log('connected?!');
} catch (error) {
	console.log(error.name);
}
await new Promise(resolve => setTimeout(resolve, 1_500)); // past the driver's 1 s timer
console.log('still alive');
`;
		const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
			encoding: 'utf8',
			timeout: 15_000,
		});
		expect(result.stderr).not.toContain('ReqlTimeoutError');
		expect(result.stdout.trim().split('\n')).toEqual(['ReqlAuthError', 'still alive']);
		expect(result.status).toBe(0);
	});
});
