/**
 * `swarmbee --version` must start about as fast as Node itself (target:
 * at most 1.5x `node -e 0`) and load neither Ink nor React.
 *
 *     npm run build && node dist/bench/version-startup.js [--runs 40]
 */
import {spawnSync} from 'node:child_process';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {defined} from '../source/errors.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const cli = path.join(root, 'dist/source/cli.js');
const runsFlag = process.argv.indexOf('--runs');
const runs = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 40;

function time(args: string[]): number {
	const started = process.hrtime.bigint();
	const result = spawnSync(process.execPath, args, {stdio: 'ignore'});
	if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}`);
	return Number(process.hrtime.bigint() - started) / 1e6;
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	return defined(sorted[Math.floor(sorted.length / 2)], 'a median of no samples');
}

/** Module URLs `--version` resolves, through the import-trace hook. */
function versionImports(): string[] {
	const trace = spawnSync(process.execPath, ['--import', path.join(root, 'bench/import-trace.mjs'), cli, '--version'], {
		encoding: 'utf8',
	}).stderr;
	return trace
		.split('\n')
		.filter(line => line.startsWith('import-trace '))
		.map(line => line.slice('import-trace '.length));
}

const baseline: number[] = [];
const version: number[] = [];
time(['-e', '0']);
time([cli, '--version']);
for (let i = 0; i < runs; i++) {
	// Interleaved, so machine noise hits both alike.
	baseline.push(time(['-e', '0']));
	version.push(time([cli, '--version']));
}
const imports = versionImports();
const heavy = imports.filter(url => /node_modules\/(ink|react|react-reconciler|yoga-layout)\//.test(url));
const ratio = median(version) / median(baseline);
console.log(`node -e 0            median ${median(baseline).toFixed(1)} ms over ${runs} runs`);
console.log(`swarmbee --version   median ${median(version).toFixed(1)} ms over ${runs} runs`);
console.log(`ratio                ${ratio.toFixed(2)}x (target <= 1.5x)`);
console.log(
	`modules resolved     ${imports.length}; Ink/React among them: ${heavy.length === 0 ? 'none' : heavy.join(', ')}`,
);
console.log(
	JSON.stringify({
		bench: 'version-startup',
		runs,
		nodeMs: median(baseline),
		versionMs: median(version),
		ratio,
		modules: imports.length,
		heavy: heavy.length,
	}),
);
if (ratio > 1.5 || heavy.length > 0) process.exitCode = 1;
