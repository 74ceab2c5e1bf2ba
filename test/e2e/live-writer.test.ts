import r from 'rethinkdb';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {connectDriver} from '../../source/database/rethinkdb.js';
import {describeWithEngine, uniqueName} from './helpers.js';
import {describeWrites, startWriter, verifyWrites} from './live-writer.js';
import {rethinkdbImage, ServerBed} from './rethinkdb-containers.js';

/**
 * The live writer every cluster-changing test runs, proved on one real
 * server (a plain container, no Swarm): it keeps writing through a server
 * restart, counts only what was acknowledged, and its verification finds
 * acknowledged rows that are gone (so "0 lost" in the other tests means
 * something).
 */

const PASSWORD = 'writer-test-password';

describeWithEngine('the live writer', () => {
	let bed: ServerBed;
	let server: string;
	let network: {name: string; subnet: string};
	const connect = () =>
		connectDriver({host: bed.address(server, network.name), port: 28015, password: PASSWORD, timeoutSeconds: 5});

	beforeAll(async () => {
		bed = new ServerBed(uniqueName('e2e-writer'), await rethinkdbImage());
		network = bed.network('app');
		const conf = bed.secret('admin.conf', `initial-password=${PASSWORD}\n`);
		server = bed.create('server', ['rethinkdb', '--bind', 'all', '--config-file', '/run/secrets/admin.conf'], {
			network: network.name,
			secrets: {'admin.conf': conf},
		});
		bed.start(server);
		await bed.waitForLog(server, /Server ready/);
		const c = await connect();
		await r.dbCreate('app').run(c);
		for (const t of ['a', 'b']) await r.db('app').tableCreate(t).run(c);
		await c.close();
	});
	afterAll(() => bed?.remove());

	it('writes through a server restart, counts only acknowledged ids, and finds every one afterwards', async () => {
		const writer = startWriter({connect, db: 'app', tables: ['a', 'b'], sampleStatus: true});
		await writer.advance(200);
		bed.stop(server);
		bed.start(server);
		await bed.waitForLog(server, /Server ready[\s\S]*Server ready/);
		await writer.addTable('late');
		await writer.advance(200);
		const report = await writer.stop();

		expect(report.tables.map(t => t.table)).toEqual(['a', 'b', 'late']);
		// The restart was seen: writes failed, and the longest gap covers it.
		expect(report.errors.length).toBeGreaterThan(0);
		expect(Math.max(...report.tables.map(t => t.longestGapMs))).toBeGreaterThan(500);
		const check = await verifyWrites(connect, report);
		expect(check.lost, describeWrites(report)).toEqual([]);
		expect(check.found).toBe(check.acked);
		expect(check.acked).toBeGreaterThanOrEqual(1_000);
	});

	it('says which acknowledged writes are missing when rows are gone', async () => {
		const writer = startWriter({connect, db: 'app', tables: ['a']});
		await writer.advance(50);
		const report = await writer.stop();
		const gone = report.tables[0]!.acked.slice(10, 13);
		const c = await connect();
		await r
			.db('app')
			.table('a')
			.getAll(...(gone as unknown as [string]))
			.delete()
			.run(c);
		await c.close();
		const check = await verifyWrites(connect, report);
		expect(check.lost).toEqual(gone.map(id => `a:${id}`));
		expect(check.found).toBe(check.acked - 3);
	});
});
