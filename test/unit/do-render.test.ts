import {formatUsd} from '../../source/render/format.js';
import {execFileSync} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {describe, expect, it} from 'vitest';
import {dockerDaemonJson} from '../../source/nodes/docker-daemon.js';
import {scopeFor, type Droplet, type Size} from '../../source/providers/digitalocean/api.js';
import {accountProblem, costOf, placementProblems, sizesIn} from '../../source/providers/digitalocean/catalog.js';
import {describeFirewall, firewallRequest, sameRules} from '../../source/providers/digitalocean/firewall.js';
import {dropletTags, ownerFromTags} from '../../source/providers/digitalocean/names.js';
import {dropletBatches, dropletMachine} from '../../source/providers/digitalocean/droplets.js';
import {sshdConfig} from '../../source/nodes/sshd.js';
import {
	firstBootStatusCommand,
	parseFirstBootStatus,
	renderUserData,
	USER_DATA_LIMIT,
} from '../../source/providers/digitalocean/user-data.js';
import {generateKeyPair} from '../../source/ssh/keys.js';
import {planNodes} from '../../source/spec.js';
import {emulatorImages, emulatorRegions, emulatorSizes} from '../emulator/catalog.js';

describe('user_data', () => {
	const nodes = Array.from({length: 10}, (_, i) => ({
		name: i === 0 ? 'queenbee' : `workerbee-${i}`,
		hostKey: generateKeyPair(`n${i}.demo`),
	}));
	const script = renderUserData('demo', nodes);

	it('is a shell script sh accepts, well under the 64 KiB limit for a batch of ten', () => {
		expect(script.startsWith('#!/bin/sh\n')).toBe(true);
		expect(() => execFileSync('sh', ['-n'], {input: script})).not.toThrow();
		expect(Buffer.byteLength(script)).toBeLessThan(USER_DATA_LIMIT / 4);
	});

	it('picks the host key by hostname, installs it, restarts sshd, then Docker (its daemon.json first), then marks completion', () => {
		for (const node of nodes) {
			expect(script).toContain(
				`  ${node.name})\n    private_key='${node.hostKey.privateKey.trim()}'\n    public_key='${node.hostKey.publicKey}'\n    ;;`,
			);
		}
		const order = [
			'step=host-key',
			'mv -f /etc/ssh/ssh_host_ed25519_key.swarmbee /etc/ssh/ssh_host_ed25519_key',
			'sshd -t',
			'service ssh restart',
			'step=docker',
			'>/etc/docker/daemon.json',
			'apt-get -o DPkg::Lock::Timeout=900 install -y -q docker.io',
			'docker info',
			'>"$state/first-boot.done"',
		].map(s => script.indexOf(s));
		expect(order.every(i => i >= 0)).toBe(true);
		expect([...order].sort((a, b) => a - b)).toEqual(order);
		expect(script).toContain('echo "step $step failed (exit $code)" >"$state/first-boot.failed"');
	});

	it('refuses to run on a droplet it has no key for', () => {
		expect(script).toMatch(
			/\*\)\n\s+echo "swarmbee: this user_data has no host key for a droplet named \$node" >&2\n\s+exit 1/,
		);
	});

	it('runs: selects, writes and marks, in a sandbox where / is a temporary folder', () => {
		// The script's paths, moved under a scratch root, with sshd/service/docker stubbed.
		const root = execFileSync('mktemp', ['-d'], {encoding: 'utf8'}).trim();
		try {
			const sandboxed = script
				.replaceAll('/etc/ssh', `${root}/etc/ssh`)
				.replaceAll('/etc/docker', `${root}/etc/docker`)
				.replace(/^state=.*$/m, `state=${root}/state`)
				.replace('PATH=/usr/local/sbin', `PATH=${root}/bin:/usr/local/sbin`)
				.replace('node=$(hostname)', 'node=workerbee-3');
			execFileSync('sh', [
				'-c',
				`mkdir -p ${root}/bin ${root}/etc/ssh && for c in sshd service systemctl docker; do printf '#!/bin/sh\\nexit 0\\n' > ${root}/bin/$c; chmod +x ${root}/bin/$c; done`,
			]);
			execFileSync('sh', ['-c', sandboxed]);
			expect(execFileSync('cat', [`${root}/etc/ssh/ssh_host_ed25519_key`], {encoding: 'utf8'}).trim()).toBe(
				nodes[3]!.hostKey.privateKey.trim(),
			);
			expect(
				execFileSync('stat', ['-c', '%a', `${root}/etc/ssh/ssh_host_ed25519_key`], {encoding: 'utf8'}).trim(),
			).toBe('600');
			expect(execFileSync('sh', ['-c', `ls ${root}/state`], {encoding: 'utf8'}).trim()).toBe('first-boot.done');
			// Docker's settings are there before Docker is, exactly as the playbook would write them.
			// sshd's settings from the first boot on, the very ones the playbook enforces later.
			expect(readFileSync(`${root}/etc/ssh/sshd_config.d/00-swarmbee.conf`, 'utf8')).toBe(
				sshdConfig().replaceAll('/etc/ssh', `${root}/etc/ssh`),
			);
			expect(readFileSync(`${root}/etc/docker/daemon.json`, 'utf8')).toBe(dockerDaemonJson());
			expect(execFileSync('stat', ['-c', '%a', `${root}/etc/docker/daemon.json`], {encoding: 'utf8'}).trim()).toBe(
				'644',
			);
		} finally {
			execFileSync('rm', ['-rf', root]);
		}
	});

	it('has a status check swarmbee reads over SSH', () => {
		expect(firstBootStatusCommand).toContain('/var/lib/swarmbee/first-boot.done');
		expect(parseFirstBootStatus('done\n')).toEqual({state: 'done'});
		expect(parseFirstBootStatus('running\n')).toEqual({state: 'running'});
		expect(parseFirstBootStatus('failed: step docker failed (exit 100)\nE: Unable to locate package\n')).toEqual({
			state: 'failed',
			detail: 'step docker failed (exit 100)\nE: Unable to locate package',
		});
	});
});

describe('firewall', () => {
	it('allows 22 from --ssh-from, everything from the cluster tag, and all outbound', () => {
		expect(firewallRequest('demo', ['203.0.113.7/32'])).toEqual({
			name: 'swarmbee-demo',
			inbound_rules: [
				{protocol: 'tcp', ports: '22', sources: {addresses: ['203.0.113.7/32']}},
				{protocol: 'tcp', ports: '0', sources: {tags: ['swarmbee-demo']}},
				{protocol: 'udp', ports: '0', sources: {tags: ['swarmbee-demo']}},
				// The spec requires ports on every rule; ICMP's read back "0".
				{protocol: 'icmp', ports: '0', sources: {tags: ['swarmbee-demo']}},
			],
			outbound_rules: [
				{protocol: 'tcp', ports: '0', destinations: {addresses: ['0.0.0.0/0', '::/0']}},
				{protocol: 'udp', ports: '0', destinations: {addresses: ['0.0.0.0/0', '::/0']}},
				{protocol: 'icmp', ports: '0', destinations: {addresses: ['0.0.0.0/0', '::/0']}},
			],
			tags: ['swarmbee-demo'],
			droplet_ids: [],
		});
		expect(describeFirewall(firewallRequest('demo', ['0.0.0.0/0', '::/0']))).toBe(
			'22/tcp from 0.0.0.0/0, ::/0; tcp, udp and icmp from tag swarmbee-demo; outbound open',
		);
	});

	it('compares rules as the API reads them back (order aside, ICMP ports "0")', () => {
		const wanted = firewallRequest('demo', ['198.51.100.0/24', '203.0.113.7/32']);
		const readBack = {
			inbound_rules: [...wanted.inbound_rules].reverse().map(r => (r.protocol === 'icmp' ? {...r, ports: '0'} : r)),
			outbound_rules: wanted.outbound_rules.map(r => (r.protocol === 'icmp' ? {...r, ports: '0'} : r)),
		};
		expect(sameRules(readBack, wanted)).toBe(true);
		expect(sameRules(readBack, firewallRequest('demo', ['0.0.0.0/0']))).toBe(false);
	});
});

describe('droplets', () => {
	it('are requested in batches of at most ten, one role per batch', () => {
		const batches = dropletBatches(planNodes({managers: 3, workers: 22}));
		expect(batches.map(b => b.length)).toEqual([3, 10, 10]);
		expect(batches.map(b => new Set(b.map(n => n.role)).size)).toEqual([1, 1, 1]);
		expect(batches.flat().map(n => n.name)).toHaveLength(23);
	});

	it('carry the shared, cluster, role and owner tags', () => {
		const tags = dropletTags('demo', 'worker', 'a1b2');
		expect(tags).toEqual(['swarmbee', 'swarmbee-demo', 'swarmbee-role:worker', 'swarmbee-owner:a1b2']);
		expect(ownerFromTags(tags)).toBe('a1b2');
		expect(tags.every(t => /^[a-zA-Z0-9_\-:]+$/.test(t))).toBe(true);
	});

	it('are machines with SSH only once active with a public IPv4', () => {
		const base = {
			id: 7,
			name: 'queenbee',
			tags: ['swarmbee-owner:o'],
			networks: {v4: [], v6: []},
		} as unknown as Droplet;
		expect(dropletMachine({...base, status: 'new'})).toMatchObject({status: 'creating', providerId: '7', owner: 'o'});
		const privateOnly = {v4: [{ip_address: '10.116.0.2', netmask: '255.255.240.0', type: 'private' as const}], v6: []};
		expect(dropletMachine({...base, status: 'active', networks: privateOnly})).toMatchObject({
			status: 'creating',
			privateAddress: '10.116.0.2',
		});
		const both = {
			v4: [...privateOnly.v4, {ip_address: '192.0.2.5', netmask: '255.255.255.0', type: 'public' as const}],
			v6: [],
		};
		expect(dropletMachine({...base, status: 'active', networks: both})).toMatchObject({
			status: 'running',
			publicAddress: '192.0.2.5',
			ssh: {host: '192.0.2.5', port: 22, user: 'root'},
		});
		expect(dropletMachine({...base, status: 'off'}).status).toBe('stopped');
	});
});

describe('catalog checks', () => {
	const catalog = {regions: emulatorRegions(), sizes: emulatorSizes(), image: emulatorImages()[0]};
	const spec = {region: 'nyc3', size: 's-1vcpu-1gb', image: 'debian-12-x64', memoryLimit: '450m'};

	it('pass a spec DigitalOcean can build', () => {
		expect(placementProblems(spec, catalog)).toEqual([]);
	});

	it('explain an unknown region, an unavailable one, and a size the region does not offer', () => {
		expect(placementProblems({...spec, region: 'mars1'}, catalog)).toEqual([
			expect.objectContaining({field: 'region', problem: '"mars1" is not a DigitalOcean region'}),
		]);
		expect(placementProblems({...spec, region: 'nyc2'}, catalog)[0]).toMatchObject({
			field: 'region',
			problem: 'nyc2 (New York 2) takes no new droplets at the moment',
		});
		const [problem] = placementProblems({...spec, size: 's-1vcpu-512mb-10gb'}, catalog);
		expect(problem).toMatchObject({field: 'size', problem: 's-1vcpu-512mb-10gb is not offered in nyc3'});
		expect(problem!.fix).toMatch(
			/^use --region ams3, blr1, fra1, lon1, nyc1, and 4 more, or choose a size nyc3 offers: s-1vcpu-1gb/,
		);
	});

	it("explain an unknown image and a memory limit above the size's RAM", () => {
		const problems = placementProblems(
			{...spec, image: 'ubuntu-20-04-x64', memoryLimit: '1g'},
			{...catalog, image: undefined},
			['debian-12-x64', 'ubuntu-24-04-x64'],
		);
		expect(problems.map(p => p.field)).toEqual(['image', 'memory-limit']);
		expect(problems[0]!.fix).toBe('use one of: debian-12-x64, ubuntu-24-04-x64');
		expect(problems[1]!.problem).toBe('1g per database server does not fit on s-1vcpu-1gb (1024 MB of RAM per node)');
	});

	it('lists sizes a region offers, cheapest first', () => {
		const sizes = sizesIn(catalog, 'nyc3').map(s => s.slug);
		expect(sizes[0]).toBe('s-1vcpu-1gb');
		expect(sizes).not.toContain('s-1vcpu-512mb-10gb');
		expect(sizes).not.toContain('gpu-h100x1-80gb');
	});

	it('refuse a locked account and a plan over the droplet limit', () => {
		const account = {
			droplet_limit: 10,
			floating_ip_limit: 3,
			email: 'sammy@example.com',
			email_verified: true,
			uuid: 'u',
			status: 'active' as const,
			status_message: '',
		};
		expect(accountProblem(account, 6, 4)).toBeUndefined();
		expect(accountProblem(account, 7, 4)?.message).toBe(
			'this cluster needs 4 new droplets, but the account may have 10 and has 7',
		);
		expect(accountProblem(account, 7, 4)?.nextSteps[0]).toBe('ask for fewer workers (--workers 2 would fit)');
		expect(accountProblem({...account, status: 'locked'}, 0, 1)?.message).toBe(
			'the DigitalOcean account sammy@example.com is locked, so it cannot create droplets',
		);
	});

	it('prices a cluster from /v2/sizes', () => {
		const size = {slug: 's-1vcpu-1gb', price_hourly: 0.00893, price_monthly: 6} as Size;
		expect(costOf(size, 4)).toMatchObject({hourly: 0.03572, monthly: 24});
		expect(formatUsd(0.03572)).toBe('$0.0357');
		expect(formatUsd(24)).toBe('$24.00');
	});

	it('names the scope a 403 is about', () => {
		expect(scopeFor('POST', '/v2/droplets')).toBe('droplet:create');
		expect(scopeFor('GET', '/v2/account/keys/ab:cd')).toBe('ssh_key:read');
		expect(scopeFor('POST', '/v2/droplets/1/actions')).toBe('droplet:update');
		expect(scopeFor('DELETE', '/v2/firewalls/x')).toBe('firewall:delete');
		expect(scopeFor('GET', '/v2/vpcs')).toBe('vpc:read');
	});
});
