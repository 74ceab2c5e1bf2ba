import {rmSync} from 'node:fs';
import {DockerCli} from '../docker/cli.js';
import {InputError} from '../errors.js';
import {swarmbeeHome} from '../paths.js';
import {createProvider} from '../providers/index.js';
import {resolveSpec} from '../spec.js';
import {readPublicKey} from '../ssh/keys.js';
import {ClusterStore} from '../store/cluster-store.js';
import {confirmOrStop, handleInterrupts, oneName, type CommandArgs, type CommandIO} from './io.js';

export async function run({values, positionals}: CommandArgs, io: CommandIO): Promise<number> {
	return downCommand({name: oneName('down', positionals), yes: Boolean(values.yes), force: Boolean(values.force), forget: Boolean(values.forget), json: Boolean(values.json)}, io);
}

export interface DownOptions {
	name: string;
	yes: boolean;
	/** Also remove resources of this name that another swarmbee state made. */
	force: boolean;
	/** Also delete the saved configuration and keys. */
	forget: boolean;
	json: boolean;
	/** A DigitalOcean token handed over in-process; see UpOptions.token. */
	token?: string;
}

/**
 * Removes every machine, network and volume carrying the cluster's label,
 * then lists by label again to prove nothing is left. The saved spec stays
 * (so `up` can rebuild the same cluster) unless --forget.
 */
export async function downCommand(options: DownOptions, io: CommandIO): Promise<number> {
	const store = new ClusterStore(swarmbeeHome(io.env));
	const journal = store.loadJournal(options.name);
	const spec = store.loadSpec(options.name) ?? (options.force ? resolveSpec({name: options.name}) : undefined);
	if (!spec || (!journal && !options.force)) {
		throw new InputError(`there is no cluster named ${options.name} in ${store.home}`, {
			nextSteps: ['swarmbee ls lists the clusters swarmbee knows', `to remove resources labelled swarmbee.cluster=${options.name} that another state made: swarmbee down ${options.name} --force`],
		});
	}
	const nodes = journal?.nodes.filter(n => n.state !== 'planned').length ?? 0;
	await confirmOrStop(io, {
		yes: options.yes,
		what: `removing cluster ${options.name}`,
		command: `swarmbee down ${options.name}`,
		message: `Remove ${options.name} and its ${nodes} node${nodes === 1 ? '' : 's'}? Data on them is lost.`,
		defaultAnswer: false,
		declined: 'nothing was removed.',
	});
	const release = store.lock(options.name, `down ${options.name}`);
	const controller = new AbortController();
	const stopInterrupts = handleInterrupts(controller, io);
	try {
		if (journal) store.openJournal(spec).update(j => {
			j.state = 'destroying';
		});
		const provider = createProvider(spec, new DockerCli(), {env: io.env, token: options.token});
		const paths = store.paths(options.name);
		// The cluster key tells which uploaded SSH key is this cluster's (clouds).
		const sshPublicKey = readPublicKey(paths.clusterKey);
		const report = await provider.destroy({spec, owner: journal?.owner ?? '', signal: controller.signal, sshPublicKey}, {includeForeign: options.force});
		if (options.forget) {
			store.forget(options.name);
		} else if (journal) {
			store.openJournal(spec).update(j => {
				j.state = report.remaining.length === 0 ? 'down' : 'failed';
				j.nodes = [];
				delete j.infra;
				delete j.swarm;
				delete j.verifiedAt;
				j.steps = {};
			});
			// Host keys belonged to machines that are gone; new nodes get new ones.
			rmSync(paths.hostKeysDir, {recursive: true, force: true});
		}
		if (options.json) {
			io.stdout.write(`${JSON.stringify({cluster: options.name, ...report})}\n`);
		} else {
			io.stdout.write(`removed ${report.removed.join(', ')} of cluster ${options.name}\n`);
			if (report.remaining.length === 0) io.stdout.write(`nothing ${report.scope} remains\n`);
			else io.stdout.write(`still there: ${report.remaining.join(', ')}\n`);
			if (report.foreign.length > 0) io.stdout.write(`left alone (made by another swarmbee state; --force removes them): ${report.foreign.join(', ')}\n`);
			if (!options.forget) io.stdout.write(`the saved configuration stays in ${paths.dir}; swarmbee up ${options.name} rebuilds it (--forget removes it)\n`);
		}
		return report.remaining.length === 0 ? 0 : 1;
	} finally {
		stopInterrupts();
		release();
	}
}
