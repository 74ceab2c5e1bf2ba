import {execFileSync} from 'node:child_process';
import {
	copyFileSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	readdirSync,
	readFileSync,
	rmSync,
	statSync,
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
import {backupTables, listTables, verifyArchive} from '../../source/backup/dump.js';
import {ArchiveError} from '../../source/backup/errors.js';
import {JSON_ARRAY, topFolderName} from '../../source/backup/format.js';
import {rql as r} from '../../source/backup/reql.js';
import {
	checkFunctionsOnServer,
	checkTarget,
	readTarget,
	restoreArchive,
	SCRATCH_DATABASE,
} from '../../source/backup/restore.js';
import {openCluster} from '../../source/session/open.js';
import type {ClusterSession} from '../../source/session/session.js';
import {DockerCli} from '../../source/docker/cli.js';
import {ensureRethinkdbImage, findRethinkdbSource} from '../../source/docker/rethinkdb-image.js';
import {InputError} from '../../source/errors.js';
import {clusterPassword, connectThrough, openTunnel} from './database.js';
import {CLI, cli, describeWithEngine, events, newHome, purge, spawnCli, uniqueName} from './helpers.js';
import {describeWrites, startWriter, verifyWrites} from './live-writer.js';

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
	const manifest = await readArchive(file);
	const target = await readTarget(link);
	const existing = checkTarget(manifest.tables, target, force);
	await checkFunctionsOnServer(link, manifest.tables);
	await restoreArchive(link, manifest, {existing, force, target});
}

async function backupWithLibrary(link: DatabaseSession, file: string): Promise<void> {
	const writer = await ArchiveWriter.create(file, topFolderName(new Date()));
	try {
		const dumped = await backupTables({link, tables: await listTables(link), writer});
		await writer.close();
		await verifyArchive(writer.partial, dumped);
		await writer.commit();
	} catch (error) {
		await writer.abort();
		throw error;
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
			const manifest = await readArchive(path.join(work, 'ours.tar.gz'));
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
			const writer = await ArchiveWriter.create(file, topFolderName(new Date()));
			const entry = await writer.beginTable({db: 'app', table: 'orders'}, info);
			await entry.write(readFileSync(json, 'utf8'));
			await entry.end();
			await writer.close();
			await writer.commit();
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
				await expect(readArchive(path.join(work, name))).rejects.toThrow(ArchiveError);
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
		expect(result.stdout).toMatch(
			/✔ Write and check the archive \([^)]+\): .*app\.tar\.gz .*read back: 5,000 documents, every table complete/,
		);
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
			// Refused at the archive check, before the cluster was even asked (the plan's first line names every step).
			expect(result.stdout).toMatch(/^✖ Check the archive/m);
			expect(result.stdout).not.toMatch(/^[▸✔✖] Connect to RethinkDB/m);
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

	/** app.orders as the archive has it (the tests before may have dropped it). */
	async function ordersBack(): Promise<void> {
		if ((await r.db('app').tableList().run(link.connection)).includes('orders')) return;
		const result = await cli(['restore', name, archive, '--plain'], home);
		expect(result.exitCode, result.stderr).toBe(0);
	}

	/** A tmpfs of `size` bytes at a new folder, filled until `free` bytes are left (root only, as CI is). */
	function smallDisk(name: string, size: number, free: number) {
		const dir = path.join(work, name);
		mkdirSync(dir);
		execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
		const filler = path.join(dir, 'filler');
		try {
			execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=4096'], {stdio: 'ignore'});
		} catch {
			// dd stops at ENOSPC: the disk is full.
		}
		if (free > 0) truncateSync(filler, Math.max(0, statSync(filler).size - free));
		return {
			dir,
			unmount: () => {
				execFileSync('umount', [dir]);
				rmSync(dir, {recursive: true, force: true});
			},
		};
	}

	it('backup into a full output folder exits 1, says where and how much space, and leaves no archive at all', async () => {
		await ordersBack();
		const disk = smallDisk('full-out', 256 * 1024, 24 * 1024);
		try {
			const file = path.join(disk.dir, 'orders.tar.gz');
			const result = await cli(['backup', name, '--out', file, '--tables', 'app.orders', '--plain'], home);
			expect(result.exitCode, result.stdout).toBe(1);
			expect(result.stderr).toContain(`the disk holding ${disk.dir} is full: the backup stopped and kept nothing`);
			expect(result.stderr).toMatch(/it needs about [\d.]+ [kKM]B more free in /);
			expect(result.stderr).not.toMatch(/\n\s+at .*\(/);
			expect(result.stdout).not.toMatch(/✔ Write and check the archive/);
			expect(result.stdout).not.toContain('every step finished');
			expect(readdirSync(disk.dir)).toEqual(['filler']);
		} finally {
			disk.unmount();
		}
	});

	it('backup and restore with a full TMPDIR: nothing is spooled, the archive reads back whole and restores', async () => {
		await ordersBack();
		const disk = smallDisk('full-tmp', 64 * 1024, 0);
		try {
			const file = path.join(work, 'tmp-full.tar.gz');
			const env = {TMPDIR: disk.dir};
			const backup = await cli(['backup', name, '--out', file, '--tables', 'app.orders', '--plain'], home, env);
			expect(backup.exitCode, backup.stderr).toBe(0);
			expect(backup.stdout).toContain('read back: 5,000 documents, every table complete');
			expect((await readArchive(file)).tables.map(t => [t.table, t.documents])).toEqual([['orders', ROWS]]);
			await dropOrders(link.connection);
			const restore = await cli(['restore', name, file, '--plain'], home, env);
			expect(restore.exitCode, restore.stderr).toBe(0);
			await expectRestored(link.connection, rows);
			expect(readdirSync(disk.dir)).toEqual(['filler']);
			rmSync(file);
		} finally {
			disk.unmount();
		}
	});

	it('kill -9 of a backup leaves a partial file that the next backup removes; a killed restore leaves nothing', async () => {
		await ordersBack();
		const tmp = mkdtempSync(path.join(tmpdir(), 'bk-e2e-tmp-'));
		const file = path.join(work, 'killed.tar.gz');
		const child = spawnCli(['backup', name, '--out', file, '--tables', 'app.big', '--json'], home, {TMPDIR: tmp});
		await new Promise<void>(resolve => {
			let buffer = '';
			child.stdout!.on('data', (chunk: Buffer) => {
				buffer += chunk.toString();
				if (buffer.includes('"type":"table-progress"')) resolve();
			});
		});
		child.kill('SIGKILL');
		await child;
		const left = readdirSync(work).filter(f => f.endsWith('.partial'));
		expect(left).toEqual([`.killed.tar.gz.${child.pid}.partial`]);
		const next = await cli(
			['backup', name, '--out', path.join(work, 'after.tar.gz'), '--tables', 'app.orders', '--plain'],
			home,
			{TMPDIR: tmp},
		);
		expect(next.exitCode, next.stderr).toBe(0);
		expect(next.stdout).toContain(`removed ${path.join(work, left[0]!)}, left by a backup that was killed`);
		expect(readdirSync(work).filter(f => f.endsWith('.partial'))).toEqual([]);

		const restore = spawnCli(['restore', name, path.join(work, 'after.tar.gz'), '--force', '--yes', '--json'], home, {
			TMPDIR: tmp,
		});
		await new Promise<void>(resolve => {
			let buffer = '';
			restore.stdout!.on('data', (chunk: Buffer) => {
				buffer += chunk.toString();
				if (buffer.includes('"step":"restore"')) resolve();
			});
		});
		restore.kill('SIGKILL');
		await restore;
		// Nothing was spooled: TMPDIR is as it was, and the run after it restores as usual.
		expect(readdirSync(tmp)).toEqual([]);
		const again = await cli(['restore', name, path.join(work, 'after.tar.gz'), '--force', '--yes', '--plain'], home);
		expect(again.exitCode, again.stderr).toBe(0);
		await expectRestored(link.connection, rows);
		rmSync(path.join(work, 'after.tar.gz'));
		rmSync(tmp, {recursive: true, force: true});
	});

	it('restore --force into a live table says how many rows it overwrites, while an application writes: 0 writes lost', async () => {
		await ordersBack();
		const file = path.join(work, 'live.tar.gz');
		const backup = await cli(['backup', name, '--out', file, '--tables', 'app.orders', '--plain', '--no-verify'], home);
		expect(backup.exitCode, backup.stderr).toBe(0);
		expect(backup.stdout).toContain('not read back (--no-verify)');
		// The application moves on: 244 acknowledged updates and 100 new rows.
		await r.db('app').table('orders').between(0, 244).update({customer: 'moved on'}).run(link.connection);
		await r
			.db('app')
			.table('orders')
			.insert(Array.from({length: 100}, (_, k) => orderRow(ROWS + k)))
			.run(link.connection);
		await r.dbCreate('live').run(link.connection);
		for (const t of ['w1', 'w2']) await r.db('live').tableCreate(t).run(link.connection);
		const tunnel = await openTunnel(name, home);
		const password = clusterPassword(home, name);
		const connect = () => connectThrough(tunnel, password);
		const writer = startWriter({connect, db: 'live', tables: ['w1', 'w2']});
		try {
			await writer.advance(20);
			const result = await cli(['restore', name, file, '--force', '--yes', '--plain'], home);
			await writer.advance(20);
			const report = await writer.stop();
			expect(result.exitCode, result.stderr).toBe(0);
			expect(result.stdout).toContain(
				`app.orders has 5,100 rows: 5,000 of the archive's 5,000 keys are there; 244 of those rows differ and --force puts them back to the archive's version (rows not in the archive stay)`,
			);
			expect(result.stdout).toMatch(
				/✔ Count the rows --force overwrites .*5,000 of the archive's rows exist in the cluster; 244 of them differ/,
			);
			const check = await verifyWrites(connect, report);
			expect(check.lost, describeWrites(report)).toEqual([]);
			expect(check.acked).toBeGreaterThan(40);
			expect(await r.db('app').table('orders').filter({customer: 'moved on'}).count().run(link.connection)).toBe(0);
			expect(await r.db('app').table('orders').count().run(link.connection)).toBe(ROWS + 100);
		} finally {
			await writer.stop().catch(() => {});
			await tunnel.close();
			await r.dbDrop('live').run(link.connection);
			await r.db('app').table('orders').between(ROWS, r.maxval).delete().run(link.connection);
			rmSync(file);
		}
	});

	it('backup and restore --force of the tables an application is writing into: every row acknowledged before the backup is in the archive, the restore says 0 rows differ, 0 writes lost', async () => {
		const file = path.join(work, 'during.tar.gz');
		const unpacked = mkdtempSync(path.join(tmpdir(), 'bk-e2e-during-'));
		await r.dbCreate('during').run(link.connection);
		for (const t of ['w1', 'w2']) await r.db('during').tableCreate(t).run(link.connection);
		const tunnel = await openTunnel(name, home);
		const password = clusterPassword(home, name);
		const connect = () => connectThrough(tunnel, password);
		const writer = startWriter({connect, db: 'during', tables: ['w1', 'w2']});
		try {
			await writer.advance(20);
			const before = new Map(['w1', 'w2'].map(t => [t, writer.ackedTo(t)]));
			const backup = await cli(['backup', name, '--out', file, '--tables', 'during', '--plain'], home);
			expect(backup.exitCode, backup.stderr).toBe(0);
			expect(backup.stdout).toMatch(/read back: [\d,]+ documents, every table complete/);
			// The writer is still going: each table takes more acknowledged writes after the backup.
			await writer.advance(20);

			// What the archive holds, as an outside tool reads it (GNU tar, JSON.parse).
			execFileSync('tar', ['-xzf', file, '-C', unpacked]);
			const [top] = readdirSync(unpacked);
			const inArchive = new Map(
				['w1', 'w2'].map(t => [
					t,
					new Set(
						(
							JSON.parse(readFileSync(path.join(unpacked, top!, 'during', `${t}.json`), 'utf8')) as Array<{id: number}>
						).map(d => d.id),
					),
				]),
			);

			const restore = await cli(['restore', name, file, '--force', '--yes', '--plain'], home);
			expect(restore.exitCode, restore.stderr).toBe(0);
			// The writer only inserts: the archive's rows are the rows in the table, none differs.
			for (const t of ['w1', 'w2']) {
				expect(restore.stdout).toMatch(
					new RegExp(
						`during\\.${t} has [\\d,]+ rows: ([\\d,]+) of the archive's \\1 keys are there; 0 of those rows differ`,
					),
				);
			}
			await writer.advance(20);
			const report = await writer.stop();
			for (const writes of report.tables) {
				const archived = inArchive.get(writes.table)!;
				// Rows acknowledged before the backup began are all in it; every archived row was acknowledged or in flight.
				const missing = writes.acked.slice(0, before.get(writes.table)!).filter(id => !archived.has(id));
				expect(missing, `${writes.table}: acknowledged before the backup, not in it`).toEqual([]);
				expect(Math.max(...archived)).toBeLessThan(Math.max(...writes.acked));
				expect(writes.acked.length).toBeGreaterThan(archived.size);
			}
			const check = await verifyWrites(connect, report);
			expect(check.lost, describeWrites(report)).toEqual([]);
			process.stderr.write(
				`backup + restore --force under the writer: ${check.acked} writes acknowledged, ${check.lost.length} lost; archive held ${[...inArchive.values()].map(s => s.size).join(' + ')} rows\n`,
			);
		} finally {
			await writer.stop().catch(() => {});
			await tunnel.close();
			await r.dbDrop('during').run(link.connection);
			rmSync(unpacked, {recursive: true, force: true});
			rmSync(file, {force: true});
		}
	});

	it('an archive of 150 KB holding a 150 MB document is refused before anything is created (peak RSS recorded)', async () => {
		const file = path.join(work, 'bomb.tar.gz');
		const writer = await ArchiveWriter.create(file, topFolderName(new Date()));
		const info = {db: {name: 'bomb'}, name: 'big', primary_key: 'id', indexes: []};
		const entry = await writer.beginTable({db: 'bomb', table: 'big'}, info);
		await entry.write('[{"id": 1, "blob": "');
		const block = 'a'.repeat(1024 * 1024);
		for (let i = 0; i < 150; i++) await entry.write(block);
		await entry.write('"}]');
		await entry.end();
		await writer.close();
		await writer.commit();
		expect(statSync(file).size).toBeLessThan(1024 * 1024);
		const timed = await execa(
			'/usr/bin/time',
			['-f', 'peak-rss-kb %M', 'node', CLI, 'restore', name, file, '--plain'],
			{
				reject: false,
				env: {SWARMBEE_HOME: home},
				stdin: 'ignore',
			},
		);
		const stderr = String(timed.stderr);
		expect(timed.exitCode, stderr).toBe(2);
		expect(stderr).toMatch(
			/bomb.tar.gz cannot be restored: bomb\/big.json is not a complete JSON array of documents: document 1 is larger than one RethinkDB query can carry/,
		);
		expect(stderr).toContain('nothing was written to the cluster');
		const peakKb = Number(/peak-rss-kb (\d+)/.exec(stderr)?.[1]);
		process.stderr.write(`restore of the 150 MB document: refused, peak RSS ${(peakKb / 1024).toFixed(0)} MB\n`);
		expect(peakKb).toBeLessThan(300 * 1024);
		expect(await r.dbList().run(link.connection)).not.toContain('bomb');
		rmSync(file);
	});

	it('an index function forged with the right prefix is refused by the server check, before anything is created', async () => {
		const file = path.join(work, 'forged.tar.gz');
		const manifest = await readArchive(archive);
		const orders = manifest.tables[0]!;
		const forged = Buffer.concat([Buffer.from('$reql_index_function$'), Buffer.from('not a function at all')]);
		const info = {
			...orders.info,
			indexes: [{index: 'customer', function: {$reql_type$: 'BINARY' as const, data: forged.toString('base64')}}],
		};
		const writer = await ArchiveWriter.create(file, topFolderName(new Date()));
		const entry = await writer.beginTable({db: 'forged', table: 'orders'}, info);
		await entry.write('[{"id": 1}]');
		await entry.end();
		await writer.close();
		await writer.commit();
		const result = await cli(['restore', name, file, '--plain'], home);
		expect(result.exitCode, result.stdout).toBe(2);
		expect(result.stderr).toMatch(
			/forged.orders's index customer in the archive is not a function this server accepts: /,
		);
		expect(result.stderr).toContain('nothing was written to the cluster');
		const dbs = await r.dbList().run(link.connection);
		expect(dbs).not.toContain('forged');
		expect(dbs).not.toContain(SCRATCH_DATABASE);
		rmSync(file);
	});
});
