import {nextHostKeyCommand, swapHostKeyCommand} from '../source/nodes/host-key.js';
import {leavingNodeNames} from '../source/store/change.js';
import {onEveryNode, pollUntil} from '../source/concurrency.js';
import {
	defined,
	errorInfo,
	ExternalError,
	InputError,
	isAbort,
	NodeFailures,
	type SwarmbeeError,
} from '../source/errors.js';
import {sameNameChoice} from '../source/providers/same-name.js';
import type {FirstBootCheck, InfraInfo, Machine, MachinePlan} from '../source/providers/types.js';
import {counted} from '../source/render/format.js';
import {fingerprint, hostKeyFile, loadKeyPair} from '../source/ssh/keys.js';
import type {RemoteShell} from '../source/ssh/shell.js';
import {planNodes, type NodePlan} from '../source/spec.js';
import type {NodeRecord} from '../source/store/journal.js';
import {providerContext, type ClusterContext, type Step, type StepIO} from './types.js';
import {nodeNamed} from '../source/store/nodes.js';

type MachinesContext = Pick<ClusterContext, 'spec' | 'paths' | 'journal' | 'provider' | 'ssh' | 'clusterKey'>;

function recordMachine(record: NodeRecord, machine: Machine): void {
	record.providerId = machine.providerId;
	if (machine.publicAddress) record.publicAddress = machine.publicAddress;
	if (machine.privateAddress) record.privateAddress = machine.privateAddress;
	if (machine.ssh) record.ssh = machine.ssh;
}

/**
 * Reconciles machines with the plan, Terraform-style: what exists (found by
 * label or tag, never from memory) is adopted; what was interrupted half-way
 * is replaced; what is missing is created, all nodes at once. Then waits for
 * each node's SSH, verifying its host key.
 */
export const machinesStep: Step<MachinesContext> = {
	id: 'machines',
	title: 'Machines',
	async run(ctx, io) {
		const {spec, journal, provider} = ctx;
		const pctx = providerContext(ctx, io);
		const {infra, changed: infraChanged} = await provider.ensureInfra(pctx);
		journal.update(j => {
			j.infra = infra;
		});

		const plans = planNodes(spec);
		const existing = await provider.listMachines(pctx);
		const planned = new Set(plans.map(p => p.name));
		// Nodes a scale-down removes are left as they are: its own steps move their tables and delete them.
		const leaving = leavingNodeNames(journal.value);
		const extras = existing.filter(m => !planned.has(m.name) && !leaving.has(m.name));
		if (extras.length > 0) {
			throw new InputError(
				`${extras.map(m => m.name).join(', ')} exist${extras.length === 1 ? 's' : ''} but ${extras.length === 1 ? 'is' : 'are'} not in the plan of ${counted(spec.workers, 'worker')}`,
				{
					hint: 'up never deletes nodes on its own.',
					nextSteps: [
						`to keep them: swarmbee scale ${spec.name} --workers ${spec.workers + extras.length}`,
						`to remove them: swarmbee scale ${spec.name} --workers ${spec.workers}`,
					],
				},
			);
		}

		const recorded = (name: string) => journal.value.nodes.find(n => n.name === name)?.providerId;
		const {byName, leftovers} = sameNameChoice(existing, MACHINE, recorded);
		sayLeftovers(ctx, io, byName, leftovers);
		const toCreate: NodePlan[] = [];
		// A machine deleted here is no node's any more, whatever the journal recorded.
		const deleted = new Set<string>();
		let started = 0;
		let replaced = 0;
		let resumed = 0;
		for (const plan of plans) {
			const machine = byName.get(plan.name);
			if (!machine) {
				toCreate.push(plan);
				continue;
			}
			if (machine.status === 'creating') {
				// Requested by an earlier run (perhaps killed right after asking) and
				// still booting: the provider finds it by tag and waits for it.
				resumed++;
				toCreate.push(plan);
				continue;
			}
			if (machine.status === 'unfinished' || machine.status === 'error') {
				// Creation is tried again: the awkward state, shown as such.
				io.node(plan.name).state('retrying', 'replacing a machine whose creation was interrupted');
				await provider.deleteMachine(pctx, machine);
				deleted.add(machine.providerId);
				replaced++;
				toCreate.push(plan);
				continue;
			}
			if (machine.status === 'stopped') {
				io.node(plan.name).state('booting', 'starting a stopped machine');
				await provider.startMachine(pctx, machine);
				started++;
			}
			journal.updateNode(plan.name, record => {
				recordMachine(record, machine);
				record.state = 'running';
			});
		}

		if (toCreate.length > 0) await createMissing(ctx, toCreate, infra, io, deleted);
		// Addresses of started machines may only be known now.
		if (started > 0) {
			const known = new Set(journal.value.nodes.map(n => n.name));
			const listed = [...sameNameChoice(await provider.listMachines(pctx), MACHINE, recorded).byName.values()];
			journal.updateNodes(
				listed.filter(m => known.has(m.name)),
				recordMachine,
			);
		}

		await waitForAllSsh(ctx, io);
		const created = toCreate.length - replaced - resumed;
		const parts = [
			created > 0 ? `${created} created` : '',
			resumed > 0 ? `${resumed} still booting from an earlier run` : '',
			replaced > 0 ? `${replaced} replaced` : '',
			started > 0 ? `${started} started` : '',
		].filter(Boolean);
		return {
			changed: infraChanged || toCreate.length > 0 || started > 0,
			summary: `${plans.length} nodes running${parts.length > 0 ? ` (${parts.join(', ')})` : ', none changed'}`,
		};
	},
};

const MACHINE = {name: (m: Machine) => m.name, id: (m: Machine) => m.providerId};

/**
 * Same-name machines that are not the node: named, with what each costs and
 * how to remove it, but never deleted here. Which of two same-name droplets
 * ran the playbook, or holds data, cannot be told from the API, and a
 * journal lost or restored from elsewhere would make the wrong one look
 * unused: telling is safe, deleting is not.
 */
function sayLeftovers(ctx: MachinesContext, io: StepIO, byName: Map<string, Machine>, leftovers: Machine[]): void {
	const billed = ctx.provider.capabilities.billed;
	const what = billed?.machine ?? 'machine';
	for (const [name, node] of byName) {
		const extra = leftovers.filter(m => m.name === name).map(m => m.providerId);
		if (extra.length === 0) continue;
		const many = extra.length !== 1;
		io.warn(
			`${1 + extra.length} ${what}s are named ${name}: ${node.providerId} is the node; ${what}${many ? 's' : ''} ${extra.join(', ')} ${many ? 'are' : 'is'} not used by swarmbee` +
				`${billed ? ` but ${many ? 'are' : 'is'} billed by ${billed.by} while ${many ? 'they exist' : 'it exists'}` : ''}: delete ${many ? 'them' : 'it'} by id, or swarmbee down ${ctx.spec.name} removes everything of the cluster`,
		);
	}
}

async function createMissing(
	ctx: MachinesContext,
	plans: NodePlan[],
	infra: InfraInfo,
	io: StepIO,
	deleted: ReadonlySet<string>,
): Promise<void> {
	const {journal, provider, paths} = ctx;
	const authorizedKey = ctx.clusterKey.publicKey;
	const machinePlans: MachinePlan[] = plans.map(plan => {
		const file = hostKeyFile(paths.hostKeysDir, plan.name);
		const hostKey = loadKeyPair(file);
		if (!hostKey)
			throw new ExternalError(`the host key of ${plan.name} is missing (${file})`, {
				nextSteps: [`run swarmbee up ${ctx.spec.name} again: the keys step makes it`],
			});
		const providerId = journal.value.nodes.find(n => n.name === plan.name)?.providerId;
		return {...plan, authorizedKey, hostKey, ...(providerId && !deleted.has(providerId) ? {providerId} : {})};
	});
	// Written before the provider is asked: a crash from here on is found
	// again by label, not duplicated. A machine made anew (its old one gone)
	// starts with the key it is given, whatever its predecessor rotated to.
	// One write for all of them, on disk before createMachines is called.
	journal.updateNodes(machinePlans, (record, plan) => {
		record.state = 'creating';
		record.hostKey = {publicKey: plan.hostKey.publicKey, fingerprint: fingerprint(plan.hostKey.publicKey)};
		delete record.nextHostKey;
		delete record.error;
	});
	for (const plan of plans) io.node(plan.name).state('creating');
	const outcomes = await provider.createMachines(providerContext(ctx, io), machinePlans, infra, (node, detail) => {
		// "booting" is a state, not worth repeating as its own detail.
		if (detail === 'booting') io.node(node).state('booting');
		else io.node(node).state('creating', detail);
	});
	const failures: Array<{node: string; error: SwarmbeeError}> = [];
	journal.updateNodes(outcomes, (record, outcome) => {
		if (outcome.machine) {
			recordMachine(record, outcome.machine);
			record.state = 'running';
		} else {
			record.state = 'failed';
			record.error = errorInfo(outcome.error);
		}
	});
	for (const outcome of outcomes) {
		if (outcome.error) {
			if (isAbort(outcome.error, io.signal)) continue;
			io.node(outcome.name).state('failed', outcome.error.message);
			failures.push({node: outcome.name, error: outcome.error});
		}
	}
	if (io.signal.aborted) throw new Error('aborted');
	if (failures.length > 0) {
		throw new NodeFailures('creating machines', failures);
	}
}

async function waitForAllSsh(ctx: MachinesContext, io: StepIO): Promise<void> {
	const {journal, provider, ssh} = ctx;
	const leaving = leavingNodeNames(journal.value);
	const nodes = journal.value.nodes.filter(n => n.state === 'running' && !leaving.has(n.name));
	const keyBeforeBoot = provider.capabilities.hostKeyBeforeBoot;
	await onEveryNode(
		'waiting for SSH',
		nodes,
		async node => {
			const say = io.node(node.name);
			const where = `${node.ssh?.host ?? node.publicAddress ?? node.name}:${node.ssh?.port ?? 22}`;
			const since = Date.now();
			let attempts = 0;
			let saidAt = since;
			say.state('booting', `waiting for SSH at ${where}`);
			let waitingForKey = false;
			try {
				const shell = await ssh.waitFor(node.name, {
					signal: io.signal,
					// Where the host key arrives with the first boot, SSH answers with it
					// only late in that boot.
					timeoutMs: keyBeforeBoot ? 180_000 : 600_000,
					mismatchIsFatal: keyBeforeBoot,
					onRetry: reason => {
						attempts++;
						// Where, how many tries, how long: every 10 s, so a slow boot shows it is still being tried.
						if (!waitingForKey && Date.now() - saidAt >= 10_000) {
							saidAt = Date.now();
							say.state(
								'booting',
								`waiting for SSH at ${where} (attempt ${attempts + 1}, ${Math.round((saidAt - since) / 1000)}s)`,
							);
						}
						// The image's own host key during a cloud's first boot: worth saying once, not trusted.
						if (waitingForKey || !/offered host key/.test(reason)) return;
						waitingForKey = true;
						say.state(
							'retrying',
							"SSH answers with the image's own host key: waiting for the first-boot script to install swarmbee's",
						);
					},
				});
				if (provider.firstBoot) {
					say.state('booting', `SSH ok; waiting for ${provider.firstBoot.name}`);
					await waitForFirstBoot(shell, provider.firstBoot, node, ctx.spec.name, io.signal);
				}
				const current = nodeNamed(journal.value, node.name);
				if (provider.capabilities.bootHostKeyExposed && !current.hostKey.rotatedAt)
					await rotateHostKey(ctx, io, current, shell);
				say.state('running', `SSH ok, host key ${nodeNamed(journal.value, node.name).hostKey.fingerprint}`);
			} catch (error) {
				if (!isAbort(error, io.signal)) say.state('failed', (error as Error).message);
				throw error;
			}
		},
		{signal: io.signal},
	);
}

/**
 * Replaces a node's host key (whose private half the provider keeps readable
 * on the machine) with one made on the node, over the connection the old key
 * verified:
 *
 *     1. the node makes the next key (or keeps the one a cut-off run made)
 *        and prints its public half;
 *     2. the journal pins it as nextHostKey (atomic write), so from here on
 *        either key is accepted;
 *     3. the node swaps it in and sshd reloads;
 *     4. a new connection must prove the new key; then it is the only one.
 *
 * Cut off anywhere, the node answers with a key the journal holds, and the
 * next run picks up: a node that proves the pinned key is promoted at once.
 */
async function rotateHostKey(ctx: MachinesContext, io: StepIO, node: NodeRecord, shell: RemoteShell): Promise<void> {
	const {journal, ssh} = ctx;
	const say = io.node(node.name);
	const promote = () =>
		journal.updateNode(node.name, record => {
			record.hostKey = {
				...defined(record.nextHostKey, `${node.name} has no next host key to promote`),
				rotatedAt: new Date().toISOString(),
			};
			delete record.nextHostKey;
		});
	const pinned = nodeNamed(journal.value, node.name).nextHostKey;
	if (pinned && sameKey(shell.hostKey, pinned.publicKey)) {
		promote();
		return;
	}
	say.state('booting', 'replacing the host key the machine was given at first boot by one made on the node');
	const made = (await shell.run(nextHostKeyCommand(`${node.name}.${ctx.spec.name}`), {signal: io.signal})).trim();
	let next: {publicKey: string; fingerprint: string};
	try {
		next = {publicKey: made, fingerprint: fingerprint(made)};
	} catch {
		throw new ExternalError(`${node.name} made no usable host key: ${made.slice(0, 80)}`, {
			node: node.name,
			nextSteps: [`run swarmbee up ${ctx.spec.name} again`],
		});
	}
	journal.updateNode(node.name, record => {
		record.nextHostKey = next;
	});
	await shell.run(swapHostKeyCommand(next.publicKey), {signal: io.signal});
	ssh.drop(node.name);
	// sshd re-executes on reload: the first connections may still meet the old key.
	const polled = await pollUntil(
		async () => (await ssh.waitFor(node.name, {signal: io.signal, timeoutMs: 30_000, mismatchIsFatal: true})).hostKey,
		key => {
			if (sameKey(key, next.publicKey)) return true;
			ssh.drop(node.name);
			return false;
		},
		{intervalMs: 500, timeoutMs: 30_000, signal: io.signal},
	);
	if (!polled.met) {
		throw new ExternalError(`${node.name} still answers with its old host key after the swap`, {
			node: node.name,
			hint: 'sshd on the node did not load the new key; both stay accepted until it does.',
			nextSteps: [`run swarmbee up ${ctx.spec.name} again`],
		});
	}
	promote();
	say.state(
		'booting',
		`host key replaced: ${next.fingerprint} (made on the node; the one given at first boot is no longer used)`,
	);
}

function sameKey(a: string, b: string): boolean {
	return a.trim().split(/\s+/).slice(0, 2).join(' ') === b.trim().split(/\s+/).slice(0, 2).join(' ');
}

/** Polls the provider's first-boot check over an open connection until it says done. */
async function waitForFirstBoot(
	shell: RemoteShell,
	check: FirstBootCheck,
	node: NodeRecord,
	cluster: string,
	signal: AbortSignal,
): Promise<void> {
	const polled = await pollUntil(
		async () => {
			const status = check.parse((await shell.exec(check.command, {signal})).stdout);
			if (status.state === 'failed') {
				throw new ExternalError(`${check.name} failed on ${node.name}`, {
					node: node.name,
					hint: status.detail,
					nextSteps: [
						`its full log: swarmbee ssh ${cluster} ${node.name} -- cat ${check.log}`,
						`delete ${node.name} (or the whole cluster: swarmbee down) and run swarmbee up again: it recreates what is missing`,
					],
				});
			}
			return status;
		},
		status => status.state === 'done',
		{intervalMs: 2_000, timeoutMs: check.timeoutMs, signal},
	);
	if (polled.met) return;
	throw new ExternalError(
		`${check.name} of ${node.name} did not finish within ${Math.round(check.timeoutMs / 60_000)} minutes`,
		{
			node: node.name,
			nextSteps: [
				`look at its log: swarmbee ssh ${cluster} ${node.name} -- tail ${check.log}`,
				'run swarmbee up again: it goes on waiting',
			],
		},
	);
}
