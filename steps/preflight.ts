import {event} from '../source/events.js';
import {providerContext, type Step} from './types.js';

/**
 * Everything that can be checked before anything exists: the engine or API,
 * sizes, images, capacity, whether the name is free. Failing here creates
 * nothing, not even the cluster's state folder.
 */
export const preflightStep: Step = {
	id: 'preflight',
	title: 'Preflight checks',
	async run(ctx, io) {
		const lines = await ctx.provider.preflight(providerContext(ctx, io));
		for (const line of lines) io.emit(event({type: 'step-progress', step: 'preflight', message: line}));
		return {changed: false, summary: lines[0] ?? 'ok'};
	},
};
