import {describe, expect, it} from 'vitest';
import {overlayCreateCommand, parseOverlay} from '../../source/cluster/overlay.js';
import {parseProbeFetch, probeFetchCommand, probeServiceCreateCommand} from '../../source/cluster/probe.js';
import {swarmInitCommand, swarmJoinCommand} from '../../source/cluster/swarm.js';

describe('swarm commands', () => {
	it('init listens, advertises and carries data on the private address only', () => {
		expect(swarmInitCommand('10.100.1.10')).toBe('docker swarm init --advertise-addr 10.100.1.10 --listen-addr 10.100.1.10:2377 --data-path-addr 10.100.1.10');
	});

	it('join reads the token from stdin, never from the command line', () => {
		const command = swarmJoinCommand('10.100.1.11', '10.100.1.10');
		expect(command).toBe('docker swarm join --advertise-addr 10.100.1.11 --listen-addr 10.100.1.11:2377 --data-path-addr 10.100.1.11 --token "$(cat)" 10.100.1.10:2377');
		expect(command).not.toMatch(/SWMTKN/);
	});
});

describe('overlay', () => {
	it('is attachable, on the chosen subnet, encrypted when asked', () => {
		expect(overlayCreateCommand({name: 'swarmbee', subnet: '10.212.0.0/22', encrypted: true}))
			.toBe('docker network create --driver overlay --attachable --subnet 10.212.0.0/22 --opt encrypted --label swarmbee.network=overlay swarmbee');
		expect(overlayCreateCommand({name: 'swarmbee', subnet: '10.212.0.0/22', encrypted: false})).not.toContain('encrypted');
	});

	it('reads back what exists', () => {
		const json = JSON.stringify({Driver: 'overlay', Attachable: true, Options: {encrypted: ''}, IPAM: {Config: [{Subnet: '10.212.0.0/22'}]}});
		expect(parseOverlay('swarmbee', json)).toEqual({name: 'swarmbee', driver: 'overlay', attachable: true, subnet: '10.212.0.0/22', encrypted: true});
		expect(parseOverlay('swarmbee', '')).toBeUndefined();
	});
});

describe('probe', () => {
	it('runs one dnsrr task per node, named after its node', () => {
		const command = probeServiceCreateCommand('swarmbee-probe:abc');
		expect(command).toContain('--mode global');
		expect(command).toContain('--endpoint-mode dnsrr');
		expect(command).toContain("--hostname '{{.Node.Hostname}}'");
		// Nothing published: the service's own options end at the image name.
		const serviceOptions = command.slice(0, command.indexOf('swarmbee-probe:abc'));
		expect(serviceOptions).not.toMatch(/--publish|\s-p\s/);
	});

	it('fetches every task address it resolves', () => {
		expect(probeFetchCommand()).toContain('nslookup tasks.swarmbee-probe');
		expect(parseProbeFetch('10.212.0.3 queenbee\n10.212.0.4 workerbee-1\n10.212.0.5 \n')).toEqual({
			addresses: ['10.212.0.3', '10.212.0.4', '10.212.0.5'],
			reached: ['queenbee', 'workerbee-1'],
		});
	});
});
