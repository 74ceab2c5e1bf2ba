import {createWriteStream, readFileSync} from 'node:fs';
import path from 'node:path';
import {
	AnsibleProgress,
	cleanupDirCommand,
	installAnsibleCommand,
	playbookCommand,
	prepareDirCommand,
	rebootRequiredCommand,
	REMOTE_ANSIBLE_DIR,
} from '../source/nodes/ansible.js';
import {DOCKER_DAEMON_SETTINGS} from '../source/nodes/docker-daemon.js';
import {sshdConfig} from '../source/nodes/sshd.js';
import {
	APPLIED_FILE,
	digest,
	dockerUserRules,
	parseProvisionedCheck,
	provisionDrift,
	provisionedCheckCommand,
	ufwRules,
	ufwSnapshotCommand,
	type AppliedRecord,
} from '../source/nodes/provisioned.js';
import {cpuHeavyLimit, onEveryNode} from '../source/concurrency.js';
import {CancelledError, defined, ExternalError, isAbort} from '../source/errors.js';
import type {NodeEvents, PlayRecap} from '../source/events.js';
import {openStateLog} from '../source/files.js';
import {packageRoot, packageVersion} from '../source/paths.js';
import {redact} from '../source/redact.js';
import {shq} from '../source/shell.js';
import type {RemoteShell} from '../source/ssh/shell.js';
import {liveNodes, type NodeRecord} from '../source/store/journal.js';
import {providerContext, type ClusterContext, type Step, type StepIO} from './types.js';

type ProvisionContext = Pick<
	ClusterContext,
	'spec' | 'paths' | 'journal' | 'provider' | 'ssh' | 'clusterKey' | 'options'
>;

/** One playbook to run: ours, then the user's (--playbook). */
interface Playbook {
	/** Shown in messages: `swarmbee` or the user's file name. */
	name: string;
	/** File name on the node. */
	remote: string;
	contents: string;
	/** The user's file, for theirs. */
	source?: string;
}

function playbooksFor(ctx: Pick<ClusterContext, 'spec'>): Playbook[] {
	const ours: Playbook = {
		name: 'swarmbee',
		remote: 'playbook.yml',
		contents: readFileSync(path.join(packageRoot(), 'ansible', 'playbook.yml'), 'utf8'),
	};
	if (!ctx.spec.playbook) return [ours];
	const base = path.basename(ctx.spec.playbook);
	return [
		ours,
		{
			name: base,
			remote: `user-${base.replace(/[^A-Za-z0-9._-]/g, '_')}`,
			contents: readFileSync(ctx.spec.playbook, 'utf8'),
			source: ctx.spec.playbook,
		},
	];
}

/** What one run applies to every node: the playbooks, their variables, and the record of both. */
interface Plan {
	playbooks: Playbook[];
	vars: string;
	record: AppliedRecord;
}

function planFor(ctx: ProvisionContext): Plan {
	const playbooks = playbooksFor(ctx);
	const {privateCidr} = defined(
		ctx.journal.value.infra,
		'provisioning before the infrastructure step recorded its network',
	);
	const rules = ufwRules({sshFrom: ctx.spec.sshFrom, privateCidr});
	const dockerUser = dockerUserRules(privateCidr);
	const settings = {swarmbee_docker_settings: DOCKER_DAEMON_SETTINGS, swarmbee_sshd_config: sshdConfig()};
	return {
		playbooks,
		vars: JSON.stringify({swarmbee_ufw_rules: rules, swarmbee_docker_user_rules: dockerUser, ...settings}),
		record: {
			swarmbee: packageVersion(),
			playbooks: digest({playbooks: playbooks.map(p => [p.name, p.contents]), settings}),
			firewall: digest([...rules, ...dockerUser].join('\n')),
		},
	};
}

/**
 * Every node provisions itself: Ansible is installed on the node, the
 * playbook uploaded over SFTP and run against localhost, each output line
 * streamed as an event and kept in the node's log. A node whose playbook
 * fails does not stop the others; the step then names it, the task that
 * failed, and the log.
 *
 * A node provisioned before is first looked at (one SSH command): when it
 * was provisioned with these playbooks, settings, firewall rules and
 * swarmbee version, ufw still shows what was applied and fail2ban runs, its
 * playbook is skipped. `up --reprovision` runs it anyway.
 */
export const provisionStep: Step<ProvisionContext> = {
	id: 'provision',
	title: 'Provision (Ansible)',
	async run(ctx, io) {
		const {journal} = ctx;
		// When scale adds nodes, the ones already provisioned are left alone.
		// Nodes a scale-down is removing are not provisioned again.
		const nodes = ctx.options.provisionNewOnly
			? liveNodes(journal.value).filter(n => !n.provision?.ok)
			: liveNodes(journal.value);
		if (nodes.length === 0) return {changed: false, summary: 'every node already provisioned'};
		const plan = planFor(ctx);
		const due = ctx.options.reprovision ? nodes : await nodesToProvision(ctx, io, nodes, plan.record);
		const skipped = nodes.length - due.length;
		if (due.length === 0)
			return {
				changed: false,
				summary: `${nodes.length} nodes as provisioned (nothing changed, no drift: playbook not run)`,
			};
		const limit = cpuHeavyLimit(ctx.provider.capabilities.sharesHostCpus);
		for (const node of due.slice(limit)) {
			io.node(node.name).state('provisioning', `waiting for a free core (local nodes share this machine's ${limit})`);
		}
		const results = await onEveryNode('provisioning', due, node => provisionNode(ctx, io, node, plan), {
			signal: io.signal,
			limit,
		});
		const changed = results.reduce((sum, r) => sum + r.changed, 0);
		const rebooted = results.filter(r => r.rebooted).length;
		const extras = [
			rebooted > 0 ? `${rebooted} rebooted` : '',
			skipped > 0 ? `${skipped} as provisioned, not run` : '',
		].filter(Boolean);
		return {
			changed: changed > 0 || rebooted > 0,
			summary: `${results.length} nodes provisioned (changed=${changed}${extras.length > 0 ? `, ${extras.join(', ')}` : ''})`,
		};
	},
};

/** The nodes whose playbook must run: never provisioned, or drifted from what was applied. */
async function nodesToProvision(
	ctx: ProvisionContext,
	io: StepIO,
	nodes: readonly NodeRecord[],
	wanted: AppliedRecord,
): Promise<NodeRecord[]> {
	const verdicts = await onEveryNode(
		'looking at provisioned nodes',
		nodes,
		async node => {
			if (!node.provision?.ok) return true;
			const say = io.node(node.name);
			const shell = await ctx.ssh.get(node.name, io.signal);
			const drift = provisionDrift(
				wanted,
				parseProvisionedCheck((await shell.exec(provisionedCheckCommand, {signal: io.signal})).stdout),
			);
			if (drift.length === 0) {
				say.state('running', 'as provisioned: nothing changed, no drift (playbook not run)');
				return false;
			}
			say.state('provisioning', `provisioning again: ${drift.join('; ')}`);
			return true;
		},
		{signal: io.signal},
	);
	return nodes.filter((_, i) => verdicts[i]);
}

async function provisionNode(
	ctx: ProvisionContext,
	io: StepIO,
	node: NodeRecord,
	plan: Plan,
): Promise<{changed: number; rebooted: boolean}> {
	const {signal} = io;
	const say = io.node(node.name);
	const logFile = path.join(ctx.paths.logsDir, node.name, 'provision.log');
	// Never written through a link, or into a FIFO, left in its place.
	const log = createWriteStream('', {fd: openStateLog(logFile)});
	say.state('provisioning');
	say.log(logFile);
	const write = (line: string, stream: 'stdout' | 'stderr' = 'stdout') => {
		const clean = redact(line);
		log.write(`${clean}\n`);
		say.output(clean, stream);
	};
	// Every playbook's PLAY RECAP, a failed one's too: the pane and the journal show what happened.
	const recaps: Array<{playbook: string; recap: PlayRecap}> = [];
	const onRecap = (playbook: Playbook, recap: PlayRecap) => {
		recaps.push({playbook: playbook.name, recap});
		say.recap(playbook.name, recap);
	};
	try {
		const shell = await ctx.ssh.get(node.name, signal);
		write('# installing Ansible on the node (Debian package ansible-core)');
		const install = await shell.exec(installAnsibleCommand, {
			signal,
			onStdout: write,
			onStderr: line => write(line, 'stderr'),
			capture: false,
		});
		if (install.code !== 0) {
			throw new ExternalError(`installing Ansible on ${node.name} failed (exit ${install.code})`, {
				node: node.name,
				logFile,
				hint: 'apt-get could not install ansible-core: the node needs to reach its Debian mirror.',
				nextSteps: ["read the log, fix the node's network or mirror, then run swarmbee up again"],
			});
		}
		await shell.run(prepareDirCommand, {signal});
		await shell.upload(`${REMOTE_ANSIBLE_DIR}/vars.json`, plan.vars, 0o600);
		let changed = 0;
		try {
			for (const playbook of plan.playbooks) {
				await shell.upload(`${REMOTE_ANSIBLE_DIR}/${playbook.remote}`, playbook.contents, 0o600);
				const recap = await runPlaybook(shell, node, playbook, {signal, write, logFile, onRecap});
				changed += recap.changed;
			}
		} finally {
			await shell.exec(cleanupDirCommand).catch(() => {});
		}
		const rebooted = await rebootIfAsked(ctx, io, node, shell, write);
		// What was applied, for the next run's look (after a reboot: on the node as it came back).
		const now = await ctx.ssh.get(node.name, signal);
		await now.run(ufwSnapshotCommand, {signal});
		await now.upload(APPLIED_FILE, `${JSON.stringify(plan.record)}\n`, 0o600);
		ctx.journal.updateNode(node.name, record => {
			record.provision = {
				at: new Date().toISOString(),
				ok: true,
				logFile,
				recaps,
				...(rebooted ? {rebootedAt: new Date().toISOString()} : {}),
			};
		});
		say.state('running', `provisioned (changed=${changed})`);
		return {changed, rebooted};
	} catch (error) {
		if (!isAbort(error, signal)) {
			const message = (error as Error).message;
			write(`# swarmbee: ${message}`, 'stderr');
			ctx.journal.updateNode(node.name, record => {
				record.provision = {at: new Date().toISOString(), ok: false, logFile, recaps, error: message};
			});
			say.state('failed', message);
		}
		throw error;
	} finally {
		await new Promise<void>(resolve => log.end(resolve));
	}
}

async function runPlaybook(
	shell: RemoteShell,
	node: NodeRecord,
	playbook: Playbook,
	options: {
		signal: AbortSignal;
		write: (line: string, stream?: 'stdout' | 'stderr') => void;
		logFile: string;
		onRecap: (playbook: Playbook, recap: PlayRecap) => void;
	},
): Promise<PlayRecap> {
	const progress = new AnsibleProgress();
	options.write(`# playbook ${playbook.name}`);
	const result = await shell.exec(playbookCommand(playbook.remote, 'vars.json'), {
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
	if (result.code === 0 && progress.recap && progress.recap.failed === 0 && progress.recap.unreachable === 0)
		return progress.recap;
	const where = progress.failure ? ` at task "${progress.failure.task}"` : '';
	throw new ExternalError(`playbook ${playbook.name} failed on ${node.name}${where}`, {
		node: node.name,
		logFile: options.logFile,
		hint: progress.failure?.message ?? `ansible-playbook exited ${result.code}`,
		nextSteps: [
			playbook.source
				? `fix the cause, then run swarmbee up again with --playbook ${shq(playbook.source)}: a playbook is remembered only once a run with it succeeded`
				: 'fix the cause, then run swarmbee up again: nodes that finished are left as they are',
		],
	});
}

/** A playbook asked for a reboot (Debian's /var/run/reboot-required): reboot through the provider, wait for SSH. */
async function rebootIfAsked(
	ctx: ProvisionContext,
	io: StepIO,
	node: NodeRecord,
	shell: RemoteShell,
	write: (line: string) => void,
): Promise<boolean> {
	const asked = (await shell.run(rebootRequiredCommand, {signal: io.signal})).trim() === 'yes';
	if (!asked) return false;
	const say: NodeEvents = io.node(node.name);
	write('# a reboot was asked for: rebooting the node through its provider');
	say.state('booting', 'rebooting (asked by the playbook)');
	ctx.ssh.drop(node.name);
	const machine = (await ctx.provider.listMachines(providerContext(ctx, io))).find(m => m.name === node.name);
	if (!machine) throw new ExternalError(`${node.name} disappeared before its reboot`, {node: node.name});
	await ctx.provider.rebootMachine(providerContext(ctx, io), machine);
	if (io.signal.aborted) throw new CancelledError();
	const fresh = await ctx.ssh.waitFor(node.name, {signal: io.signal, timeoutMs: 300_000, mismatchIsFatal: true});
	const still = (await fresh.run(rebootRequiredCommand, {signal: io.signal})).trim() === 'yes';
	write(still ? '# still asking for a reboot after one: leaving it to you' : '# back after the reboot');
	return true;
}
