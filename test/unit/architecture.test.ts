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

	it('providers, the SSH layer, the nodes, the database, what is observed and the store know nothing of steps, runs, sessions or commands', () => {
		const lower = (file: string) =>
			[
				'source/providers/',
				'source/ssh/',
				'source/nodes/',
				'source/database/',
				'source/observe/',
				'source/access/',
				'source/store/',
				'source/docker/',
				'source/render/',
			].some(folder => file.startsWith(folder));
		expect(
			arrows(
				lower,
				file =>
					file.startsWith('steps/') ||
					file.startsWith('source/run/') ||
					file.startsWith('source/session/') ||
					file.startsWith('source/commands/'),
			),
		).toEqual([]);
	});

	/**
	 * Folders as a whole import one another in one direction only: a loop of
	 * folders (nodes/ ↔ providers/, say) is a layering nobody can draw, even
	 * where no two files import each other. Process entries (cli.ts, main.ts,
	 * docker-socket-helper.ts) stand above everything; the ground floor
	 * (source/*.ts) below it.
	 */
	it('no loop between folders', () => {
		const ENTRIES = new Set(['source/cli.ts', 'source/main.ts', 'source/docker-socket-helper.ts']);
		const folderOf = (file: string) => {
			if (ENTRIES.has(file)) return 'entry';
			const parts = file.split('/');
			if (parts[0] === 'source') return parts.length > 2 ? `source/${parts[1]}` : 'source (ground)';
			return parts[0]!;
		};
		const edges = new Map<string, Set<string>>();
		for (const [file, imports] of Object.entries(graph)) {
			for (const target of imports) {
				const [from, to] = [folderOf(file), folderOf(target)];
				if (from !== to) edges.set(from, new Set([...(edges.get(from) ?? []), to]));
			}
		}
		// Every folder that can reach itself through others: a loop.
		const reaches = (from: string, to: string, seen = new Set<string>()): boolean => {
			for (const next of edges.get(from) ?? []) {
				if (next === to) return true;
				if (seen.has(next)) continue;
				seen.add(next);
				if (reaches(next, to, seen)) return true;
			}
			return false;
		};
		const loops = [...edges.keys()]
			.filter(folder => reaches(folder, folder))
			.map(folder => `${folder} -> ${[...(edges.get(folder) ?? [])].filter(next => reaches(next, folder)).join(', ')}`);
		expect(loops).toEqual([]);
	});

	it("a provider's own words (first boot, its machines' names) live in its folder, not in the steps", () => {
		// Code and the text it prints, not comments: a comment may say which provider it has in mind.
		const code = (file: string) =>
			readFileSync(path.join(root, file), 'utf8')
				.replace(/\/\*[\s\S]*?\*\//g, '')
				.replace(/^\s*\/\/.*$/gm, '');
		const words = /user_data|cloud-init|droplet|digitalocean/i;
		const found = Object.keys(graph)
			.filter(file => file.startsWith('steps/'))
			.flatMap(file =>
				code(file)
					.split('\n')
					.filter(line => words.test(line))
					.map(line => `${file}: ${line.trim()}`),
			);
		expect(found).toEqual([]);
	});
});
