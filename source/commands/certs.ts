import {listCertificates, tlsFiles} from '../database/tls-store.js';
import {EXPIRY_WARNING_DAYS} from '../database/tls.js';
import {InputError} from '../errors.js';
import {outputMode, type CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import {runPlan} from '../session/run.js';
import {rotateStep, type RotateContext} from '../../steps/certs-rotate.js';
import type {CommandArgs} from './args.js';

/**
 * `swarmbee certs NAME`: the cluster's CA and each database server's
 * certificate, with its serial and end (a warning under 30 days);
 * `swarmbee certs NAME rotate`: new server certificates, one server
 * restarted at a time (docs/tls.md).
 */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, action, ...rest] = positionals;
	if (!name) throw new InputError('certs needs a cluster name', {nextSteps: ['e.g. swarmbee certs demo']});
	if (rest.length > 0 || (action !== undefined && action !== 'rotate'))
		throw new InputError(`certs takes a cluster name and optionally "rotate", got: ${positionals.join(' ')}`, {
			nextSteps: [
				`list them: swarmbee certs ${name}`,
				`replace the servers' certificates: swarmbee certs ${name} rotate`,
			],
		});
	if (action === 'rotate') return rotate(name, values, io);
	const {paths} = await openCluster(name, io);
	const entries = listCertificates(tlsFiles(paths.tlsDir));
	if (values.json === true) {
		io.stdout.write(`${JSON.stringify({cluster: name, certificates: entries})}\n`);
		return 0;
	}
	if (entries.length === 0) {
		io.stdout.write(
			`${name} has no certificates: its database runs without TLS (swarmbee up ${name} --tls moves it)\n`,
		);
		return 0;
	}
	for (const entry of entries) {
		const warn = entry.daysLeft < EXPIRY_WARNING_DAYS ? '  ⚠ ends soon: swarmbee certs NAME rotate' : '';
		io.stdout.write(
			`${entry.name.padEnd(16)} serial ${entry.serial}  ends ${entry.notAfter.slice(0, 10)} (${entry.daysLeft} days)${warn}\n`,
		);
	}
	return 0;
}

async function rotate(name: string, values: CommandArgs['values'], io: CommandIO): Promise<number> {
	const session = await openCluster(name, io, {
		needs: ['database'],
		lock: `certs ${name} rotate`,
		verb: 'rotate the certificates of',
	});
	try {
		const ctx: RotateContext = {
			spec: session.spec,
			paths: session.paths,
			journal: session.journal,
			ssh: session.ssh,
			password: session.password(),
		};
		const {code} = await runPlan(
			session,
			{
				command: 'certs rotate',
				steps: [rotateStep],
				context: ctx,
				resume: `swarmbee certs ${name} rotate (servers already rotated keep their new certificates and get another)`,
				output: outputMode(values, io),
			},
			io,
		);
		return code;
	} finally {
		await session.close();
	}
}
