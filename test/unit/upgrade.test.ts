import {describe, expect, it} from 'vitest';
import {renderStackFile} from '../../source/database/stack.js';
import {
	imageVersionCommand,
	parseRethinkdbVersion,
	versionRefusal,
	waitForTaskImage,
} from '../../source/database/upgrade.js';

const v = (text: string) => {
	const parsed = parseRethinkdbVersion(text);
	if (!parsed) throw new Error(`no version in ${text}`);
	return parsed;
};

describe('which RethinkDB may follow which, one server at a time', () => {
	it('reads the version as the binary and server_status say it, and nothing from other words', () => {
		expect(v('rethinkdb 2.4.4 (x86_64-linux-gnu) (GCC 12.2.0)\nLinux 6.1 x86_64')).toMatchObject({
			major: 2,
			minor: 4,
			patch: 4,
			text: 'rethinkdb 2.4.4 (x86_64-linux-gnu) (GCC 12.2.0)',
		});
		expect(v('rethinkdb 2.4.3~0bookworm (CLANG 14.0.6)').patch).toBe(3);
		expect(parseRethinkdbVersion('bash: rethinkdb: command not found')).toBeUndefined();
		expect(parseRethinkdbVersion('')).toBeUndefined();
		// A node's words are shown: control characters go.
		expect(v('rethinkdb 2.4.4 \u001b[31mred\u001b[0m').text).toBe('rethinkdb 2.4.4 [31mred[0m');
	});

	it('a patch release either way, or the same rebuilt, may roll; another minor or major version is refused with the way to do it', () => {
		const running = [v('rethinkdb 2.4.4 (GCC)'), v('rethinkdb 2.4.4 (GCC)')];
		expect(versionRefusal('demo', 'r:2.4.4b', running, v('rethinkdb 2.4.4 (GCC)'))).toBeUndefined();
		expect(versionRefusal('demo', 'r:2.4.5', running, v('rethinkdb 2.4.5 (GCC)'))).toBeUndefined();
		expect(versionRefusal('demo', 'r:2.4.2', running, v('rethinkdb 2.4.2 (GCC)'))).toBeUndefined();
		const across = versionRefusal('demo', 'r:2.5.0', running, v('rethinkdb 2.5.0 (GCC)'));
		expect(across?.message).toBe(
			'r:2.5.0 is RethinkDB 2.5.0, and the servers run 2.4.4: not the same minor version, so it cannot be rolled in one server at a time',
		);
		expect(across?.nextSteps[0]).toContain('swarmbee backup demo');
		expect(versionRefusal('demo', 'r:3', running, v('rethinkdb 3.0.0'))).toBeDefined();
		// One server already on another minor version (a mixed cluster) is refused too.
		expect(versionRefusal('demo', 'r', [...running, v('rethinkdb 2.3.7')], v('rethinkdb 2.4.4'))).toBeDefined();
	});

	it("asks the image itself, with no network, as the node's root", () => {
		expect(imageVersionCommand('swarmbee-rethinkdb:abc')).toBe(
			'docker run --rm --network none --entrypoint rethinkdb swarmbee-rethinkdb:abc --version',
		);
	});
});

describe('the stack during an upgrade', () => {
	const input = {
		cluster: 'demo',
		nodes: ['queenbee', 'workerbee-1', 'workerbee-2'],
		image: 'old:1',
		memoryLimitBytes: 450 * 1024 * 1024,
		network: {name: 'swarmbee', subnet: '10.0.9.0/24'},
		databaseNetwork: {name: 'swarmbee-db', subnet: '10.0.10.0/24'},
		secret: 'swarmbee_rethinkdb_admin_x',
	};
	const imageLines = (stack: string) => stack.split('\n').filter(line => /^\s+image: /.test(line));

	it('each server keeps the image it runs; only those upgraded so far run the new one', () => {
		const stack = renderStackFile({...input, images: {'workerbee-1': 'new:2'}});
		expect(imageLines(stack).map(l => l.trim())).toEqual(['image: old:1', 'image: new:2', 'image: old:1']);
		// Every server upgraded renders exactly as the cluster's new image does: nothing restarts at the end.
		const all = renderStackFile({
			...input,
			images: {queenbee: 'new:2', 'workerbee-1': 'new:2', 'workerbee-2': 'new:2'},
		});
		expect(all).toBe(renderStackFile({...input, image: 'new:2'}));
	});
});

describe('waitForTaskImage', () => {
	it('waits until the server task running is of the new image, and says what the task is when it never is', async () => {
		const answers = [
			'{"Image":"old:1","CurrentState":"Running 3 minutes ago"}',
			'{"Image":"new:2","CurrentState":"Preparing 1 second ago"}',
			'{"Image":"new:2@sha256:abc","CurrentState":"Running 1 second ago"}',
		];
		const asked: string[] = [];
		await waitForTaskImage(
			{
				run: async command => {
					asked.push(command);
					return answers.shift() ?? '';
				},
			},
			'workerbee-1',
			'new:2',
			{signal: new AbortController().signal, intervalMs: 1},
		);
		expect(asked).toHaveLength(3);
		await expect(
			waitForTaskImage(
				{run: async () => '{"Image":"new:2","CurrentState":"Rejected 1 second ago","Error":"no such image"}'},
				'workerbee-1',
				'new:2',
				{signal: new AbortController().signal, intervalMs: 1, timeoutMs: 20},
			),
		).rejects.toThrow(expect.objectContaining({hint: 'its task: new:2, Rejected 1 second ago: no such image'}));
	});
});
