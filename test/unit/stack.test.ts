import {execFileSync} from 'node:child_process';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {
	cacheSizeMb,
	composeEscape,
	passwordSecretContent,
	passwordSecretName,
	renderStackFile,
	serverArguments,
	serverCommand,
	serverName,
	serverScript,
	stackDeployCommand,
	type StackInput,
} from '../../source/database/stack.js';

const input: StackInput = {
	cluster: 'demo',
	nodes: ['queenbee', 'workerbee-1', 'workerbee-2'],
	image: 'rethinkdb:2.4.4-bookworm-slim',
	memoryLimitBytes: 450 * 1024 * 1024,
	network: {name: 'swarmbee', subnet: '10.217.40.0/22'},
	databaseNetwork: {name: 'swarmbee-db', subnet: '10.217.44.0/24'},
	secret: 'swarmbee_rethinkdb_admin_0123456789',
};

/** The stack file as data, read by a real YAML parser (PyYAML or Ruby's), as Docker's would. */
// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, indexed freely by the assertions
function parseYaml(text: string): Record<string, any> {
	// Ruby and Python ship YAML parsers on most machines; use whichever exists so the test reads what Docker will read.
	for (const [cmd, args] of [
		['python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))']],
		['ruby', ['-ryaml', '-rjson', '-e', 'puts JSON.generate(YAML.safe_load(STDIN.read))']],
	] as const) {
		try {
			return JSON.parse(execFileSync(cmd, args, {input: text, encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore']}));
		} catch {
			// try the next parser
		}
	}
	throw new Error('no YAML parser (python3-yaml or ruby) on this machine');
}

const stack = renderStackFile(input);

describe('renderStackFile', () => {
	const parsed = parseYaml(stack);
	const service = (node: string) => parsed.services[`rdb-${node}`];

	it('has one service per node, each pinned to its node with its own volume', () => {
		expect(Object.keys(parsed.services)).toEqual(['rdb-queenbee', 'rdb-workerbee-1', 'rdb-workerbee-2']);
		for (const node of input.nodes) {
			expect(service(node).image).toBe('rethinkdb:2.4.4-bookworm-slim');
			expect(service(node).deploy.placement.constraints).toEqual([`node.hostname == ${node}`]);
			expect(service(node).volumes).toEqual([`rdb-${node}-data:/data`]);
			expect(service(node).deploy.replicas).toBe(1);
		}
		expect(Object.keys(parsed.volumes)).toEqual(['rdb-queenbee-data', 'rdb-workerbee-1-data', 'rdb-workerbee-2-data']);
	});

	it('uses dnsrr, the two overlays, and publishes no port', () => {
		for (const node of input.nodes) {
			expect(service(node).deploy.endpoint_mode).toBe('dnsrr');
			expect(service(node).networks).toEqual({
				swarmbee: {},
				'swarmbee-db': {aliases: ['rdb-peers', `rdb-peer-${node}`]},
			});
			expect(service(node).ports).toBeUndefined();
		}
		expect(stack).not.toMatch(/published/);
		expect(parsed.networks).toEqual({swarmbee: {external: true}, 'swarmbee-db': {external: true}});
	});

	it('limits and reserves memory from the spec and sets the cache explicitly', () => {
		for (const node of input.nodes)
			expect(service(node).deploy.resources).toEqual({limits: {memory: '450M'}, reservations: {memory: '450M'}});
		expect(cacheSizeMb(input.memoryLimitBytes)).toBe(202);
		expect(serverScript(input.memoryLimitBytes)).toContain('--cache-size 202');
		expect(cacheSizeMb(200 * 1024 * 1024)).toBe(100);
	});

	it("runs the same script on every server, so adding or removing one leaves the others' services as they are", () => {
		const scripts = input.nodes.map(node => service(node).command[2]);
		expect(new Set(scripts).size).toBe(1);
		// A server's whole definition does not depend on which other nodes exist.
		const bigger = parseYaml(renderStackFile({...input, nodes: [...input.nodes, 'workerbee-3', 'workerbee-4']}));
		const smaller = parseYaml(renderStackFile({...input, nodes: ['queenbee', 'workerbee-1']}));
		for (const node of ['queenbee', 'workerbee-1']) {
			expect(bigger.services[`rdb-${node}`]).toEqual(service(node));
			expect(smaller.services[`rdb-${node}`]).toEqual(service(node));
		}
	});

	it('names servers after their nodes; only the first one starts without waiting for it', () => {
		expect(serverName('workerbee-1')).toBe('workerbee_1');
		expect(serverArguments(input, 'queenbee')).toEqual(['queenbee', '', '10.217.40.0/22', '10.217.44.0/24', '30']);
		expect(serverArguments(input, 'workerbee-2')).toEqual([
			'workerbee_2',
			'rdb-peer-queenbee',
			'10.217.40.0/22',
			'10.217.44.0/24',
			'30',
		]);
		expect(serverCommand(input, 'workerbee-2')).toEqual([
			'sh',
			'-c',
			serverScript(input.memoryLimitBytes),
			'rdb-server',
			...serverArguments(input, 'workerbee-2'),
		]);
		const script = serverScript(input.memoryLimitBytes);
		expect(script).toContain('--server-name "$name"');
		expect(script).toContain('--canonical-address "$mine"');
		expect(script).toContain('--bind-cluster "$mine"');
		expect(script).toContain('--directory /data/rethinkdb_data');
	});

	it('gives every server the admin password as a secret file, never on a command line', () => {
		for (const node of input.nodes)
			expect(service(node).secrets).toEqual([
				{source: 'swarmbee_rethinkdb_admin_0123456789', target: 'rethinkdb-admin.conf', mode: 0o400},
			]);
		const script = serverScript(input.memoryLimitBytes);
		expect(script).toContain('--config-file /run/secrets/rethinkdb-admin.conf');
		expect(script).not.toContain('--initial-password');
		expect(parsed.secrets).toEqual({swarmbee_rethinkdb_admin_0123456789: {external: true}});
		expect(passwordSecretContent('s3cret')).toBe('initial-password=s3cret\n');
		expect(passwordSecretName('s3cret')).toMatch(/^swarmbee_rethinkdb_admin_[0-9a-f]{10}$/);
		expect(passwordSecretName('s3cret')).not.toContain('s3cret');
	});

	it('is a script sh accepts', () => {
		execFileSync('sh', ['-n', '-c', serverScript(input.memoryLimitBytes)]);
	});

	it('parses as YAML into exactly what it says: every $ written $$ for Compose', () => {
		const command = service('workerbee-1').command as string[];
		expect(command.map(part => part.replaceAll('$$', '$'))).toEqual(serverCommand(input, 'workerbee-1'));
		expect(command[2]).not.toMatch(/(^|[^$])\$([^$]|$)/);
	});

	it('deploys with --prune, so servers of removed nodes go away', () => {
		expect(stackDeployCommand('/root/.swarmbee/stack.yml', 'never')).toBe(
			'docker stack deploy --prune --resolve-image never -c /root/.swarmbee/stack.yml swarmbee',
		);
	});
});

describe('composeEscape', () => {
	it('doubles every dollar', () => {
		expect(composeEscape('a=$(x) "$addr" $$')).toBe('a=$$(x) "$$addr" $$$$');
	});
});

describe("serverScript, run by sh with the node's tools played by small scripts", () => {
	/**
	 * `hostname -I`, `getent ahostsv4` and `rethinkdb` replaced on PATH: the
	 * script's own logic (addresses by subnet, peers by alias, waiting for
	 * the first server) runs for real; rethinkdb prints its arguments.
	 */
	function run(
		node: string,
		dns: Record<string, string[]>,
		patience: string,
		addresses = '10.217.40.5 172.18.0.3 10.217.44.7',
		restart: {seedWaits?: boolean; withData?: boolean; later?: {after: number; dns: Record<string, string[]>}} = {},
	): string[] {
		const bin = mkdtempSync(path.join(tmpdir(), 'sb-script-'));
		try {
			writeFileSync(path.join(bin, 'hostname'), `#!/bin/sh\necho "${addresses} "\n`, {mode: 0o755});
			const table = (names: Record<string, string[]>) =>
				`${Object.entries(names)
					.flatMap(([name, ips]) => ips.map(ip => `${name} ${ip}`))
					.join('\n')}\n`;
			writeFileSync(path.join(bin, 'dns'), table(dns));
			writeFileSync(path.join(bin, 'dns-later'), table(restart.later?.dns ?? dns));
			writeFileSync(path.join(bin, 'asked'), '');
			// getent ahostsv4 NAME…: three lines per address, as glibc prints them; exit 2 when a name is unknown.
			// From its call number `after` on, it answers from dns-later (names the node's dockerd learnt meanwhile).
			writeFileSync(
				path.join(bin, 'getent'),
				`#!/bin/sh\nshift; code=0\necho . >>"${bin}/asked"\nfile="${bin}/dns"; [ "$(wc -l <"${bin}/asked")" -gt ${restart.later?.after ?? 1_000} ] && file="${bin}/dns-later"\nfor name in "$@"; do\n  found=$(awk -v n="$name" '$1 == n { print $2 }' "$file")\n  [ -n "$found" ] || code=2\n  for ip in $found; do printf '%s STREAM %s\\n%s DGRAM\\n%s RAW\\n' "$ip" "$name" "$ip" "$ip"; done\ndone\nexit $code\n`,
				{mode: 0o755},
			);
			// The server's data directory, where the script looks for it (only that path changed, for the test).
			const data = path.join(bin, 'rethinkdb_data');
			if (restart.withData) mkdirSync(data);
			const script = serverScript(input.memoryLimitBytes, false, restart.seedWaits === true).replaceAll(
				'/data/rethinkdb_data',
				data,
			);
			writeFileSync(path.join(bin, 'rethinkdb'), '#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n', {mode: 0o755});
			writeFileSync(path.join(bin, 'sleep'), '#!/bin/sh\nexit 0\n', {mode: 0o755});
			const output = execFileSync(
				'sh',
				['-c', script, 'rdb-server', ...serverArguments(input, node).slice(0, 4), patience],
				{
					encoding: 'utf8',
					env: {PATH: `${bin}:/usr/bin:/bin`},
					timeout: 10_000,
				},
			);
			return output.split('\n').filter(line => !line.startsWith('rethinkdb server') && !line.startsWith('waiting for'));
		} finally {
			rmSync(bin, {recursive: true, force: true});
		}
	}
	const argAfter = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

	it('binds the cluster port to its database-network address and the console to the node-local one, and joins every other peer', () => {
		const args = run(
			'workerbee-1',
			{'rdb-peers': ['10.217.44.7', '10.217.44.8', '10.217.44.9'], 'rdb-peer-queenbee': ['10.217.44.9']},
			'30',
		);
		expect(argAfter(args, '--bind-cluster')).toEqual(['10.217.44.7']);
		expect(argAfter(args, '--canonical-address')).toEqual(['10.217.44.7']);
		expect(argAfter(args, '--bind-http')).toEqual(['172.18.0.3']);
		expect(argAfter(args, '--bind-driver')).toEqual(['all']);
		expect(argAfter(args, '--join')).toEqual(['10.217.44.8:29015', '10.217.44.9:29015']);
		expect(argAfter(args, '--server-name')).toEqual(['workerbee_1']);
	});

	it('lets the first server start alone, and a joiner go without the first one once its patience is spent', () => {
		expect(argAfter(run('queenbee', {'rdb-peers': ['10.217.44.7']}, '30'), '--join')).toEqual([]);
		// queenbee's alias does not resolve; patience 0: the joiner takes the peers it has.
		expect(argAfter(run('workerbee-2', {'rdb-peers': ['10.217.44.7', '10.217.44.8']}, '0'), '--join')).toEqual([
			'10.217.44.8:29015',
		]);
	});

	it('with seedWaits, the first server restarted with data waits until another server resolves, and joins it', () => {
		// queenbee's dockerd has just restarted: for two asks it knows only queenbee's own name.
		const args = run('queenbee', {'rdb-peers': ['10.217.44.7']}, '30', undefined, {
			seedWaits: true,
			withData: true,
			later: {after: 2, dns: {'rdb-peers': ['10.217.44.7', '10.217.44.8']}},
		});
		expect(args.filter(line => line.startsWith('restarted with data'))).toHaveLength(2);
		expect(argAfter(args, '--join')).toEqual(['10.217.44.8:29015']);
	});

	it('with seedWaits, the first server of a fresh cluster starts at once, and one restarted alone starts after its patience', () => {
		const fresh = run('queenbee', {'rdb-peers': ['10.217.44.7']}, '30', undefined, {seedWaits: true});
		expect(fresh.filter(line => line.startsWith('restarted with data'))).toEqual([]);
		expect(argAfter(fresh, '--join')).toEqual([]);
		const alone = run('queenbee', {'rdb-peers': ['10.217.44.7']}, '4', undefined, {seedWaits: true, withData: true});
		// Four times its patience of 4 s, asking every 2 s.
		expect(alone.filter(line => line.startsWith('restarted with data'))).toHaveLength(8);
		expect(argAfter(alone, '--join')).toEqual([]);
	});

	it('without seedWaits (clusters deployed before it), the script is the text it was: the first server never waits', () => {
		const before = run('queenbee', {'rdb-peers': ['10.217.44.7']}, '30', undefined, {withData: true});
		expect(before.filter(line => line.startsWith('restarted with data'))).toEqual([]);
		expect(serverScript(input.memoryLimitBytes)).not.toContain('rethinkdb_data ]');
	});

	it('refuses to start without an address on the database network', () => {
		expect(() => run('workerbee-1', {'rdb-peers': []}, '0', '10.217.40.5 172.18.0.3')).toThrow(
			/no address on the database network 10.217.44.0\/24/,
		);
	});
});
