/**
 * The ceilings bench/backup compares swarmbee against, each run as its own
 * process (timed and measured the same way as the tools):
 *
 *     node dist/bench/backup-ceiling.js read-forward NAME
 *         a plain cursor over bench.t (primary-key order, raw times, read_mode majority, as a backup
 *         reads), through swarmbee's own SSH forward from this machine, rows thrown away
 *     node dist/bench/backup-ceiling.js read-direct HOST PASSWORD_FILE
 *         the same read from inside the cluster (run in the node's network namespace: no SSH)
 *     node dist/bench/backup-ceiling.js insert-forward NAME ARCHIVE
 *         a plain batched insert of the archive's bench.t documents into bench.t (created
 *         empty, one secondary index made after), 1,000 documents a batch, one batch at a time,
 *         durability soft then a sync, through swarmbee's SSH forward
 *
 * Prints one JSON line: {documents, bytes}.
 */
import {readFileSync} from 'node:fs';
import {readArchive, replayArchive} from '../source/backup/archive-reader.js';
import {RAW_FORMATS, rql} from '../source/backup/reql.js';
import {connectDriver, type DatabaseSession, sessionOver} from '../source/database/rethinkdb.js';
import {openCluster} from '../source/session/open.js';

const [mode, ...args] = process.argv.slice(2);
const io = {stdout: process.stdout, stderr: process.stderr, interactive: false, env: process.env};

async function overSsh(name: string): Promise<{link: DatabaseSession; close: () => Promise<void>}> {
	const session = await openCluster(name, io, {needs: ['database']});
	const link = await session.database();
	return {link, close: () => session.close()};
}

async function read(link: DatabaseSession): Promise<{documents: number}> {
	const cursor = await rql
		.db('bench')
		.table('t', {readMode: 'majority'})
		.orderBy({index: 'id'})
		.run(link.connection, RAW_FORMATS);
	let documents = 0;
	for (;;) {
		try {
			await cursor.next();
			documents++;
		} catch (error) {
			if ((error as Error).message === 'No more rows in the cursor.') break;
			throw error;
		}
	}
	return {documents};
}

async function insert(link: DatabaseSession, archive: string): Promise<{documents: number}> {
	const manifest = await readArchive(archive);
	const table = manifest.tables.find(t => t.db === 'bench' && t.table === 't');
	if (!table) throw new Error(`${archive} holds no bench.t`);
	await rql.db('bench').tableCreate('t').run(link.connection);
	let batch: unknown[] = [];
	let documents = 0;
	const send = async () => {
		if (batch.length === 0) return;
		const result = await rql.db('bench').table('t').insert(batch, {durability: 'soft'}).run(link.connection);
		if (result.inserted !== batch.length) throw new Error(`inserted ${result.inserted} of ${batch.length}`);
		documents += batch.length;
		batch = [];
	};
	await replayArchive(
		{...manifest, tables: [table]},
		{
			onTableStart: async () => {},
			onDocuments: async (_table, texts) => {
				for (const text of texts) {
					batch.push(JSON.parse(text.toString('utf8')));
					if (batch.length >= 1_000) await send();
				}
			},
		},
	);
	await send();
	await rql.db('bench').table('t').sync().run(link.connection);
	for (const index of table.info.indexes)
		await rql
			.db('bench')
			.table('t')
			.indexCreate(index.index, rql.binary(Buffer.from(index.function.data, 'base64')))
			.run(link.connection);
	await rql.db('bench').table('t').indexWait().run(link.connection);
	return {documents};
}

let result: {documents: number};
if (mode === 'read-forward') {
	const {link, close} = await overSsh(args[0]!);
	result = await read(link);
	await close();
} else if (mode === 'read-direct') {
	const password = readFileSync(args[1]!, 'utf8').trim();
	const link = await sessionOver(args[0]!, () => connectDriver({host: args[0]!, port: 28015, password}));
	result = await read(link);
	await link.close();
} else if (mode === 'insert-forward') {
	const {link, close} = await overSsh(args[0]!);
	result = await insert(link, args[1]!);
	await close();
} else {
	process.stderr.write(
		'usage: backup-ceiling read-forward NAME | read-direct HOST PASSWORD_FILE | insert-forward NAME ARCHIVE\n',
	);
	process.exit(2);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
