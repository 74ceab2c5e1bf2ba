import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, statSync, readFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {
	connectPrivateArgs,
	names,
	networkCreateArgs,
	nodeCreateArgs,
	securityArgs,
} from '../../source/providers/local/commands.js';
import {tarArchive} from '../../source/providers/local/tar.js';

const options = {
	cluster: 'demo',
	owner: 'owner-1',
	node: 'workerbee-2',
	role: 'worker',
	image: 'swarmbee-node:abc',
	memoryMb: 1024,
	vcpus: 1,
	publicAddress: '10.101.3.12',
	security: 'capabilities' as const,
	cgroupVersion: 1 as const,
};

function labels(args: string[]): Record<string, string> {
	const out: Record<string, string> = {};
	args.forEach((arg, i) => {
		if (arg === '--label') {
			const [key, value] = args[i + 1]!.split('=');
			out[key!] = value!;
		}
	});
	return out;
}

describe('local node commands', () => {
	it('labels every node with cluster, node, owner and role', () => {
		expect(labels(nodeCreateArgs(options))).toEqual({
			'swarmbee.cluster': 'demo',
			'swarmbee.node': 'workerbee-2',
			'swarmbee.owner': 'owner-1',
			'swarmbee.role': 'worker',
		});
	});

	it('caps memory at the size (no swap) and presents it to the node', () => {
		const args = nodeCreateArgs(options);
		expect(args.join(' ')).toContain('--memory 1024m --memory-swap 1024m');
		expect(args).toContain('SWARMBEE_MEMORY_MB=1024');
	});

	it('publishes no port and starts on the public bridge at a fixed address', () => {
		const args = nodeCreateArgs(options);
		expect(args.some(a => a === '-p' || a.startsWith('--publish'))).toBe(false);
		expect(args.join(' ')).toContain('--network swarmbee-demo-public --ip 10.101.3.12');
		expect(args.at(-1)).toBe('swarmbee-node:abc');
	});

	it('keeps dockerd state on a labelled volume so a reboot keeps the swarm', () => {
		expect(nodeCreateArgs(options)).toContain('type=volume,src=swarmbee-demo-workerbee-2-docker,dst=/var/lib/docker');
	});

	it('falls back to the capability set where --privileged is refused', () => {
		expect(securityArgs('capabilities', 1)).toEqual([
			'--cap-add',
			'ALL',
			'--cap-drop',
			'SYS_RESOURCE',
			'--security-opt',
			'seccomp=unconfined',
			'--security-opt',
			'apparmor=unconfined',
			'--volume',
			'/sys/fs/cgroup:/sys/fs/cgroup:rw',
		]);
		expect(securityArgs('privileged', 1)).toEqual(['--privileged']);
		expect(securityArgs('privileged', 2)).toContain('--cgroupns');
	});

	it('makes the private network internal, like a VPC, and the public one not', () => {
		const privateArgs = networkCreateArgs('demo', 'o', 'private', '10.100.1.0/24');
		const publicArgs = networkCreateArgs('demo', 'o', 'public', '10.100.2.0/24');
		expect(privateArgs).toContain('--internal');
		expect(publicArgs).not.toContain('--internal');
		expect(labels(privateArgs)).toMatchObject({
			'swarmbee.cluster': 'demo',
			'swarmbee.node': 'all',
			'swarmbee.network': 'private',
		});
		expect(privateArgs.at(-1)).toBe(names.network('demo', 'private'));
	});

	it('attaches the private NIC at a fixed address', () => {
		expect(connectPrivateArgs('demo', 'queenbee', '10.100.1.10')).toEqual([
			'network',
			'connect',
			'--ip',
			'10.100.1.10',
			'swarmbee-demo-private',
			'swarmbee-demo-queenbee',
		]);
	});
});

describe('tarArchive', () => {
	it('writes files with exact modes that tar reads back', () => {
		const dir = mkdtempSync(path.join(tmpdir(), 'sb-tar-'));
		try {
			const archive = path.join(dir, 'a.tar');
			const body = 'x'.repeat(700);
			execFileSync('sh', ['-c', `cat > ${archive}`], {
				input: tarArchive([
					{path: 'etc/ssh', mode: 0o755},
					{path: 'etc/ssh/key', mode: 0o600, contents: body},
					{path: 'root/.ssh/authorized_keys', mode: 0o600, contents: 'ssh-ed25519 AAAA\n'},
				]),
			});
			const listing = execFileSync('tar', ['-tvf', archive], {encoding: 'utf8'});
			expect(listing).toMatch(/-rw------- root\/root\s+700 .* etc\/ssh\/key/);
			execFileSync('tar', ['-xf', archive, '-C', dir]);
			expect(readFileSync(path.join(dir, 'etc/ssh/key'), 'utf8')).toBe(body);
			expect(statSync(path.join(dir, 'etc/ssh/key')).mode & 0o777).toBe(0o600);
		} finally {
			rmSync(dir, {recursive: true, force: true});
		}
	});
});
