import {useEffect, useState} from 'react';
import type {DashboardSnapshot} from '../source/observe/dashboard-data.js';
import {errorInfo, type ErrorInfo} from '../source/errors.js';
import type {TunnelControl} from '../source/tunnel/control.js';
import type {TunnelStatus} from '../source/tunnel/types.js';

interface DashboardView {
	snapshot?: DashboardSnapshot;
	/** The last refresh failed as a whole (a node not answering is in the snapshot, not here). */
	error?: ErrorInfo;
	loading: boolean;
	refresh: () => void;
}

/**
 * Starts the `load` function handed in, then again `refreshMs` after each
 * answer (never two at once); `refresh()` asks now, abandoning one in flight.
 */
export function useDashboard(
	load: (signal: AbortSignal) => Promise<DashboardSnapshot>,
	refreshMs: number,
): DashboardView {
	const [view, setView] = useState<Omit<DashboardView, 'refresh'>>({loading: true});
	const [generation, setGeneration] = useState(0);
	// biome-ignore lint/correctness/useExhaustiveDependencies: a new generation is what asks again (the timer, refresh())
	useEffect(() => {
		const controller = new AbortController();
		let timer: NodeJS.Timeout | undefined;
		setView(v => (v.loading ? v : {...v, loading: true}));
		load(controller.signal)
			.then(
				snapshot => {
					if (!controller.signal.aborted) setView({snapshot, loading: false});
				},
				error => {
					if (!controller.signal.aborted) setView(v => ({...v, error: errorInfo(error), loading: false}));
				},
			)
			.finally(() => {
				if (!controller.signal.aborted) timer = setTimeout(() => setGeneration(g => g + 1), refreshMs);
			});
		return () => {
			controller.abort();
			clearTimeout(timer);
		};
	}, [load, refreshMs, generation]);
	return {...view, refresh: () => setGeneration(g => g + 1)};
}

/** The tunnels' statuses as the control handed in reports them. */
export function useTunnels(control: TunnelControl | undefined): TunnelStatus[] {
	const [tunnels, setTunnels] = useState<TunnelStatus[]>(() => control?.current() ?? []);
	useEffect(() => {
		if (!control) return;
		setTunnels(control.current());
		return control.subscribe(setTunnels);
	}, [control]);
	return tunnels;
}
