import type {TunnelStatus} from './types.js';

/**
 * What the dashboard needs of the tunnel, handed in by the command that
 * owns it (the dashboard never opens SSH forwards itself): the current
 * statuses, a way to hear about changes, and open/close.
 */
export interface TunnelControl {
	current(): TunnelStatus[];
	/** Called with every change of state, connections or bytes; returns the unsubscribe. */
	subscribe(listener: (tunnels: TunnelStatus[]) => void): () => void;
	open(): Promise<void>;
	close(): Promise<void>;
}
