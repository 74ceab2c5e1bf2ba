import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {describe, expect, it} from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

describe('swarmbee --version', () => {
	it('loads no Ink, no React and no command code (built CLI, import trace)', () => {
		const result = spawnSync(
			process.execPath,
			['--import', path.join(root, 'bench/import-trace.mjs'), path.join(root, 'dist/source/cli.js'), '--version'],
			{encoding: 'utf8'},
		);
		expect(result.status).toBe(0);
		expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
		const modules = result.stderr
			.split('\n')
			.filter(l => l.startsWith('import-trace '))
			.map(l => l.slice(13));
		expect(modules.length).toBeGreaterThan(0);
		expect(
			modules.filter(url => /node_modules\/(ink|react)\//.test(url) || url.includes('/dist/source/main.js')),
		).toEqual([]);
	});
});
