import {createWriteStream, mkdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {
	AnsibleProgress, cleanupDirCommand, installAnsibleCommand, playbookCommand, prepareDirCommand, rebootRequiredCommand, REMOTE_ANSIBLE_DIR,
} from '../source/cluster/ansible.js';
import {DOCKER_DAEMON_SETTINGS} from '../source/cluster/docker-daemon.js';
import {sshTarget} from '../source/cluster/targets.js';
import {cpuHeavyLimit, onEveryNode} from '../source/concurrency.js';
import {CancelledError, ExternalError, isAbort} from '../source/errors.js';
import {event, type PlayRecap} from '../source/events.js';
import {packageRoot} from '../source/paths.js';
import {redact} from '../source/redact.js';
import type {SshConnection} from '../source/ssh/connection.js';
import {waitForSsh} from '../source/ssh/pool.js';
import type {NodeRecord} from '../source/store/journal.js';
import {providerContext, type ClusterContext, type Step, type StepIO} from './types.js';

/** One playbook to run: ours, then the user's (--playbook). */
interface Playbook {
	/** Shown in messages: `swarmbee` or the user's file name. */
	name: string;
	/** File name on the node. */
	remote: string;
	contents: string;
}

export function playbooksFor(ctx: Pick<ClusterContext, 'spec'>): Playbook[] {
	const ours: Playbook = {name: 'swarmbee', remote: 'playbook.yml', contents: readFileSync(path.join(packageRoot(), 'ansible', 'playbook.yml'), 'utf8')};
	if (!ctx.spec.playbook) return [ours];
	const base = path.basename(ctx.spec.playbook);
	return [ours, {name: base, remote: `user-${base.replace(/[^A-Za-z0-9._-]/g, '_')}`, contents: readFileSync(ctx.spec.playbook, 'utf8')}];
}

/**
 * Every node provisions itself, all at once: Ansible is installed on the
 * node, the playbook uploaded over SFTP and run against localhost, each
 * output line streamed as an event and kept in the node's log. A node whose
 * playbook fails does not stop the others; the step then names it, the
 * task that failed, and the log.
 */
export const provisionStep: Step = {
	id: 'provision',
	title: 'Provision (Ansible)',
	async run(ctx, io) {
		const {journal, spec} = ctx;
		const playbooks = playbooksFor(ctx);
		const vars = JSON.stringify({swarmbee_ssh_from: spec.sshFrom, swarmbee_private_cidr: journal.value.infra!.privateCidr, swarmbee_docker_settings: DOCKER_DAEMON_SETTINGS});
		// When scale adds nodes, the ones already provisioned are left alone.
		const nodes = ctx.options.provisionNewOnly ? journal.value.nodes.filter(n => !n.provision?.ok) : journal.value.nodes;
		if (nodes.length === 0) return {changed: false, summary: 'every node already provisioned'};
		const limit = cpuHeavyLimit(ctx.provider.capabilities.sharesHostCpus);
		for (const node of nodes.slice(limit)) {
			io.emit(event({type: 'node-state', node: node.name, state: 'provisioning', detail: `waiting for a free core (local nodes share this machine's ${limit})`}));
		}
		const results = await onEveryNode('provisioning', nodes, node => provisionNode(ctx, io, node, playbooks, vars), {signal: io.signal, limit});
		const changed = results.reduce((sum, r) => sum + r.changed, 0);
		const rebooted = results.filter(r => r.rebooted).length;
		return {
			changed: changed > 0 || rebooted > 0,
			summary: `${results.length} nodes provisioned (changed=${changed}${rebooted > 0 ? `, ${rebooted} rebooted` : ''})`,
		};
	},
};

async function provisionNode(ctx: ClusterContext, io: StepIO, node: NodeRecord, playbooks: Playbook[], vars: string): Promise<{changed: number; rebooted: boolean}> {
	const {signal, emit} = io;
	const logFile = path.join(ctx.paths.logsDir, node.name, 'provision.log');
	mkdirSync(path.dirname(logFile), {recursive: true, mode: 0o700});
	const log = createWriteStream(logFile, {mode: 0o600});
	emit(event({type: 'node-state', node: node.name, state: 'provisioning'}));
	emit(event({type: 'node-log', node: node.name, step: 'provision', file: logFile}));
	const write = (line: string, stream: 'stdout' | 'stderr' = 'stdout') => {
		const clean = redact(line);
		log.write(`${clean}\n`);
		emit(event({type: 'node-output', node: node.name, step: 'provision', stream, line: clean}));
	};
	// Every playbook's PLAY RECAP, a failed one's too: the pane and the journal show what happened.
	const recaps: Array<{playbook: string; recap: PlayRecap}> = [];
	const onRecap = (playbook: Playbook, recap: PlayRecap) => {
		recaps.push({playbook: playbook.name, recap});
		emit(event({type: 'node-recap', node: node.name, step: 'provision', playbook: playbook.name, recap}));
	};
	try {
		const connection = await ctx.ssh.get(node.name, signal);
		write('# installing Ansible on the node (Debian package ansible-core)');
		const install = await connection.exec(installAnsibleCommand, {signal, onStdout: write, onStderr: line => write(line, 'stderr'), capture: false});
		if (install.code !== 0) {
			throw new ExternalError(`installing Ansible on ${node.name} failed (exit ${install.code})`, {
				node: node.name,
				logFile,
				hint: 'apt-get could not install ansible-core: the node needs to reach its Debian mirror.',
				nextSteps: ['read the log, fix the node\'s network or mirror, then run swarmbee up again'],
			});
		}
		await connection.run(prepareDirCommand, {signal});
		await connection.upload(`${REMOTE_ANSIBLE_DIR}/vars.json`, vars, 0o600);
		let changed = 0;
		try {
			for (const playbook of playbooks) {
				await connection.upload(`${REMOTE_ANSIBLE_DIR}/${playbook.remote}`, playbook.contents, 0o600);
				const recap = await runPlaybook(connection, node, playbook, {signal, write, logFile, onRecap});
				changed += recap.changed;
			}
		} finally {
			await connection.exec(cleanupDirCommand).catch(() => {});
		}
		const rebooted = await rebootIfAsked(ctx, io, node, connection, write);
		ctx.journal.update(j => {
			const record = j.nodes.find(n => n.name === node.name)!;
			record.provision = {at: new Date().toISOString(), ok: true, logFile, recaps, ...(rebooted ? {rebootedAt: new Date().toISOString()} : {})};
		});
		emit(event({type: 'node-state', node: node.name, state: 'running', detail: `provisioned (changed=${changed})`}));
		return {changed, rebooted};
	} catch (error) {
		if (!isAbort(error, signal)) {
			const message = (error as Error).message;
			write(`# swarmbee: ${message}`, 'stderr');
			ctx.journal.update(j => {
				const record = j.nodes.find(n => n.name === node.name)!;
				record.provision = {at: new Date().toISOString(), ok: false, logFile, recaps, error: message};
			});
			emit(event({type: 'node-state', node: node.name, state: 'failed', detail: message}));
		}
		throw error;
	} finally {
		await new Promise<void>(resolve => log.end(resolve));
	}
}

async function runPlaybook(
	connection: SshConnection,
	node: NodeRecord,
	playbook: Playbook,
	options: {signal: AbortSignal; write: (line: string, stream?: 'stdout' | 'stderr') => void; logFile: string; onRecap: (playbook: Playbook, recap: PlayRecap) => void},
): Promise<PlayRecap> {
	const progress = new AnsibleProgress();
	options.write(`# playbook ${playbook.name}`);
	const result = await connection.exec(playbookCommand(playbook.remote, 'vars.json'), {
		signal: options.signal,
		capture: false,
		onStdout: line => {
			progress.push(line);
			options.write(line);
		},
		onStderr: line => {
			progress.push(line);
			options.write(line, 'stderr');
		},
	});
	if (progress.recap) options.onRecap(playbook, progress.recap);
	if (result.code === 0 && progress.recap && progress.recap.failed === 0 && progress.recap.unreachable === 0) return progress.recap;
	const where = progress.failure ? ` at task "${progress.failure.task}"` : '';
	throw new ExternalError(`playbook ${playbook.name} failed on ${node.name}${where}`, {
		node: node.name,
		logFile: options.logFile,
		hint: progress.failure?.message ?? `ansible-playbook exited ${result.code}`,
		nextSteps: ['fix the cause, then run swarmbee up again: nodes that finished are left as they are'],
	});
}

/** A playbook asked for a reboot (Debian's /var/run/reboot-required): reboot through the provider, wait for SSH. */
async function rebootIfAsked(ctx: ClusterContext, io: StepIO, node: NodeRecord, connection: SshConnection, write: (line: string) => void): Promise<boolean> {
	const asked = (await connection.run(rebootRequiredCommand, {signal: io.signal})).trim() === 'yes';
	if (!asked) return false;
	write('# a reboot was asked for: rebooting the node through its provider');
	io.emit(event({type: 'node-state', node: node.name, state: 'booting', detail: 'rebooting (asked by the playbook)'}));
	ctx.ssh.drop(node.name);
	const machine = (await ctx.provider.listMachines(providerContext(ctx, io))).find(m => m.name === node.name);
	if (!machine) throw new ExternalError(`${node.name} disappeared before its reboot`, {node: node.name});
	await ctx.provider.rebootMachine(providerContext(ctx, io), machine);
	if (io.signal.aborted) throw new CancelledError();
	const fresh = await waitForSsh(sshTarget(ctx.journal.value, node.name, ctx.clusterKey!.privateKey), {signal: io.signal, timeoutMs: 300_000, mismatchIsFatal: true});
	ctx.ssh.adopt(node.name, fresh);
	const still = (await fresh.run(rebootRequiredCommand, {signal: io.signal})).trim() === 'yes';
	write(still ? '# still asking for a reboot after one: leaving it to you' : '# back after the reboot');
	return true;
}

