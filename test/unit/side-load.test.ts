import {PassThrough, Readable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {describe, expect, it} from 'vitest';
import {FanOut, sideLoadImage} from '../../source/nodes/side-load.js';
import type {DockerRunOptions} from '../../source/docker/cli.js';
import {NodeFailures} from '../../source/errors.js';
import {RecordedDocker, RecordedShells} from './recorder.js';

const ARCHIVE_BYTES = 3 * 1024 * 1024 + 17;

/** Docker whose `save` writes an archive of ARCHIVE_BYTES into the stream it is given, in 64 KiB chunks, and ends it. */
class SavingDocker extends RecordedDocker {
	override async run(args: string[], options: DockerRunOptions = {}): Promise<string> {
		const answer = await super.run(args, options);
		if (args[0] === 'save' && options.stdoutTo) {
			const chunks = function* () {
				for (let at = 0; at < ARCHIVE_BYTES; at += 65_536) yield Buffer.alloc(Math.min(65_536, ARCHIVE_BYTES - at), 7);
			};
			await pipeline(Readable.from(chunks()), options.stdoutTo);
		}
		return answer;
	}
}

const image = {tag: 'swarmbee-rethinkdb:abc', id: 'sha256:abc'};

describe('FanOut: one stream into many', () => {
	it('gives every target the whole stream, at the pace of the slowest, and lets a failed one go', async () => {
		const fast = new PassThrough({highWaterMark: 1024});
		const slow = new PassThrough({highWaterMark: 1024});
		const failing = new PassThrough({highWaterMark: 1024});
		const received = new Map<PassThrough, number>([
			[fast, 0],
			[slow, 0],
		]);
		fast.on('data', (chunk: Buffer) => received.set(fast, received.get(fast)! + chunk.length));
		// The slow one reads a chunk every few ms: the source must wait for it, not buffer for it.
		const readSlowly = async () => {
			for await (const chunk of slow) {
				received.set(slow, received.get(slow)! + (chunk as Buffer).length);
				await new Promise(resolve => setTimeout(resolve, 1));
			}
		};
		const slowDone = readSlowly();
		// Nobody reads the failing one: it fills, and is dropped, as a node whose load failed.
		const fanOut = new FanOut([fast, slow, failing]);
		setTimeout(() => fanOut.drop(failing), 20);
		const chunks = function* () {
			for (let i = 0; i < 200; i++) yield Buffer.alloc(1000, i);
		};
		await pipeline(Readable.from(chunks()), fanOut);
		await slowDone;
		expect(received.get(fast)).toBe(200_000);
		expect(received.get(slow)).toBe(200_000);
		expect(failing.destroyed).toBe(true);
		expect(fast.writableEnded && slow.writableEnded).toBe(true);
	});
});

describe('sideLoadImage: one save streamed into every node that lacks the image', () => {
	const present = (node: string) => ({node, match: 'docker image inspect', reply: image.id});
	const missing = (node: string) => ({node, match: 'docker image inspect', reply: ''});

	it('one docker save for all missing nodes; each node loads the whole archive; a node that has it is left alone', async () => {
		const docker = new SavingDocker([{match: 'save', reply: ''}]);
		const ssh = new RecordedShells([
			present('queenbee'),
			missing('workerbee-1'),
			missing('workerbee-2'),
			missing('workerbee-3'),
			{match: 'docker load -q', reply: 'Loaded image: swarmbee-rethinkdb:abc'},
		]);
		const progress: string[] = [];
		const result = await sideLoadImage(
			docker,
			ssh,
			['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3'].map(name => ({name})),
			image,
			{onProgress: (node, message, done) => progress.push(`${node} ${done ? 'done' : 'busy'}: ${message}`)},
		);
		expect(result).toEqual({
			loaded: expect.arrayContaining(['workerbee-1', 'workerbee-2', 'workerbee-3']),
			present: ['queenbee'],
		});
		expect(docker.commands.filter(args => args[0] === 'save')).toEqual([['save', image.tag]]);
		const loads = ssh.commands.filter(c => c.command === 'docker load -q');
		expect(loads.map(c => c.node).sort()).toEqual(['workerbee-1', 'workerbee-2', 'workerbee-3']);
		for (const load of loads) expect(load.stdin).toBe(`<${ARCHIVE_BYTES} bytes>`);
		expect(progress).toContain('workerbee-2 done: swarmbee-rethinkdb:abc loaded');
	});

	it('more nodes than the limit: one save per group', async () => {
		const docker = new SavingDocker([{match: 'save', reply: ''}]);
		const nodes = ['a', 'b', 'c', 'd', 'e'];
		const ssh = new RecordedShells([...nodes.map(missing), {match: 'docker load -q', reply: ''}]);
		await sideLoadImage(
			docker,
			ssh,
			nodes.map(name => ({name})),
			image,
			{limit: 2},
		);
		expect(docker.commands.filter(args => args[0] === 'save')).toHaveLength(3);
		expect(
			ssh.commands.filter(c => c.command === 'docker load -q').every(c => c.stdin === `<${ARCHIVE_BYTES} bytes>`),
		).toBe(true);
	});

	it('a node whose load fails is named; the others still get the whole image', async () => {
		const docker = new SavingDocker([{match: 'save', reply: ''}]);
		const ssh = new RecordedShells([
			missing('queenbee'),
			missing('workerbee-1'),
			{node: 'workerbee-1', match: 'docker load -q', reply: {code: 1, stderr: 'no space left on device'}},
			{match: 'docker load -q', reply: ''},
		]);
		const error = await sideLoadImage(docker, ssh, [{name: 'queenbee'}, {name: 'workerbee-1'}], image).catch(
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(NodeFailures);
		expect((error as NodeFailures).message).toContain('workerbee-1');
		expect(ssh.commands.find(c => c.node === 'queenbee' && c.command === 'docker load -q')?.stdin).toBe(
			`<${ARCHIVE_BYTES} bytes>`,
		);
	});

	it('a save that fails ends every load and is the error said', async () => {
		const docker = new RecordedDocker([
			{match: 'save', reply: {code: 1, stderr: 'Error response from daemon: no such image'}},
		]);
		const ssh = new RecordedShells([
			missing('queenbee'),
			{match: 'docker load -q', reply: {code: 1, stderr: 'unexpected EOF'}},
		]);
		const error = await sideLoadImage(docker, ssh, [{name: 'queenbee'}], image).catch((e: unknown) => e as Error);
		expect((error as Error).message).toContain('no such image');
	});
});
