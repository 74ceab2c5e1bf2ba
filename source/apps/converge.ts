import {pause} from '../concurrency.js';
import {ExternalError} from '../errors.js';
import type {AppService, SwarmApps, TaskLine} from './swarm.js';

/**
 * When a deploy (or a secret's rotation) is done: every service of the app
 * has all its replicas running — healthy, where the image or the file has a
 * health check, since Swarm counts a task running only then — and every
 * rolling update this change started has completed. A rolled-back or paused
 * update, or a service whose new tasks keep failing, is a failure that says
 * why.
 */

/** Docker's times carry nanoseconds; JavaScript's dates milliseconds. */
export function timeOf(text: string | undefined): number {
	if (!text) return Number.NaN;
	return Date.parse(text.replace(/(\.\d{3})\d+/, '$1'));
}

export type ServiceVerdict = {state: 'ready'} | {state: 'waiting'; why: string} | {state: 'failed'; why: string};

/**
 * One service, after a change made at `since` (the manager's clock):
 * `expectUpdate` when the change certainly rolls its tasks (a secret swapped).
 */
export function serviceVerdict(service: AppService, since: number, expectUpdate = false): ServiceVerdict {
	const update = service.update;
	const started = timeOf(update?.startedAt);
	const thisUpdate = update !== undefined && started >= since;
	if (thisUpdate && (update.state === 'paused' || update.state === 'rollback_paused'))
		return {state: 'failed', why: `its update was paused: ${update.message ?? 'a new task failed'}`};
	if (thisUpdate && update.state === 'rollback_completed')
		return {
			state: 'failed',
			why: `its update failed and Swarm rolled it back to the previous version: ${update.message ?? 'a new task failed'}`,
		};
	const changedNow = timeOf(service.updatedAt) >= since && timeOf(service.createdAt) < since;
	const rolls = expectUpdate || (changedNow && service.tasksChanged);
	if (rolls && !(thisUpdate && update.state === 'completed'))
		return {
			state: 'waiting',
			why: !thisUpdate
				? 'update starting'
				: update.state === 'updating'
					? 'updating'
					: `update ${update.state.replace('_', ' ')}`,
		};
	if (service.running < service.desired)
		return {state: 'waiting', why: `${service.running} of ${service.desired} running`};
	return {state: 'ready'};
}

/** `web 2/3 (updating)`, for the step's progress line. */
export function describeServices(services: ReadonlyArray<{service: AppService; verdict: ServiceVerdict}>): string {
	return services
		.map(
			({service, verdict}) =>
				`${service.service} ${service.running}/${service.desired}${verdict.state === 'waiting' && !verdict.why.endsWith('running') ? ` (${verdict.why})` : ''}`,
		)
		.join(', ');
}

const FAILED = /^(Failed|Rejected)\b/;

/**
 * Waits until every named service of `app` is ready. `look` asks Swarm
 * (one SSH command), `tasks` the services' tasks, only while something is
 * not ready. New tasks failing 3 times with none of the wanted running
 * is a failure with the last error; so is a service that is not there.
 */
export async function waitForApp(input: {
	app: string;
	cluster: string;
	services: readonly string[];
	since: number;
	/** Services whose tasks this change certainly replaces. */
	expectUpdate?: ReadonlySet<string>;
	look: () => Promise<SwarmApps>;
	tasks: (services: string[]) => Promise<TaskLine[]>;
	onProgress: (message: string) => void;
	signal?: AbortSignal;
	intervalMs?: number;
}): Promise<AppService[]> {
	const seenFailures = new Set<string>();
	let first = true;
	let said = '';
	for (;;) {
		const apps = await input.look();
		const found = apps.services.filter(s => s.app === input.app);
		const missing = input.services.filter(name => !found.some(s => s.service === name));
		const verdicts = found
			.filter(s => input.services.includes(s.service))
			.map(service => ({
				service,
				verdict: serviceVerdict(service, input.since, input.expectUpdate?.has(service.service)),
			}));
		const failed = verdicts.find(v => v.verdict.state === 'failed');
		if (failed) throw notReady(input, failed.service, (failed.verdict as {why: string}).why);
		if (missing.length === 0 && verdicts.every(v => v.verdict.state === 'ready')) return verdicts.map(v => v.service);
		const line = missing.length > 0 ? `waiting for ${missing.join(', ')} to appear` : describeServices(verdicts);
		if (line !== said) input.onProgress(line);
		said = line;
		const waiting = verdicts.filter(v => v.verdict.state !== 'ready').map(v => v.service);
		if (waiting.length > 0) {
			const tasks = await input.tasks(waiting.map(s => s.name));
			const failures = tasks.filter(t => FAILED.test(t.CurrentState));
			if (first) for (const t of failures) seenFailures.add(t.ID);
			for (const service of waiting) {
				const fresh = failures.filter(t => !seenFailures.has(t.ID) && t.Name.startsWith(`${service.name}.`));
				if (fresh.length >= 3 && service.running === 0)
					throw notReady(
						input,
						service,
						`its new tasks keep failing (${fresh.length} so far): ${fresh[0]!.Error || fresh[0]!.CurrentState}`,
					);
			}
		}
		first = false;
		await pause(input.intervalMs ?? 2000, input.signal);
	}
}

function notReady(input: {app: string; cluster: string}, service: AppService, why: string): ExternalError {
	return new ExternalError(`${service.name} is not ready: ${why}`, {
		nextSteps: [
			`its log: swarmbee ssh ${input.cluster} -- docker service logs --tail 50 ${service.name}`,
			`its tasks: swarmbee ssh ${input.cluster} -- docker service ps --no-trunc ${service.name}`,
			`fix the image or the stack file, then: swarmbee deploy ${input.cluster} FILE --app ${input.app}`,
		],
	});
}
