import {execFileSync} from 'node:child_process';
import {
	copyFileSync,
	existsSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	truncateSync,
	writeFileSync,
} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {execa} from 'execa';
import type {Connection} from 'rethinkdb';
import {afterAll, beforeAll, expect, it} from 'vitest';
import {readArchive} from '../../source/backup/archive-reader.js';
import {ArchiveWriter} from '../../source/backup/archive-writer.js';
import {connectDirect} from '../../source/backup/connect.js';
import type {DatabaseSession} from '../../source/database/rethinkdb.js';
import {backupTables, listTables} from '../../source/backup/dump.js';
import {ArchiveError} from '../../source/backup/errors.js';
import {JSON_ARRAY, topFolderName} from '../../source/backup/format.js';
import {rql as r} from '../../source/backup/reql.js';
import {checkTarget, readTarget, restoreTable} from '../../source/backup/restore.js';
import {openCluster} from '../../source/session/open.js';
import type {ClusterSession} from '../../source/session/session.js';
import {DockerCli} from '../../source/docker/cli.js';
import {ensureRethinkdbImage, findRethinkdbSource} from '../../source/docker/rethinkdb-image.js';
import {InputError} from '../../source/errors.js';
import {cli, describeWithEngine, events, newHome, purge, spawnCli, uniqueName} from './helpers.js';

/**
 * Backup and restore against the real RethinkDB 2.4.4 server (the image
 * built from shared/rethinkdb) and the official Python tools of driver
 * 2.4.9: first the library against one server in a container (formats both
 * ways), then the real commands against a real swarmbee cluster (SSH only).
 */

const ROWS = 5_000;
const PASSWORD = 'bk-e2e-password';

/** The official `python3 -m rethinkdb` (dump, restore) from shared/rethinkdb/python, on Debian's python. */
async function official(args: string[], cwd: string) {
	const result = await execa('/usr/bin/python3', ['-m', 'rethinkdb', ...args], {
		cwd,
		env: {PYTHONPATH: path.join(findRethinkdbSource(), 'python')},
		reject: false,
		stdin: 'ignore',
	});
	return {exitCode: result.exitCode ?? -1, output: `${String(result.stdout)}\n${String(result.stderr)}`};
}

function orderRow(i: number) {
	return {
		id: i,
		customer: `c${i % 37}`,
		total: i * 0.25,
		tags: ['a', `t${i % 5}`],
		placed: r.epochTime(1_700_000_000 + i),
		note: i % 100 === 0 ? 'déjà vu, "quoted"\nline' : `n${i}`,
	};
}

async function seed(connection: Connection): Promise<void> {
	await r.dbCreate('app').run(connection);
	await r.db('app').tableCreate('orders').run(connection);
	await r.db('app').table('orders').indexCreate('customer').run(connection);
	await r.db('app').table('orders').indexWait().run(connection);
	for (let start = 0; start < ROWS; start += 1000) {
		await r
			.db('app')
			.table('orders')
			.insert(Array.from({length: 1000}, (_, k) => orderRow(start + k)))
			.run(connection);
	}
}

/** Every row, in key order, in the server's own JSON (times and binaries raw), for exact comparison. */
async function snapshot(connection: Connection): Promise<unknown[]> {
	return await r
		.db('app')
		.table('orders')
		.orderBy({index: 'id'})
		.coerceTo('array')
		.run(connection, {timeFormat: 'raw', binaryFormat: 'raw'});
}

/** What a restore must bring back: the rows and the secondary index, built and used. */
async function expectRestored(connection: Connection, rows: unknown[]): Promise<void> {
	expect(await r.db('app').table('orders').count().run(connection)).toBe(ROWS);
	expect(await snapshot(connection)).toEqual(rows);
	const indexes = (await r.db('app').table('orders').indexStatus().run(connection)) as Array<{
		index: string;
		ready: boolean;
	}>;
	expect(indexes.map(i => [i.index, i.ready])).toEqual([['customer', true]]);
	expect(await r.db('app').table('orders').getAll('c3', {index: 'customer'}).count().run(connection)).toBe(
		Math.ceil((ROWS - 3) / 37),
	);
}

async function dropOrders(connection: Connection): Promise<void> {
	await r.db('app').tableDrop('orders').run(connection);
}

/** Our restore of every table in an archive, as the restore command's steps do it. */
async function restoreWithLibrary(link: DatabaseSession, file: string, force = false): Promise<void> {
	const spoolDir = mkdtempSync(path.join(tmpdir(), 'bk-e2e-spool-'));
	try {
		const manifest = await readArchive(file, {spoolDir});
		const target = await readTarget(link);
		const existing = checkTarget(manifest.tables, target, force);
		for (const table of manifest.tables)
			await restoreTable(link, table, {exists: existing.has(`${table.db}.${table.table}`), force, target});
	} finally {
		rmSync(spoolDir, {recursive: true, force: true});
	}
}

async function backupWithLibrary(link: DatabaseSession, file: string): Promise<void> {
	const spoolDir = mkdtempSync(path.join(tmpdir(), 'bk-e2e-spool-'));
	const writer = ArchiveWriter.create(file, topFolderName(new Date()));
	try {
		await backupTables({link, tables: await listTables(link), writer, spoolDir});
		await writer.finish();
	} finally {
		rmSync(spoolDir, {recursive: true, force: true});
	}
}

describeWithEngine(
	'backup and restore, library against one RethinkDB 2.4.4 server, both ways with the official tools',
	() => {
		const id = uniqueName('bk-e2e');
		const work = mkdtempSync(path.join(tmpdir(), 'bk-e2e-'));
		const passwordFile = path.join(work, 'password');
		let host: string;
		let link: DatabaseSession;
		let rows: unknown[];

		beforeAll(async () => {
			const image = (await ensureRethinkdbImage(new DockerCli())).tag;
			execFileSync('docker', ['network', 'create', id], {stdio: 'ignore'});
			execFileSync(
				'docker',
				[
					'run',
					'-d',
					'--name',
					id,
					'--network',
					id,
					image,
					'rethinkdb',
					'--bind',
					'all',
					'--initial-password',
					PASSWORD,
				],
				{stdio: 'ignore'},
			);
			host = execFileSync(
				'docker',
				['inspect', '--format', `{{(index .NetworkSettings.Networks "${id}").IPAddress}}`, id],
				{encoding: 'utf8'},
			).trim();
			writeFileSync(passwordFile, `${PASSWORD}\n`, {mode: 0o600});
			const deadline = Date.now() + 60_000;
			for (;;) {
				try {
					link = await connectDirect(host, 28015, PASSWORD);
					break;
				} catch (error) {
					if (Date.now() > deadline) throw error;
					await sleep(250);
				}
			}
			await seed(link.connection);
			rows = await snapshot(link.connection);
			expect(rows).toHaveLength(ROWS);
		});

		afterAll(async () => {
			await link?.close();
			execFileSync('docker', ['rm', '-f', '-v', id], {stdio: 'ignore'});
			execFileSync('docker', ['network', 'rm', id], {stdio: 'ignore'});
			rmSync(work, {recursive: true, force: true});
		});

		it('ours: 5,000 rows and a secondary index → drop → restore → the same rows, the index built and used', async () => {
			const file = path.join(work, 'ours.tar.gz');
			await backupWithLibrary(link, file);
			await dropOrders(link.connection);
			await restoreWithLibrary(link, file);
			await expectRestored(link.connection, rows);
		});

		it('the same archive restored by the official rethinkdb restore gives the same result', async () => {
			await dropOrders(link.connection);
			const result = await official(
				['restore', path.join(work, 'ours.tar.gz'), '-c', `${host}:28015`, '--password-file', passwordFile],
				work,
			);
			expect(result.output).toContain(`${ROWS} rows imported to 1 table`);
			expect(result.exitCode).toBe(0);
			await expectRestored(link.connection, rows);
		});

		it('an archive made by the official rethinkdb dump restores with ours', async () => {
			const file = path.join(work, 'official.tar.gz');
			const result = await official(['dump', '-c', `${host}:28015`, '--password-file', passwordFile, '-f', file], work);
			expect(result.exitCode, result.output).toBe(0);
			await dropOrders(link.connection);
			await restoreWithLibrary(link, file);
			await expectRestored(link.connection, rows);
		});

		it('a table that exists is refused without --force, and written into with it', async () => {
			const file = path.join(work, 'ours.tar.gz');
			await expect(restoreWithLibrary(link, file)).rejects.toThrow(InputError);
			await expect(restoreWithLibrary(link, file)).rejects.toThrow('table app.orders already exists in the cluster');
			await r.db('app').table('orders').get(7).update({customer: 'changed'}).run(link.connection);
			await restoreWithLibrary(link, file, true);
			await expectRestored(link.connection, rows);
		});

		it('shards and replicas recorded for servers this cluster does not have are kept as counts, replicas capped', async () => {
			const manifest = await readArchive(path.join(work, 'ours.tar.gz'), {spoolDir: work});
			const [orders] = manifest.tables;
			expect(orders!.info.shards).toEqual([
				{primary_replica: expect.any(String), replicas: [expect.any(String)], nonvoting_replicas: []},
			]);
			// As if it came from a 1+2 cluster: two shards, three replicas each, on servers not here.
			const elsewhere = ['queenbee', 'workerbee_1', 'workerbee_2'];
			const info = {
				...orders!.info,
				shards: [
					{primary_replica: 'queenbee', replicas: elsewhere, nonvoting_replicas: []},
					{primary_replica: 'workerbee_1', replicas: elsewhere, nonvoting_replicas: []},
				],
			};
			const json = path.join(work, 'orders.json');
			writeFileSync(
				json,
				`${JSON_ARRAY.open}${JSON_ARRAY.first}${rows.map(row => JSON.stringify(row)).join(JSON_ARRAY.between)}${JSON_ARRAY.close}`,
			);
			const file = path.join(work, 'elsewhere.tar.gz');
			const writer = ArchiveWriter.create(file, topFolderName(new Date()));
			await writer.addTable({db: 'app', table: 'orders'}, info, json);
			await writer.finish();
			await dropOrders(link.connection);
			await restoreWithLibrary(link, file);
			await expectRestored(link.connection, rows);
			const shards = (await r.db('app').table('orders').config()('shards').run(link.connection)) as Array<{
				replicas: string[];
			}>;
			expect(shards.map(s => s.replicas.length)).toEqual([1, 1]);
		});

		it('corrupted and truncated archives are refused', async () => {
			const whole = readFileSync(path.join(work, 'ours.tar.gz'));
			const corrupted = Buffer.from(whole);
			corrupted[Math.floor(whole.length / 2)]! ^= 0x5a;
			writeFileSync(path.join(work, 'corrupted.tar.gz'), corrupted);
			writeFileSync(path.join(work, 'truncated.tar.gz'), whole.subarray(0, Math.floor(whole.length * 0.7)));
			for (const name of ['corrupted.tar.gz', 'truncated.tar.gz']) {
				await expect(readArchive(path.join(work, name), {spoolDir: work})).rejects.toThrow(ArchiveError);
			}
		});
	},
);

describeWithEngine('swarmbee backup and restore on a real cluster, over SSH only', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-bk');
	const work = mkdtempSync(path.join(tmpdir(), 'bk-e2e-cli-'));
	const archive = path.join(work, 'app.tar.gz');
	let link: DatabaseSession;
	let session: ClusterSession | undefined;
	let rows: unknown[];
	const io = {stdout: process.stdout, stderr: process.stderr, interactive: false, env: {SWARMBEE_HOME: home}};

	beforeAll(async () => {
		const image = (await ensureRethinkdbImage(new DockerCli())).tag;
		const up = await cli(['up', name, '--workers', '1', '--rethinkdb-image', image, '--yes', '--plain'], home);
		expect(up.exitCode, up.stderr).toBe(0);
		session = await openCluster(name, io, {needs: ['database']});
		link = await session.database();
		await seed(link.connection);
		// A table large enough that a backup is still reading it when Ctrl-C comes.
		await r.db('app').tableCreate('big').run(link.connection);
		const blob = 'x'.repeat(4_000);
		for (let start = 0; start < 6_000; start += 500) {
			await r
				.db('app')
				.table('big')
				.insert(Array.from({length: 500}, (_, k) => ({id: start + k, blob})))
				.run(link.connection);
		}
		rows = await snapshot(link.connection);
	});

	afterAll(async () => {
		await link?.close();
		await session?.close();
		await cli(['down', name, '--yes'], home);
		purge(name);
		remove();
		rmSync(work, {recursive: true, force: true});
	});

	it('backup writes the archive, with progress per table in --plain', async () => {
		const result = await cli(['backup', name, '--out', archive, '--tables', 'app.orders', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		expect(result.stdout).toContain(`✔ app.orders: ${ROWS.toLocaleString('en-US')} documents`);
		expect(result.stdout).toMatch(/✔ Write the archive \([^)]+\): .*app\.tar\.gz/);
		expect(readdirSync(work)).toEqual(['app.tar.gz']);
	});

	it('restore after a drop brings the 5,000 rows and the index back, with progress in --json', async () => {
		await dropOrders(link.connection);
		const result = await cli(['restore', name, archive, '--json'], home);
		expect(result.exitCode, result.stderr).toBe(0);
		const progress = events(result.stdout).filter(e => e.type === 'table-progress');
		expect(
			progress.some(
				e => e.type === 'table-progress' && e.step === 'restore' && e.state === 'done' && e.documents === ROWS,
			),
		).toBe(true);
		expect(progress.some(e => e.type === 'table-progress' && e.detail === 'writing documents')).toBe(true);
		await expectRestored(link.connection, rows);
	});

	it('restore into a table that exists is refused without --force (exit 2), and done with --force --yes', async () => {
		const refused = await cli(['restore', name, archive, '--plain'], home);
		expect(refused.exitCode).toBe(2);
		expect(refused.stderr).toContain('table app.orders already exists in the cluster');
		expect(refused.stderr).toContain('nothing was written to the cluster');
		const noYes = await cli(['restore', name, archive, '--force'], home);
		expect(noYes.exitCode).toBe(2);
		expect(noYes.stderr).toContain('pass --yes');
		const forced = await cli(['restore', name, archive, '--force', '--yes', '--plain'], home);
		expect(forced.exitCode, forced.stderr).toBe(0);
		await expectRestored(link.connection, rows);
	});

	it('corrupted and truncated archives are refused with a clear error, and nothing is written', async () => {
		await dropOrders(link.connection);
		const tablesBefore = await r.db('app').tableList().run(link.connection);
		const whole = readFileSync(archive);
		const corrupted = Buffer.from(whole);
		corrupted[Math.floor(whole.length / 3)]! ^= 0x5a;
		writeFileSync(path.join(work, 'corrupted.tar.gz'), corrupted);
		copyFileSync(archive, path.join(work, 'truncated.tar.gz'));
		truncateSync(path.join(work, 'truncated.tar.gz'), Math.floor(whole.length / 2));
		for (const [file, why] of [
			['corrupted.tar.gz', /gzip data is corrupt|gzip stream ends early/],
			['truncated.tar.gz', /gzip stream ends early \(the file is truncated/],
		] as const) {
			const result = await cli(['restore', name, path.join(work, file), '--plain'], home);
			expect(result.exitCode).toBe(2);
			expect(result.stderr).toContain(`error: ${file} cannot be restored: `);
			expect(result.stderr).toMatch(why);
			expect(result.stderr).toContain('nothing was written to the cluster');
			// Refused at the archive check, before the cluster was even asked.
			expect(result.stdout).not.toContain('Connect to RethinkDB');
		}
		expect(await r.db('app').tableList().run(link.connection)).toEqual(tablesBefore);
		rmSync(path.join(work, 'corrupted.tar.gz'));
		rmSync(path.join(work, 'truncated.tar.gz'));
	});

	it('Ctrl-C during a backup exits 130 and leaves no archive, partial or final', async () => {
		const file = path.join(work, 'interrupted.tar.gz');
		const child = spawnCli(['backup', name, '--out', file, '--tables', 'app.big', '--json'], home);
		let interrupted = false;
		let buffer = '';
		child.stdout!.on('data', (chunk: Buffer) => {
			buffer += chunk.toString();
			if (!interrupted && buffer.includes('"type":"table-progress"')) {
				interrupted = true;
				child.kill('SIGINT');
			}
		});
		const result = await child;
		expect(interrupted).toBe(true);
		expect(result.exitCode).toBe(130);
		expect(String(result.stdout)).toContain('"type":"run-cancelled"');
		expect(existsSync(file)).toBe(false);
		expect(readdirSync(work).filter(f => f.includes('interrupted'))).toEqual([]);
	});
});
