import {createHash} from 'node:crypto';
import {ExternalError} from '../errors.js';

/** IPv4 arithmetic for subnets swarmbee chooses or must avoid. */

interface Cidr {
	base: number;
	prefix: number;
}

function parseIpv4(text: string): number | undefined {
	const parts = text.split('.');
	if (parts.length !== 4) return undefined;
	let value = 0;
	for (const part of parts) {
		if (!/^\d{1,3}$/.test(part)) return undefined;
		const n = Number(part);
		if (n > 255) return undefined;
		value = value * 256 + n;
	}
	return value;
}

export function formatIpv4(value: number): string {
	return [24, 16, 8, 0].map(shift => Math.floor(value / 2 ** shift) % 256).join('.');
}

export function parseCidr(text: string): Cidr | undefined {
	const [address, prefixText] = text.split('/');
	const base = address === undefined ? undefined : parseIpv4(address);
	const prefix = Number(prefixText);
	if (base === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
	const size = 2 ** (32 - prefix);
	return {base: base - (base % size), prefix};
}

function cidrSize(cidr: Cidr): number {
	return 2 ** (32 - cidr.prefix);
}

function formatCidr(cidr: Cidr): string {
	return `${formatIpv4(cidr.base)}/${cidr.prefix}`;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
	return a.base < b.base + cidrSize(b) && b.base < a.base + cidrSize(a);
}

export function contains(cidr: Cidr, address: string): boolean {
	const value = parseIpv4(address);
	return value !== undefined && value >= cidr.base && value < cidr.base + cidrSize(cidr);
}

/** The `offset`-th address of a subnet (e.g. offset 10 of 172.20.0.0/16 → 172.20.0.10). */
export function hostAddress(cidrText: string, offset: number): string {
	const cidr = parseCidr(cidrText);
	if (!cidr) throw new Error(`not a CIDR: ${cidrText}`);
	if (offset <= 0 || offset >= cidrSize(cidr) - 1) throw new Error(`${cidrText} has no host number ${offset}`);
	return formatIpv4(cidr.base + offset);
}

/**
 * A /22 for the cluster's overlay inside 10.208.0.0/12, picked from the
 * cluster's name (so it is stable) and moved on past anything it would
 * overlap (the nodes' own networks, a VPC, Docker's address pools).
 *
 *     chooseOverlaySubnet('demo', ['172.18.0.0/16'])  →  '10.217.40.0/22'
 */
export function chooseOverlaySubnet(cluster: string, avoid: string[]): string {
	const subnet = chooseFreeSubnet('10.208.0.0/12', avoid, `overlay:${cluster}`, 22);
	if (!subnet)
		throw new ExternalError('no free /22 left in 10.208.0.0/12 for the overlay', {
			hint: `every /22 there overlaps a network this cluster must not touch: ${avoid.join(', ') || 'none named'}`,
			nextSteps: [
				'remove networks you no longer need from the nodes (docker network ls), then run the same command again',
			],
		});
	return subnet;
}

/**
 * The first /24 in `space` overlapping none of `taken`, starting at a place
 * derived from `seed` so clusters made at once rarely race for the same one.
 */
export function chooseFreeSubnet(space: string, taken: string[], seed: string, prefix = 24): string | undefined {
	const area = parseCidr(space);
	if (!area) throw new Error(`not a CIDR: ${space}`);
	const busy = taken.map(parseCidr).filter((c): c is Cidr => c !== undefined);
	const step = 2 ** (32 - prefix);
	const slots = cidrSize(area) / step;
	const start = createHash('sha256').update(seed).digest().readUInt32BE(0) % slots;
	for (let i = 0; i < slots; i++) {
		const candidate: Cidr = {base: area.base + ((start + i) % slots) * step, prefix};
		if (!busy.some(b => overlaps(b, candidate))) return formatCidr(candidate);
	}
	return undefined;
}
