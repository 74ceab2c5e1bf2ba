import {execFileSync} from 'node:child_process';
import {describe, expect, it} from 'vitest';
import {
	cacheSizeMb, composeEscape, passwordSecretContent, passwordSecretName, renderStackFile, serverCommand, serverName, stackDeployCommand,
} from '../../source/cluster/stack.js';
import {toYaml} from '../../source/cluster/yaml.js';

const input = {
	cluster: 'demo',
	nodes: ['queenbee', 'workerbee-1', 'workerbee-2'],
	image: 'rethinkdb:2.4.4-bookworm-slim',
	memoryLimitBytes: 450 * 1024 * 1024,
	network: 'swarmbee',
	secret: 'swarmbee_rethinkdb_admin_0123456789',
};

/** The stack file as data, read by a real YAML parser (PyYAML or Ruby's), as Docker's would. */
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
	it('has one service per node, each pinned to its node with its own volume', () => {
		for (const node of input.nodes) {
			expect(stack).toContain(`  rdb-${node}:\n    image: "rethinkdb:2.4.4-bookworm-slim"`);
			expect(stack).toContain(`"node.hostname == ${node}"`);
			expect(stack).toContain(`"rdb-${node}-data:/data"`);
		}
		expect(stack.match(/replicas: 1/g)).toHaveLength(3);
	});

	it('uses dnsrr, the overlay only, and publishes no port', () => {
		expect(stack.match(/endpoint_mode: "dnsrr"/g)).toHaveLength(3);
		expect(stack).not.toMatch(/\bports:/);
		expect(stack).not.toMatch(/published/);
		expect(stack).toContain('networks:\n  swarmbee:\n    external: true');
	});

	it('limits and reserves memory from the spec and sets the cache explicitly', () => {
		expect(stack.match(/limits:\n {10}memory: "450M"/g)).toHaveLength(3);
		expect(stack.match(/reservations:\n {10}memory: "450M"/g)).toHaveLength(3);
		expect(cacheSizeMb(input.memoryLimitBytes)).toBe(202);
		expect(stack.match(/--cache-size 202/g)).toHaveLength(3);
		expect(cacheSizeMb(200 * 1024 * 1024)).toBe(100);
	});

	it('names servers after their nodes and advertises each one\'s own overlay address', () => {
		expect(serverName('workerbee-1')).toBe('workerbee_1');
		const command = serverCommand(input, 'workerbee-1');
		expect(command).toContain('--server-name workerbee_1');
		expect(command).toContain("self=rdb-workerbee-1");
		expect(command).toContain('--canonical-address "$addr"');
		expect(command).toContain('--directory /data/rethinkdb_data');
	});

	it('lets the first server bootstrap, and the others wait for it and join it', () => {
		const first = serverCommand(input, 'queenbee');
		expect(first).not.toContain('waiting for rdb-queenbee');
		const second = serverCommand(input, 'workerbee-2');
		expect(second).toContain('until getent ahostsv4 rdb-queenbee');
		expect(second).toContain('for peer in rdb-queenbee rdb-workerbee-1; do');
		expect(second).toContain('--join $peer:29015');
	});

	it('gives the admin password to the first server as a secret, never on a command line', () => {
		expect(stack).toContain('secrets:\n      - source: "swarmbee_rethinkdb_admin_0123456789"\n        target: "rethinkdb-admin.conf"');
		expect(serverCommand(input, 'queenbee')).toContain('--config-file /run/secrets/rethinkdb-admin.conf');
		expect(serverCommand(input, 'workerbee-1')).toContain('--initial-password auto');
		expect(stack).toContain('secrets:\n  swarmbee_rethinkdb_admin_0123456789:\n    external: true');
		expect(passwordSecretContent('s3cret')).toBe('initial-password=s3cret\n');
		expect(passwordSecretName('s3cret')).toMatch(/^swarmbee_rethinkdb_admin_[0-9a-f]{10}$/);
		expect(passwordSecretName('s3cret')).not.toContain('s3cret');
	});

	it('is a script sh accepts', () => {
		for (const node of input.nodes) execFileSync('sh', ['-n', '-c', serverCommand(input, node)]);
		execFileSync('sh', ['-n', '-c', serverCommand({...input, nodes: ['queenbee']}, 'queenbee')]);
	});

	it('parses as YAML into exactly what it says', () => {
		const parsed = parseYaml(stack);
		expect(Object.keys(parsed.services)).toEqual(['rdb-queenbee', 'rdb-workerbee-1', 'rdb-workerbee-2']);
		expect(parsed.services['rdb-workerbee-1'].deploy.endpoint_mode).toBe('dnsrr');
		// Compose interpolates $VAR: every $ of the script is written $$ and read back as one.
		expect(parsed.services['rdb-workerbee-1'].command[2].replaceAll('$$', '$')).toBe(serverCommand(input, 'workerbee-1'));
		expect(parsed.services['rdb-workerbee-1'].command[2]).not.toMatch(/(^|[^$])\$([^$]|$)/);
	});

	it('deploys with --prune, so servers of removed nodes go away', () => {
		expect(stackDeployCommand('/root/.swarmbee/stack.yml', 'never')).toBe('docker stack deploy --prune --resolve-image never -c /root/.swarmbee/stack.yml swarmbee');
	});
});

describe('composeEscape', () => {
	it('doubles every dollar', () => {
		expect(composeEscape('a=$(x) "$addr" $$')).toBe('a=$$(x) "$$addr" $$$$');
	});
});

describe('toYaml', () => {
	it('writes nested maps, lists of maps and quoted scalars', () => {
		expect(toYaml({a: {b: [1, 'x'], 'c.d': true}, e: [{f: 'g', h: {i: null}}], j: []})).toBe([
			'a:',
			'  b:',
			'    - 1',
			'    - "x"',
			'  c.d: true',
			'e:',
			'  - f: "g"',
			'    h:',
			'      i: null',
			'j: []',
			'',
		].join('\n'));
	});
});
