import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {overlayCreateCommand, parseOverlay} from '../../source/nodes/overlay.js';
import {
	parseProbeFetch,
	probeFetchCommand,
	probeGuardCommand,
	probeServiceCreateCommand,
} from '../../source/nodes/probe.js';
import {swarmInitCommand, swarmJoinCommand, swarmJoinRequest} from '../../source/nodes/swarm.js';

describe('swarm commands', () => {
	it('init listens, advertises and carries data on the private address only', () => {
		expect(swarmInitCommand('10.100.1.10')).toBe(
			'docker swarm init --advertise-addr 10.100.1.10 --listen-addr 10.100.1.10:2377 --data-path-addr 10.100.1.10',
		);
	});

	it('join: the token reaches the engine on stdin and is on no command line, not even the one the remote shell makes', () => {
		// The command line as the node's shell runs it, with stand-ins for the
		// programs it starts that write down their argv (what `ps` shows) and stdin.
		const bin = mkdtempSync(path.join(tmpdir(), 'sb-join-'));
		try {
			for (const program of ['docker', 'python3']) {
				writeFileSync(
					path.join(bin, program),
					`#!/bin/sh\nprintf '%s\\n' "$0 $*" >>${bin}/argv\n/bin/cat >>${bin}/stdin\n`,
					{mode: 0o755},
				);
			}
			const token = 'SWMTKN-1-0123456789abcdef-secret';
			execFileSync('sh', ['-c', swarmJoinCommand], {
				input: swarmJoinRequest('10.100.1.11', '10.100.1.10', token),
				env: {PATH: `${bin}:/usr/bin:/bin`},
			});
			const argv = readFileSync(path.join(bin, 'argv'), 'utf8');
			expect(argv).toMatch(/python3 -c import http.client/);
			expect(argv).not.toContain('SWMTKN');
			expect(JSON.parse(readFileSync(path.join(bin, 'stdin'), 'utf8'))).toEqual({
				ListenAddr: '10.100.1.11:2377',
				AdvertiseAddr: '10.100.1.11',
				DataPathAddr: '10.100.1.11',
				RemoteAddrs: ['10.100.1.10:2377'],
				JoinToken: token,
			});
		} finally {
			rmSync(bin, {recursive: true, force: true});
		}
	});
});

describe('overlay', () => {
	it('is attachable, on the chosen subnet, encrypted when asked', () => {
		expect(overlayCreateCommand({name: 'swarmbee', subnet: '10.212.0.0/22', encrypted: true})).toBe(
			'docker network create --driver overlay --attachable --subnet 10.212.0.0/22 --opt encrypted --label swarmbee.network=overlay swarmbee',
		);
		expect(overlayCreateCommand({name: 'swarmbee', subnet: '10.212.0.0/22', encrypted: false})).not.toContain(
			'encrypted',
		);
	});

	it('reads back what exists', () => {
		const json = JSON.stringify({
			Driver: 'overlay',
			Attachable: true,
			Options: {encrypted: ''},
			IPAM: {Config: [{Subnet: '10.212.0.0/22'}]},
		});
		expect(parseOverlay('swarmbee', json)).toEqual({
			name: 'swarmbee',
			driver: 'overlay',
			attachable: true,
			subnet: '10.212.0.0/22',
			encrypted: true,
		});
		expect(parseOverlay('swarmbee', '')).toBeUndefined();
	});
});

describe('probe', () => {
	it('runs one dnsrr task per node, named after its node', () => {
		const command = probeServiceCreateCommand('swarmbee-probe:abc', 'run1');
		expect(command).toContain('--mode global');
		expect(command).toContain('--endpoint-mode dnsrr');
		expect(command).toContain("--hostname '{{.Node.Hostname}}'");
		// Nothing published: the service's own options end at the image name.
		const serviceOptions = command.slice(0, command.indexOf('swarmbee-probe:abc'));
		expect(serviceOptions).not.toMatch(/--publish|\s-p\s/);
	});

	it('its guard removes the service when its stdin ends (swarmbee done, or dead), and only the service of its own run', () => {
		const bin = mkdtempSync(path.join(tmpdir(), 'sb-guard-'));
		try {
			// docker: `service inspect` answers the label the service carries, every call is written down.
			writeFileSync(
				path.join(bin, 'docker'),
				`#!/bin/sh\necho "$*" >>${bin}/calls\n[ "$2" = inspect ] && cat ${bin}/label\nexit 0\n`,
				{mode: 0o755},
			);
			const guard = (label: string) => {
				writeFileSync(path.join(bin, 'label'), `${label}\n`);
				rmSync(path.join(bin, 'calls'), {force: true});
				// stdin ends at once here; on a node it ends when swarmbee closes it or its connection goes.
				execFileSync('sh', ['-c', probeGuardCommand('run1')], {input: '', env: {PATH: `${bin}:/usr/bin:/bin`}});
				return readFileSync(path.join(bin, 'calls'), 'utf8').trim().split('\n');
			};
			expect(guard('run1')).toEqual([
				expect.stringMatching(/^service inspect --format .* swarmbee-probe$/),
				'service rm swarmbee-probe',
			]);
			// A later run's probe (this guard's connection died late) is left alone.
			expect(guard('run2')).toEqual([expect.stringMatching(/^service inspect/)]);
		} finally {
			rmSync(bin, {recursive: true, force: true});
		}
	});

	it('fetches every task address it resolves', () => {
		expect(probeFetchCommand()).toContain('nslookup tasks.swarmbee-probe');
		expect(parseProbeFetch('10.212.0.3 queenbee\n10.212.0.4 workerbee-1\n10.212.0.5 \n')).toEqual({
			addresses: ['10.212.0.3', '10.212.0.4', '10.212.0.5'],
			reached: ['queenbee', 'workerbee-1'],
		});
	});
});
