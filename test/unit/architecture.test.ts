import {readFileSync} from 'node:fs';
import path from 'node:path';
import madge from 'madge';
import {beforeAll, describe, expect, it} from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/**
 * The import rules of ARCHITECTURE.md, checked on the real graph (madge,
 * type-only and dynamic imports counted, as `npm run cycles` counts them).
 */
describe('architecture', () => {
	let graph: Record<string, string[]>;
	beforeAll(async () => {
		const rc = JSON.parse(readFileSync(path.join(root, '.madgerc'), 'utf8'));
		const result = await madge(['source', 'steps', 'components'], {
			baseDir: root,
			...rc,
			tsConfig: path.join(root, rc.tsConfig),
		});
		graph = result.obj();
		expect(result.circular()).toEqual([]);
	}, 60_000);

	/** Every import from a file under `from` into a file under `to`, as `a -> b`. */
	const arrows = (from: (file: string) => boolean, to: (file: string) => boolean) =>
		Object.entries(graph).flatMap(([file, imports]) =>
			from(file) ? imports.filter(to).map(target => `${file} -> ${target}`) : [],
		);
	const under = (folder: string) => (file: string) => file.startsWith(folder);
	const SUPPORT = new Set(['source/commands/args.ts', 'source/commands/index.ts']);
	const isCommand = (file: string) => file.startsWith('source/commands/') && !SUPPORT.has(file);

	it('reads the whole tree', () => {
		expect(Object.keys(graph)).toContain('source/commands/up.ts');
		expect(graph['source/commands/index.ts']).toContain('source/commands/up.ts');
	});

	it('a command imports no other command; only the command table loads them', () => {
		expect(arrows(file => !file.startsWith('source/commands/index.ts'), isCommand)).toEqual([]);
	});

	it('nothing below the commands imports them (main and the command table stand above)', () => {
		expect(
			arrows(file => !file.startsWith('source/commands/') && file !== 'source/main.ts', under('source/commands/')),
		).toEqual([]);
	});

	it('Ink components are loaded by session/io.ts and session/dashboard.ts alone; render/ never reaches them', () => {
		expect(
			arrows(
				file =>
					!file.startsWith('components/') && file !== 'source/session/io.ts' && file !== 'source/session/dashboard.ts',
				under('components/'),
			),
		).toEqual([]);
	});

	it('a step imports no other step (what two steps share lives below them)', () => {
		const isStep = (file: string) =>
			file.startsWith('steps/') && file !== 'steps/types.ts' && file !== 'steps/index.ts';
		expect(arrows(isStep, isStep)).toEqual([]);
	});

	it('providers, the SSH layer, cluster logic and the store know nothing of steps, runs or commands', () => {
		const lower = (file: string) =>
			['source/providers/', 'source/ssh/', 'source/cluster/', 'source/store/', 'source/docker/', 'source/render/'].some(
				folder => file.startsWith(folder),
			);
		expect(
			arrows(
				lower,
				file => file.startsWith('steps/') || file.startsWith('source/run/') || file.startsWith('source/commands/'),
			),
		).toEqual([]);
	});
});
