import {shellCommand} from '../shell.js';

/** The cluster's attachable overlay: applications and the database's driver port meet there. */
export const OVERLAY_NETWORK = 'swarmbee';

/**
 * The database servers' own overlay, not attachable: their cluster port
 * (29015) listens only there, so no container an application attaches to
 * the cluster can talk to it.
 */
export const DATABASE_NETWORK = 'swarmbee-db';

export interface OverlaySettings {
	name: string;
	subnet: string;
	encrypted: boolean;
	/** Standalone containers may join (`docker run --network`); off for the database's network. */
	attachable?: boolean;
}

export function overlayCreateCommand(settings: OverlaySettings): string {
	return shellCommand([
		'docker',
		'network',
		'create',
		'--driver',
		'overlay',
		...(settings.attachable === false ? [] : ['--attachable']),
		'--subnet',
		settings.subnet,
		...(settings.encrypted ? ['--opt', 'encrypted'] : []),
		'--label',
		`swarmbee.network=${settings.attachable === false ? 'database' : 'overlay'}`,
		settings.name,
	]);
}

export function overlayInspectCommand(name: string): string {
	return `${shellCommand(['docker', 'network', 'inspect', '--format', '{{json .}}', name])} 2>/dev/null || true`;
}

interface NetworkJson {
	Driver: string;
	Attachable: boolean;
	Options: Record<string, string> | null;
	IPAM: {Config: Array<{Subnet?: string}> | null};
}

/** What exists, or undefined when the inspect printed nothing. */
export function parseOverlay(
	name: string,
	text: string,
): (OverlaySettings & {driver: string; attachable: boolean}) | undefined {
	const trimmed = text.trim();
	if (!trimmed.startsWith('{')) return undefined;
	const network = JSON.parse(trimmed) as NetworkJson;
	return {
		name,
		driver: network.Driver,
		attachable: network.Attachable,
		subnet: network.IPAM.Config?.[0]?.Subnet ?? '',
		encrypted: network.Options?.['encrypted'] !== undefined,
	};
}
