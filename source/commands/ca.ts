import {existsSync, readFileSync} from 'node:fs';
import {tlsFiles} from '../database/tls-store.js';
import {InputError} from '../errors.js';
import type {CommandIO} from '../session/io.js';
import {openCluster} from '../session/open.js';
import type {CommandArgs} from './args.js';

/** `swarmbee ca NAME`: the cluster's CA certificate (PEM, public), what a client verifies the servers with; `--path`: its file. */
export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	const [name, ...rest] = positionals;
	if (!name || rest.length > 0)
		throw new InputError('ca takes one cluster name', {nextSteps: ['e.g. swarmbee ca demo']});
	const {paths} = await openCluster(name, io);
	const file = tlsFiles(paths.tlsDir).caCert;
	if (!existsSync(file))
		throw new InputError(`${name} has no CA: its database runs without TLS`, {
			nextSteps: [`move it to TLS: swarmbee up ${name} --tls (one restart of every server)`],
		});
	io.stdout.write(values.path === true ? `${file}\n` : readFileSync(file, 'utf8'));
	return 0;
}
