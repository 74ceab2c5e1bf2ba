/**
 * Floods the live run view: four node panes, 50,000 Ansible lines in all,
 * through the real InkRenderer (real Ink, real React, a fake 120x50
 * terminal). Reports renders, CPU and peak RSS. Targets: at most 10 renders
 * a second, under 2 s of CPU, under 150 MB peak RSS.
 *
 *     npm run build && node dist/bench/render-flood.js [--lines 50000] [--seconds 5]
 *
 * `--seconds 0` pushes everything as fast as the event loop allows.
 */
import {PassThrough, Writable} from 'node:stream';
import {event, type RunEvent} from '../source/events.js';
import {defined} from '../source/errors.js';

function flag(name: string, fallback: number): number {
	const index = process.argv.indexOf(`--${name}`);
	return index > 0 ? Number(process.argv[index + 1]) : fallback;
}

const totalLines = flag('lines', 50_000);
const seconds = flag('seconds', 5);
const nodes = ['queenbee', 'workerbee-1', 'workerbee-2', 'workerbee-3'];

// Ink draws only the final frame when it thinks it runs in CI; this
// benchmark measures the interactive view, so it must not.
delete process.env['CI'];
delete process.env['CONTINUOUS_INTEGRATION'];
// As the CLI does (source/cli.ts).
process.env['NODE_ENV'] ??= 'production';
const {InkRenderer} = await import('../components/ink-renderer.js');

let bytes = 0;
let writes = 0;
const stdout = Object.assign(
	new Writable({
		write(chunk, _encoding, done) {
			bytes += chunk.length;
			writes++;
			done();
		},
	}),
	{isTTY: true, columns: 120, rows: 50},
) as unknown as NodeJS.WriteStream;
const stdin = Object.assign(new PassThrough(), {
	isTTY: true,
	setRawMode: () => stdin,
	ref: () => stdin,
	unref: () => stdin,
}) as unknown as NodeJS.ReadStream;

const ANSIBLE = [
	'TASK [Install packages] ********************************************************',
	'changed: [localhost] => (item=rethinkdb)',
	'ok: [localhost]',
	'skipping: [localhost]',
	'Get:17 http://deb.debian.org/debian bookworm/main amd64 libprotobuf32 amd64 3.21.12-3 [946 kB]',
	'ok: [localhost] => {"changed": false, "msg": "All items completed"}',
];

let renders = 0;
let renderMs = 0;
const cpuStart = process.cpuUsage();
const started = performance.now();
const renderer = new InkRenderer(
	{stdout, stdin, stderr: stdout},
	{
		onRender: (metrics?: {renderTime: number}) => {
			renders++;
			renderMs += metrics?.renderTime ?? 0;
		},
		onInterrupt: () => {},
	},
);
renderer.handle(
	event({
		type: 'run-started',
		command: 'up',
		cluster: 'bench',
		provider: 'local',
		steps: [{id: 'provision', title: 'Provision'}],
	}),
);
renderer.handle(event({type: 'step-started', step: 'provision', title: 'Provision'}));
for (const node of nodes) renderer.handle(event({type: 'node-state', node, state: 'provisioning'}));

// Spread the lines over `seconds` in 10 ms slices (a very chatty Ansible: 10,000 lines/s).
const slices = seconds > 0 ? Math.max(1, Math.round((seconds * 1000) / 10)) : Math.ceil(totalLines / 1000);
const perSlice = Math.ceil(totalLines / slices);
let sent = 0;
while (sent < totalLines) {
	const upTo = Math.min(totalLines, sent + perSlice);
	for (; sent < upTo; sent++) {
		const e: RunEvent = event({
			type: 'node-output',
			node: defined(nodes[sent % nodes.length], 'no nodes to send output for'),
			step: 'provision',
			stream: 'stdout',
			line: `${ANSIBLE[sent % ANSIBLE.length]} #${sent}`,
		});
		renderer.handle(e);
	}
	await new Promise(resolve => (seconds > 0 ? setTimeout(resolve, 10) : setImmediate(resolve)));
}
for (const node of nodes) {
	renderer.handle(
		event({
			type: 'node-recap',
			node,
			step: 'provision',
			recap: {ok: 5000, changed: 2500, unreachable: 0, failed: 0, skipped: 2500, rescued: 0, ignored: 0},
		}),
	);
	renderer.handle(event({type: 'node-state', node, state: 'ready'}));
}
renderer.handle(
	event({
		type: 'step-finished',
		step: 'provision',
		durationMs: performance.now() - started,
		changed: true,
		summary: '4 nodes provisioned',
	}),
);
renderer.handle(event({type: 'run-finished', durationMs: performance.now() - started, changed: true, summary: 'done'}));
await renderer.close();

const wallSeconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuStart);
const cpuSeconds = (cpu.user + cpu.system) / 1e6;
const peakRssMb = process.resourceUsage().maxRSS / 1024;
const rendersPerSecond = renders / wallSeconds;
console.log(`lines                ${totalLines} over ${nodes.length} node panes in ${wallSeconds.toFixed(2)} s wall`);
console.log(
	`renders              ${renders} (${rendersPerSecond.toFixed(1)}/s; target <= 10/s), ${writes} writes, ${(bytes / 1024).toFixed(0)} KiB to the terminal`,
);
console.log(`Ink render time      ${(renderMs / 1000).toFixed(2)} s in ${renders} frames`);
console.log(`CPU                  ${cpuSeconds.toFixed(2)} s (target < 2 s)`);
console.log(`peak RSS             ${peakRssMb.toFixed(1)} MB (target < 150 MB)`);
console.log(
	JSON.stringify({
		bench: 'render-flood',
		lines: totalLines,
		panes: nodes.length,
		wallSeconds,
		renders,
		rendersPerSecond,
		cpuSeconds,
		peakRssMb,
	}),
);
if (rendersPerSecond > 10 || cpuSeconds >= 2 || peakRssMb >= 150) {
	console.log('over target');
	process.exitCode = 1;
}
