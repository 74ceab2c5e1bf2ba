/**
 * A tunnel is a small machine: connecting → open → reconnecting → closed.
 * `swarmbee tunnel` and the dashboard show one TunnelStatus per forward.
 */
export type TunnelState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface TunnelStatus {
	/** `admin` (the RethinkDB web panel) or `driver` (its client port). */
	name: string;
	state: TunnelState;
	/** Where it listens; `busy` is the default port it wanted when another program held that one. */
	local: {host: string; port: number; busy?: number};
	/** Where the far end is, as found at connect time. */
	target: {node?: string; address?: string; port: number};
	/** Connections open now, and since the tunnel started. */
	connections: number;
	totalConnections: number;
	bytesIn: number;
	bytesOut: number;
	/**
	 * The address a browser opens, token included: for the console only,
	 * which swarmbee guards (console-guard.ts). Whoever has it is the
	 * database's admin while the tunnel is open.
	 */
	url?: string;
	/** Requests the console's guard refused (no token, another site, a foreign Host). */
	refused?: number;
	lastError?: string;
	/** When the current state began (ISO time). */
	since: string;
}
