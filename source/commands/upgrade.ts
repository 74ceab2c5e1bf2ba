import {checkAnswer} from '../spec-fields.js';
import {InputError} from '../errors.js';
import {outputMode, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {upgradeSteps} from '../../steps/rolling-changes.js';
import type {CommandArgs} from './args.js';
import {rollingOrder} from '../nodes/restart.js';
import {liveNodes} from '../store/journal.js';

/**
 * `swarmbee upgrade NAME --rethinkdb-image IMAGE [--dry-run]`: every
 * database server moved to the image one at a time (steps/upgrade.ts),
 * workers first, the managers last, each back with every table ready
 * before the next. Refused before anything changes when the image is not
 * RethinkDB of the same minor version, or when a table would lose its
 * majority. Cut off, the same command goes on from the next server.
 */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, ...extra] = positionals;
	if (!name)
		throw new InputError('upgrade needs the cluster name', {
			nextSteps: ['e.g. swarmbee upgrade demo --rethinkdb-image rethinkdb:2.4.4-bookworm-slim'],
		});
	if (extra.length > 0) throw new InputError(`upgrade takes one cluster name, not ${positionals.join(' ')}`);
	const image = typeof values['rethinkdb-image'] === 'string' ? values['rethinkdb-image'] : undefined;
	if (!image)
		throw new InputError('upgrade needs what to upgrade to', {
			hint: 'the Debian packages and Docker on the nodes are not upgraded by swarmbee yet (see docs/day-two.md)',
			nextSteps: [`swarmbee upgrade ${name} --rethinkdb-image IMAGE (a RethinkDB 2.4.x image)`],
		});
	const verdict = checkAnswer('rethinkdbImage', image, 'local');
	if (verdict !== true) throw new InputError(`--rethinkdb-image: ${verdict}`);
	const dryRun = Boolean(values['dry-run']);
	const allowUnavailable = Boolean(values['allow-unavailable']);
	const session = await openCluster(name, io, {
		needs: ['provider', 'ssh', 'database'],
		lock: `upgrade ${name}`,
		verb: 'upgrade',
	});
	try {
		const nodes = rollingOrder(liveNodes(session.journal.value));
		const command = [
			`swarmbee upgrade ${name} --rethinkdb-image ${image}`,
			...(allowUnavailable ? ['--allow-unavailable'] : []),
		].join(' ');
		const result = await runPlan(
			session,
			{
				command: 'upgrade',
				steps: upgradeSteps({image, nodes, command, allowUnavailable, dryRun}),
				resume: command,
				output: outputMode(values, io),
				verbose: Boolean(values.verbose),
				...(dryRun ? {} : {cluster: {done: 'ready'}}),
			},
			io,
		);
		// Every server runs it: later runs (a scale, a repair) deploy it too.
		if (result.code === 0 && !dryRun && session.journal.value.database?.image === image)
			session.store.saveSpec({...session.spec, rethinkdbImage: image});
		return result.code;
	} finally {
		await session.close();
	}
}
