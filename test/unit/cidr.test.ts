import {describe, expect, it} from 'vitest';
import {
	chooseFreeSubnet,
	chooseOverlaySubnet,
	contains,
	hostAddress,
	overlaps,
	parseCidr,
} from '../../source/nodes/cidr.js';

describe('cidr', () => {
	it('normalises a CIDR to its network', () => {
		expect(parseCidr('10.1.2.3/16')).toEqual({base: parseCidr('10.1.0.0/16')!.base, prefix: 16});
		expect(parseCidr('300.1.1.1/8')).toBeUndefined();
		expect(parseCidr('10.0.0.0/33')).toBeUndefined();
	});

	it('gives stable host addresses', () => {
		expect(hostAddress('10.100.3.0/24', 10)).toBe('10.100.3.10');
		expect(hostAddress('172.20.0.0/16', 300)).toBe('172.20.1.44');
		expect(() => hostAddress('10.0.0.0/30', 10)).toThrow();
	});

	it('detects overlaps and containment', () => {
		expect(overlaps(parseCidr('10.0.0.0/8')!, parseCidr('10.200.0.0/16')!)).toBe(true);
		expect(overlaps(parseCidr('10.0.0.0/24')!, parseCidr('10.0.1.0/24')!)).toBe(false);
		expect(contains(parseCidr('10.0.0.0/24')!, '10.0.0.255')).toBe(true);
		expect(contains(parseCidr('10.0.0.0/24')!, '10.0.1.0')).toBe(false);
	});

	it('picks the same overlay subnet for the same name, and avoids what it must', () => {
		const first = chooseOverlaySubnet('demo', []);
		expect(chooseOverlaySubnet('demo', [])).toBe(first);
		expect(first).toMatch(/\/22$/);
		expect(contains(parseCidr('10.208.0.0/12')!, first.split('/')[0]!)).toBe(true);
		const moved = chooseOverlaySubnet('demo', [first]);
		expect(moved).not.toBe(first);
		expect(overlaps(parseCidr(moved)!, parseCidr(first)!)).toBe(false);
	});

	it('finds a free /24 or says there is none', () => {
		const taken = ['10.100.0.0/24', '10.100.1.0/24', '10.100.2.0/24'];
		const free = chooseFreeSubnet('10.100.0.0/22', taken, 'x');
		expect(free).toBe('10.100.3.0/24');
		expect(chooseFreeSubnet('10.100.0.0/22', [...taken, '10.100.3.0/24'], 'x')).toBeUndefined();
	});
});
