import {Box, Text, useInput, useStdout} from 'ink';
import {useEffect, useRef, useState, type ReactElement} from 'react';
import sparkly from 'sparkly';
import type {
	DashboardActions,
	DashboardSnapshot,
	DashboardTarget,
	LogExcerpt,
	ServiceView,
} from '../source/observe/dashboard-data.js';
import {describeLiveHealth, type HealthLevel} from '../source/observe/live-health.js';
import {tableKey} from '../source/database/placement.js';
import type {NodeStatus} from '../source/observe/status.js';
import type {NodeStatusState} from '../source/states.js';
import {errorInfo, type ErrorInfo} from '../source/errors.js';
import {counted, formatTable, wrapErrorLines} from '../source/render/format.js';
import type {TunnelControl} from '../source/tunnel/control.js';
import {ADMIN_RIGHTS_NOTE, adminUrl} from '../source/tunnel/ports.js';
import type {TunnelStatus} from '../source/tunnel/types.js';
import {
	clock,
	emptyMemory,
	rememberSnapshot,
	rememberTunnel,
	type DashboardMemory,
	type NodeHistory,
} from './dashboard-state.js';
import {useDashboard, useTunnels} from './useDashboard.js';
import {useTerminalSize} from './useTerminalSize.js';

export interface DashboardProps {
	/** Collects one snapshot (source/observe/dashboard-data.ts in the CLI; a fake in tests). */
	load: (signal: AbortSignal) => Promise<DashboardSnapshot>;
	refreshMs?: number;
	/** The RethinkDB tunnel, when the command can offer one; the `t` key opens and closes it. */
	tunnels?: TunnelControl;
	/** What `l` (and `s`, when given) do to the selected row. Without them, no `l`. */
	actions?: DashboardActions;
	/**
	 * Runs work that needs the terminal (an interactive ssh): the dashboard is
	 * unmounted meanwhile and mounted again after, with the same `memory`.
	 */
	handOver?: (work: () => Promise<void>) => void;
	/** History and events, kept across mounts; a fresh one by default. */
	memory?: {current: DashboardMemory};
	/** Drawn on the alternate screen: a resize repaints it whole (no stale lines). */
	fullscreen?: boolean;
	onQuit: () => void;
}

/** `1.2 MB`, `30 kB`, `512 B`. */
export function formatBytes(bytes: number): string {
	if (bytes < 1000) return `${bytes} B`;
	const units = ['kB', 'MB', 'GB', 'TB'];
	let value = bytes;
	let unit = -1;
	while (value >= 1000 && unit < units.length - 1) {
		value /= 1000;
		unit++;
	}
	return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Memory as docker stats writes it, short: `412M`, `1.0G`, `980K`. */
export function formatSize(bytes: number): string {
	const units: Array<[string, number]> = [
		['G', 1024 ** 3],
		['M', 1024 ** 2],
		['K', 1024],
	];
	for (const [unit, size] of units) {
		if (bytes >= size * 0.95 || unit === 'K') {
			const value = bytes / size;
			return `${value < 10 && unit === 'G' ? value.toFixed(1) : Math.round(value)}${unit}`;
		}
	}
	return `${bytes}B`;
}

function percent(share: number | null | undefined): string {
	return share === null || share === undefined ? '-' : `${Math.round(share * 100)}%`;
}

/** ▁▂▅▇ over the last samples (0-100%), `width` wide at most. */
export function spark(values: readonly number[], width: number): string {
	const shown = values.slice(-width);
	if (shown.length === 0) return ''.padEnd(width);
	return sparkly(
		shown.map(v => Math.round(v * 100)),
		{minimum: 0, maximum: 100},
	).padEnd(width);
}

const LEVEL_COLORS: Record<HealthLevel, string> = {ready: 'green', degraded: 'yellow', down: 'red'};
const TUNNEL_COLORS: Record<TunnelStatus['state'], string> = {
	connecting: 'cyan',
	open: 'green',
	reconnecting: 'yellow',
	closed: 'gray',
};

/**
 * How a node's row looks: `ready` is quiet, a node that cannot serve is red,
 * one on its way (or not known yet) is yellow. Every state has its colour
 * here: a new state word does not compile until it is given one.
 */
const NODE_ROW_COLORS: Record<NodeStatusState, 'red' | 'yellow' | undefined> = {
	ready: undefined,
	down: 'red',
	disconnected: 'red',
	missing: 'red',
	stopped: 'red',
	error: 'red',
	'not-joined': 'red',
	'not answering': 'red',
	unknown: 'yellow',
	creating: 'yellow',
	unfinished: 'yellow',
};

/** How a task's state looks: running is fine, failed is red, finished is quiet, the rest is on its way. */
function taskTone(currentState: string): {icon: string; color?: string} {
	const word = currentState.split(' ')[0] ?? '';
	if (word === 'Running') return {icon: '✔', color: 'green'};
	if (['Failed', 'Rejected', 'Orphaned'].includes(word)) return {icon: '✖', color: 'red'};
	if (['Complete', 'Shutdown', 'Remove'].includes(word)) return {icon: '·', color: 'gray'};
	return {icon: '…', color: 'yellow'};
}

/** One line of the scrolling body; `target` makes it selectable. */
interface Line {
	key: string;
	render: (selected: boolean) => ReactElement;
	target?: DashboardTarget;
}

const targetId = (t: DashboardTarget) => (t.kind === 'node' ? `node:${t.node}` : `service:${t.service}`);

function text(
	key: string,
	content: ReactElement | string,
	options: {color?: string; dim?: boolean; bold?: boolean} = {},
): Line {
	return {
		key,
		render: () => (
			<Text wrap="truncate-end" color={options.color} dimColor={options.dim} bold={options.bold}>
				{content}
			</Text>
		),
	};
}

function heading(key: string, title: string, note?: string): Line {
	return text(
		key,
		<>
			<Text bold color="cyan">
				{title}
			</Text>
			{note ? (
				<Text dimColor>
					{'  '}
					{note}
				</Text>
			) : null}
		</>,
	);
}

/** A selectable row: `▸` and bold when selected. */
function row(key: string, target: DashboardTarget, content: string, color?: string, extra?: ReactElement | null): Line {
	return {
		key,
		target,
		render: selected => (
			<Text wrap="truncate-end" color={selected ? 'cyan' : color} bold={selected}>
				{selected ? '▸ ' : '  '}
				{content}
				{extra ?? null}
			</Text>
		),
	};
}

/**
 *     NODE         ROLE     STATE  CPU  MEMORY         DATABASE       ADDRESS        CPU HISTORY   MEMORY HISTORY
 *   ▸ queenbee     manager  ready  12%  412M/1.0G 40%  180M/450M 40%  10.101.197.10  ▁▂▁▃▂▁▁▂      ▄▄▄▄▅▅▅▅
 */
function nodeLines(snapshot: DashboardSnapshot, history: Record<string, NodeHistory>, columns: number): Line[] {
	const {status, usage} = snapshot;
	const wide = columns >= 100;
	const sparkWidth = columns >= 140 ? 16 : columns >= 120 ? 10 : 0;
	const machine = snapshot.scope === 'machine';
	const header = [
		'NODE',
		'ROLE',
		'STATE',
		'CPU',
		'MEMORY',
		...(snapshot.memoryLimitBytes ? ['DATABASE'] : []),
		...(machine && wide ? ['LOAD'] : []),
		...(wide ? ['ADDRESS'] : []),
		...(sparkWidth ? ['CPU HISTORY', 'MEMORY HISTORY'] : []),
	];
	const cells = (node: NodeStatus): string[] => {
		const u = usage[node.name];
		const memory = u?.memory
			? `${formatSize(u.memory.used)}/${formatSize(u.memory.total)} ${percent(u.memory.used / u.memory.total)}`
			: '-';
		const server = u?.server
			? `${formatSize(u.server.memory.used)}/${formatSize(u.server.memory.limit)} ${percent(u.server.memory.used / u.server.memory.limit)}`
			: '-';
		const load = u?.load ? u.load.load1.toFixed(2) : '-';
		const h = history[node.name];
		return [
			node.name,
			node.role,
			node.state,
			percent(u?.cpu),
			memory,
			...(snapshot.memoryLimitBytes ? [server] : []),
			...(machine && wide ? [load] : []),
			...(wide ? [node.publicAddress ?? '-'] : []),
			...(sparkWidth ? [spark(h?.cpu ?? [], sparkWidth), spark(h?.memory ?? [], sparkWidth)] : []),
		];
	};
	const nodes = [...status.nodes];
	const table = formatTable([header, ...nodes.map(cells)]);
	const load = Object.values(usage).find(u => u?.load)?.load;
	const note = machine
		? 'CPU of all its cores since the last refresh; MEMORY used of total; DATABASE its server of its limit'
		: `load ${load ? `${load.load1.toFixed(2)} ${load.load5.toFixed(2)} ${load.load15.toFixed(2)}` : '-'} is this machine's (local nodes share it); CPU and MEMORY are each node container's`;
	const swarm = status.swarm;
	return [
		heading('nodes', 'NODES', note),
		text('nodes-header', `  ${table[0]}`, {bold: true}),
		...nodes.map((node, i) =>
			row(`node-${node.name}`, {kind: 'node', node: node.name}, table[i + 1]!, NODE_ROW_COLORS[node.state]),
		),
		text(
			'swarm',
			swarm
				? `  swarm: ${counted(swarm.managers, 'manager')}, ${counted(swarm.workers, 'worker')}, ${swarm.ready} of ${swarm.managers + swarm.workers} Ready`
				: '  swarm: no manager answered',
			{color: swarm && swarm.ready === swarm.managers + swarm.workers ? undefined : 'yellow'},
		),
	];
}

/**
 *     SERVICES
 *   ▸ swarmbee_rdb-queenbee  replicated  1/1 running  swarmbee-rethinkdb:e883c2c42cdc
 *       ✖ swarmbee_rdb-workerbee-1.1  workerbee-1  Failed 3 seconds ago  task: non-zero exit (1)
 */
function serviceLines(services: ServiceView[] | null): Line[] {
	if (services === null) return [heading('services', 'SERVICES', 'no manager answered')];
	if (services.length === 0) return [heading('services', 'SERVICES', 'none yet')];
	const table = formatTable(services.map(s => [s.name, s.mode, `${s.running}/${s.desired} running`, s.image]));
	const lines: Line[] = [heading('services', 'SERVICES', 'running counted from the tasks, on nodes Swarm has Ready')];
	services.forEach((service, i) => {
		const failures =
			service.failures > 0 ? (
				<Text key="failures" color="red">
					{'  '}
					{service.failures} failed{service.lastError ? `: ${service.lastError}` : ''}
				</Text>
			) : null;
		lines.push(
			row(
				`service-${service.name}`,
				{kind: 'service', service: service.name, ...(service.serverOf ? {node: service.serverOf} : {})},
				table[i]!,
				service.running < service.desired ? 'yellow' : undefined,
				failures,
			),
		);
		for (const task of service.tasks.filter(
			t => !t.currentState.startsWith('Running') || service.running < service.desired,
		)) {
			const tone = taskTone(task.currentState);
			lines.push(
				text(
					`task-${task.name}-${task.node}`,
					<>
						{'      '}
						<Text color={tone.color}>{tone.icon}</Text> {task.name}
						{'  '}
						{task.node || '-'}
						{'  '}
						<Text dimColor>{task.currentState}</Text>
						{task.error ? (
							<Text color="red">
								{'  '}
								{task.error}
							</Text>
						) : null}
					</>,
				),
			);
		}
	});
	return lines;
}

/**
 *     RETHINKDB  4 of 4 servers connected · no issues
 *     TABLES
 *       app.users   1 shard   3 replicas       ready  on queenbee, workerbee_1, workerbee_2
 *       app.events  2 shards  3 replicas each  ready  on queenbee, workerbee_1, workerbee_2, workerbee_3
 */
function databaseLines(snapshot: DashboardSnapshot): Line[] {
	const health = snapshot.status.rethinkdb;
	if (!health)
		return [
			heading('rethinkdb', 'RETHINKDB', snapshot.memoryLimitBytes ? 'not asked (no manager answered)' : 'not deployed'),
		];
	const complete = health.connected >= health.expected && health.missing.length === 0 && !health.error;
	const lines: Line[] = [
		text(
			'rethinkdb',
			<>
				<Text bold color="cyan">
					RETHINKDB
				</Text>
				{'  '}
				<Text color={complete ? 'green' : 'yellow'}>
					{health.connected} of {health.expected} servers connected
				</Text>
				{health.missing.length > 0 ? <Text color="yellow"> · missing {health.missing.join(', ')}</Text> : null}
				{/* Servers of no node of this cluster's (a scale-down's, before they go): named, never counted ("6 of 4"). */}
				{(health.extra ?? []).length > 0 ? (
					<Text color="yellow"> · also connected: {(health.extra ?? []).join(', ')}</Text>
				) : null}
				{health.issues.length === 0 && complete ? <Text dimColor> · no issues</Text> : null}
			</>,
		),
	];
	if (health.error) lines.push(text('rethinkdb-error', `  could not ask: ${health.error}`, {color: 'red'}));
	health.issues.forEach((issue, i) => {
		lines.push(
			text(`issue-${i}`, `  ${issue.critical ? '✖' : '!'} ${issue.type}: ${issue.description}`, {
				color: issue.critical ? 'red' : 'yellow',
			}),
		);
	});
	const tables = health.tables;
	if (tables.length === 0) {
		lines.push(
			text(
				'tables',
				<>
					<Text bold color="cyan">
						TABLES
					</Text>
					<Text dimColor>{'  '}none yet</Text>
				</>,
			),
		);
		return lines;
	}
	lines.push(heading('tables', 'TABLES', 'replicas per shard, and whether every replica is ready'));
	const table = formatTable(
		tables.map(t => [
			tableKey(t),
			counted(t.shards, 'shard'),
			// Per shard: with more than one shard, `on` names more servers than one shard's replicas.
			t.shards > 1 ? `${counted(t.replicas, 'replica')} each` : counted(t.replicas, 'replica'),
			t.readiness,
			`on ${t.servers.join(', ') || '-'}`,
		]),
	);
	tables.forEach((t, i) => {
		const color =
			t.readiness === 'ready'
				? t.underReplicated
					? 'yellow'
					: undefined
				: t.readiness === 'writable'
					? 'yellow'
					: 'red';
		lines.push(
			text(
				`table-${tableKey(t)}`,
				<>
					{'  '}
					{table[i]}
					{t.underReplicated ? <Text color="yellow">{'  '}under-replicated</Text> : null}
				</>,
				{color},
			),
		);
	});
	return lines;
}

/**
 *     TUNNEL  open · the console has full admin rights …
 *       admin   127.0.0.1:8080 → queenbee:8080
 *               open http://127.0.0.1:8080/?token=Vb1k…
 *       driver  127.0.0.1:28015 → queenbee:28015
 *       1 open, 3 total · in 1.2 MB · out 30 kB
 */
function tunnelLines(
	tunnels: TunnelStatus[],
	control: TunnelControl | undefined,
	error: ErrorInfo | undefined,
	columns: number,
): Line[] {
	if (!control) return [heading('tunnel', 'TUNNEL', 'not offered here')];
	const lines: Line[] = [];
	const up = tunnels.find(t => t.state !== 'closed');
	// Closed with an error: the tunnel stopped itself (a host key swarmbee did not install), and says why.
	const failure = up ? undefined : tunnels.find(t => t.lastError)?.lastError;
	if (failure) {
		lines.push(heading('tunnel', 'TUNNEL', 'closed on an error (t tries again)'));
		for (const [i, line] of wrapErrorLines([`error: ${failure}`], columns - 2).entries())
			lines.push(text(`tunnel-failed-${i}`, `  ${line}`, {color: 'red'}));
	} else if (!up) {
		lines.push(heading('tunnel', 'TUNNEL', 'closed (t opens it: the admin panel on 127.0.0.1, over SSH)'));
	} else {
		lines.push(
			text(
				'tunnel',
				<>
					<Text bold color="cyan">
						TUNNEL
					</Text>
					{'  '}
					<Text color={TUNNEL_COLORS[up.state]}>{up.state}</Text>
					{up.lastError && up.state !== 'open' ? (
						<Text color="yellow">
							{'  '}
							{up.lastError}
						</Text>
					) : null}
				</>,
			),
		);
		for (const t of tunnels) {
			const where = t.name === 'admin' && !t.url ? adminUrl(t.local.port) : `${t.local.host}:${t.local.port}`;
			lines.push(
				text(
					`tunnel-${t.name}`,
					<>
						{'  '}
						{t.name.padEnd(7)} <Text bold>{where}</Text> → {t.target.node ?? t.target.address ?? '?'}:{t.target.port}
						{t.local.busy ? (
							<Text dimColor>
								{'  '}({t.local.busy} is taken here)
							</Text>
						) : null}
					</>,
				),
			);
			// The console opens only with its token: the whole address, on a line of its own so it is never cut.
			if (t.url)
				lines.push(
					text(
						`tunnel-${t.name}-url`,
						<>
							{'  '}
							{''.padEnd(7)} open <Text bold>{t.url}</Text>
						</>,
					),
				);
		}
		const connections = tunnels.reduce((n, t) => n + t.connections, 0);
		const total = tunnels.reduce((n, t) => n + t.totalConnections, 0);
		const bytesIn = tunnels.reduce((n, t) => n + t.bytesIn, 0);
		const bytesOut = tunnels.reduce((n, t) => n + t.bytesOut, 0);
		// Someone reached for the console without its token: worth a look.
		const refused = tunnels.reduce((n, t) => n + (t.refused ?? 0), 0);
		lines.push(
			text(
				'tunnel-counts',
				`  ${connections} open, ${total} total · in ${formatBytes(bytesIn)} · out ${formatBytes(bytesOut)}${refused > 0 ? ` · ${counted(refused, 'request')} without the token refused` : ''}`,
				{dim: true},
			),
		);
		for (const [i, line] of wrapErrorLines([`note: ${ADMIN_RIGHTS_NOTE}`], columns - 2).entries())
			lines.push(text(`tunnel-note-${i}`, `  ${line}`, {color: 'yellow'}));
	}
	if (error) lines.push(...errorLines('tunnel-error', error, columns));
	return lines;
}

/** An error as lines that wrap between words (the body scrolls line by line). */
function errorLines(key: string, error: ErrorInfo, columns: number): Line[] {
	return wrapErrorLines(errorTextLines(error), columns - 2).map((line, i) =>
		text(`${key}-${i}`, `  ${line}`, {
			color: i === 0 ? (error.kind === 'cancelled' ? 'yellow' : 'red') : undefined,
			bold: i === 0,
		}),
	);
}

function errorTextLines(error: ErrorInfo): string[] {
	return [
		`${error.kind === 'cancelled' ? 'cancelled' : 'error'}: ${error.message}`,
		...(error.hint ? [`  why: ${error.hint}`] : []),
		...error.nextSteps.map((s, i) => `${i === 0 ? '  try: ' : '       '}${s}`),
		...(error.logFile ? [`  log: ${error.logFile}`] : []),
	];
}

function eventLines(memory: DashboardMemory): Line[] {
	if (memory.events.length === 0) return [];
	const recent = memory.events.slice(-6).reverse();
	return [
		heading('events', 'EVENTS', `this session, newest first (${memory.events.length})`),
		...recent.map((e, i) =>
			text(`event-${memory.events.length - i}`, `  ${clock(e.at)}  ${e.text}`, {
				color: e.tone === 'bad' ? 'yellow' : e.tone === 'good' ? 'green' : undefined,
			}),
		),
	];
}

const HELP: Array<[string, string]> = [
	['↑ ↓  j k', 'select a node or a service'],
	['PgUp PgDn  space', 'scroll a page (the screen scrolls when it is short)'],
	['l', "logs of the selected row (as swarmbee logs): a server's, or a node's provisioning and system log"],
	['s', "a shell on the selected row's node (swarmbee ssh); exit it to come back"],
	['t', 'open or close the tunnel to the RethinkDB admin panel'],
	['r', 'refresh now (otherwise every few seconds)'],
	['?', 'this help; esc or ? closes it'],
	['q  esc  ctrl-c', 'quit (closing the tunnel)'],
];

type Overlay = {kind: 'help'} | {kind: 'logs'; target: DashboardTarget; excerpt?: LogExcerpt; error?: ErrorInfo};

/**
 * The monitoring screen of `swarmbee status NAME` (and after `up`). Every
 * figure is from this refresh; the body scrolls when the terminal is short;
 * the footer lists the keys that work on the selected row:
 *
 *     demo (local): degraded: workerbee-1 stopped        refreshed 12:04:33 · every 5 s
 *     NODES  local nodes: CPU and MEMORY are each node container's (its cgroup); load is this machine's: …
 *       NODE         ROLE     STATE    CPU  MEMORY         DATABASE
 *     ▸ queenbee     manager  ready    12%  412M/1.0G 40%  180M/450M 40%
 *       workerbee-1  worker   stopped  -    -              -
 *       swarm: 1 manager, 1 worker, 1 of 2 Ready
 *     SERVICES …
 *     RETHINKDB  1 of 2 servers connected · missing workerbee_1
 *     TABLES …
 *     TUNNEL  open …
 *     EVENTS …
 *     ↑↓ select · l logs · t close tunnel · r refresh · ? help · q quit      3-17 of 30
 */
export function Dashboard({
	load,
	refreshMs = 5_000,
	tunnels: control,
	actions,
	handOver,
	memory: kept,
	fullscreen = false,
	onQuit,
}: DashboardProps) {
	const {snapshot, error, loading, refresh} = useDashboard(load, refreshMs);
	const tunnels = useTunnels(control);
	const {columns, rows} = useTerminalSize();
	const {write} = useStdout();
	const [tunnelError, setTunnelError] = useState<ErrorInfo | undefined>();
	const [overlay, setOverlay] = useState<Overlay | undefined>();
	const [selectedId, setSelectedId] = useState<string | undefined>();
	const [offset, setOffset] = useState(0);
	// ↑/↓ keep the selected row on screen; paging moves the screen, and the selection only if one is in view.
	const [follow, setFollow] = useState(true);
	const memoryRef = useRef(kept ?? {current: emptyMemory()});
	const tunnelUp = tunnels.some(t => t.state !== 'closed');

	// What the screen remembers, folded in during the render that shows the new snapshot (or tunnel
	// state), once per new object: an effect would draw one frame with a new headline and old events.
	const folded = useRef<{snapshot?: DashboardSnapshot; tunnels?: TunnelStatus[]}>({});
	if (snapshot && folded.current.snapshot !== snapshot) {
		folded.current.snapshot = snapshot;
		memoryRef.current.current = rememberSnapshot(memoryRef.current.current, snapshot);
	}
	if (folded.current.tunnels !== tunnels) {
		folded.current.tunnels = tunnels;
		memoryRef.current.current = rememberTunnel(memoryRef.current.current, tunnels, new Date().toISOString());
	}
	const memory = memoryRef.current.current;
	// A resize repaints the alternate screen whole: lines the terminal re-wrapped would stay behind otherwise.
	const first = useRef(true);
	// biome-ignore lint/correctness/useExhaustiveDependencies: the size is what the repaint follows, though the effect reads neither
	useEffect(() => {
		if (first.current) {
			first.current = false;
			return;
		}
		if (fullscreen) write('\u001B[2J\u001B[H');
	}, [columns, rows, fullscreen, write]);

	// The body, one terminal line per entry.
	let body: Line[];
	if (overlay?.kind === 'help') {
		const width = Math.max(...HELP.map(([k]) => k.length));
		body = [
			heading('help', 'KEYS', 'esc or ? closes this'),
			...HELP.map(([k, what]) => text(`help-${k}`, `  ${k.padEnd(width)}  ${what}`)),
			text(
				'help-note',
				'  Figures are asked of the nodes on every refresh; the headline is from them, not from the last run.',
				{dim: true},
			),
		];
	} else if (overlay?.kind === 'logs') {
		const {excerpt, error: logError} = overlay;
		body = [
			heading(
				'logs',
				(excerpt?.title ?? 'logs').toUpperCase(),
				excerpt ? `${excerpt.source} · r reload · esc back` : 'reading…',
			),
			...(logError ? errorLines('logs-error', logError, columns) : []),
			...(excerpt?.lines ?? []).map((line, i) => text(`log-${i}`, `  ${line}`)),
		];
	} else if (snapshot) {
		const change = snapshot.status.change;
		body = [
			// An interrupted scale first: the next `up` continues it.
			...(change
				? [text('change', change.says, change.interrupted ? {color: 'yellow', bold: true} : {dim: true})]
				: []),
			...nodeLines(snapshot, memory.history, columns),
			...serviceLines(snapshot.services),
			...databaseLines(snapshot),
			...tunnelLines(tunnels, control, tunnelError, columns),
			...eventLines(memory),
		];
	} else {
		body = [text('asking', 'asking the nodes…', {dim: true}), ...tunnelLines(tunnels, control, tunnelError, columns)];
	}
	const problems = [...(error ? [error] : []), ...(snapshot?.status.errors ?? []), ...(snapshot?.errors ?? [])];
	if (!overlay) {
		problems.slice(0, 3).forEach((e, i) => {
			body.push(...errorLines(`problem-${i}`, e, columns));
		});
	}
	if (!overlay && problems.length > 3)
		body.push(text('more-problems', `  and ${problems.length - 3} more problems`, {color: 'red'}));

	const selectable = body.filter(l => l.target);
	const selectedIndex = Math.max(
		0,
		selectable.findIndex(l => targetId(l.target!) === selectedId),
	);
	const selected = overlay ? undefined : selectable[selectedIndex];
	// Header and footer stay; one line is left free (a frame as tall as the terminal makes Ink clear the screen each time).
	const room = Math.max(3, rows - 3);
	const maxOffset = Math.max(0, body.length - room);
	const selectedLine = selected ? body.indexOf(selected) : -1;
	let top = Math.min(offset, maxOffset);
	if (follow && selectedLine >= 0 && selectedLine < top) top = selectedLine;
	if (follow && selectedLine >= 0 && selectedLine >= top + room) top = selectedLine - room + 1;
	const shown = body.slice(top, top + room);

	const latest = useRef({selectable, selectedIndex, selected, top, maxOffset, room, overlay, body});
	latest.current = {selectable, selectedIndex, selected, top, maxOffset, room, overlay, body};

	// The logs read in flight (an SSH command): stopped when its overlay closes, reloads, or the dashboard goes.
	const logsRead = useRef<AbortController | undefined>(undefined);
	const stopLogsRead = () => {
		logsRead.current?.abort();
		logsRead.current = undefined;
	};
	// biome-ignore lint/correctness/useExhaustiveDependencies: only on unmount; stopLogsRead reads a ref, so the first one serves
	useEffect(() => stopLogsRead, []);
	const openLogs = (target: DashboardTarget) => {
		if (!actions) return;
		latest.current = {...latest.current, overlay: {kind: 'logs', target}};
		setOverlay({kind: 'logs', target});
		setOffset(0);
		stopLogsRead();
		const controller = new AbortController();
		logsRead.current = controller;
		// A read stopped for a newer one says nothing (its cancel would land on the newer one's overlay).
		const show = (shown: {excerpt: LogExcerpt} | {error: ErrorInfo}) => {
			if (controller.signal.aborted) return;
			if (logsRead.current === controller) logsRead.current = undefined;
			setOverlay(o =>
				o?.kind === 'logs' && targetId(o.target) === targetId(target) ? {kind: 'logs', target, ...shown} : o,
			);
		};
		actions.logs(target, controller.signal).then(
			excerpt => show({excerpt}),
			e => show({error: errorInfo(e)}),
		);
	};

	useInput((input, key) => {
		// Handlers read the latest layout through a ref: Ink may call one from a render ago.
		const now = latest.current;
		if (key.ctrl && input === 'c') return onQuit();
		if (now.overlay && (key.escape || input === '?' || (input === 'q' && now.overlay.kind !== 'help'))) {
			stopLogsRead();
			latest.current = {...now, overlay: undefined};
			setOverlay(undefined);
			setOffset(0);
			return;
		}
		if (input === 'q' || key.escape) return onQuit();
		const page = Math.max(1, now.room - 1);
		if (key.pageDown || input === ' ' || key.pageUp) {
			const top = key.pageUp ? Math.max(0, now.top - page) : Math.min(now.maxOffset, now.top + page);
			const inView = now.body.slice(top, top + now.room).find(l => l.target);
			setOffset(top);
			setFollow(Boolean(inView));
			if (inView && !now.overlay) setSelectedId(targetId(inView.target!));
			latest.current = {...now, top};
			return;
		}
		if (key.downArrow || input === 'j' || key.upArrow || input === 'k') {
			const by = key.downArrow || input === 'j' ? 1 : -1;
			const next = now.selectedIndex + by;
			// Past the last (or first) row the screen itself scrolls, to what lies below (or above).
			if (now.overlay || next < 0 || next >= now.selectable.length) {
				const top = Math.min(now.maxOffset, Math.max(0, now.top + by));
				latest.current = {...now, top};
				setFollow(false);
				return setOffset(top);
			}
			setFollow(true);
			setSelectedId(targetId(now.selectable[next]!.target!));
			setOffset(now.top);
			// Keys that arrive in one read are handled before the next render: the ref moves now.
			latest.current = {...now, selectedIndex: next, selected: now.selectable[next]};
			return;
		}
		if (input === '?') {
			latest.current = {...now, overlay: {kind: 'help'}};
			return setOverlay({kind: 'help'});
		}
		if (input === 'r') {
			if (now.overlay?.kind === 'logs') return openLogs(now.overlay.target);
			return refresh();
		}
		if (input === 'l' && now.selected?.target && actions) return openLogs(now.selected.target);
		if (input === 's' && actions?.ssh && handOver && now.selected?.target) {
			const target = now.selected.target;
			const ssh = actions.ssh;
			return handOver(() => ssh(target));
		}
		if (input === 't' && control) {
			setTunnelError(undefined);
			// Asked of the control at the key press: a handler's closure may be a render old.
			const up = control.current().some(t => t.state !== 'closed');
			(up ? control.close() : control.open()).catch(e => setTunnelError(errorInfo(e)));
		}
	});

	const status = snapshot?.status;
	const health = snapshot?.health;
	const refreshed = snapshot ? clock(snapshot.at) : undefined;
	const selectedName = selected?.target
		? selected.target.kind === 'node'
			? selected.target.node
			: selected.target.service
		: undefined;
	const keys = overlay
		? ['↑↓ scroll', ...(overlay.kind === 'logs' ? ['r reload'] : []), 'esc back', 'q quit']
		: [
				...(selectable.length > 1 ? ['↑↓ select'] : []),
				...(selected && actions ? ['l logs'] : []),
				...(selected?.target && actions?.ssh && handOver ? ['s ssh'] : []),
				...(control ? [`t ${tunnelUp ? 'close' : 'open'} tunnel`] : []),
				'r refresh',
				'? help',
				'q quit',
			];
	const scroll =
		body.length > room
			? `${top + 1}-${Math.min(body.length, top + room)} of ${body.length}${columns >= 90 ? ' · PgDn' : ''}`
			: '';
	// Whose logs, when there is room for it: every key must stay on the line.
	const named = `l logs of ${selectedName ?? ''}`;
	if (selectedName && keys.join(' · ').length + named.length - 'l logs'.length + scroll.length + 2 <= columns) {
		const at = keys.indexOf('l logs');
		if (at >= 0) keys[at] = named;
	}

	return (
		<Box flexDirection="column" width={columns}>
			<Box width={columns}>
				<Box flexGrow={1} flexShrink={1}>
					<Text wrap="truncate-end">
						<Text bold>{status ? `${status.cluster} (${status.provider})` : 'swarmbee'}</Text>
						{health ? (
							<Text>
								:{' '}
								<Text color={LEVEL_COLORS[health.level]} bold>
									{describeLiveHealth(health, columns >= 120 ? 3 : 1)}
								</Text>
							</Text>
						) : null}
						{status && status.state !== 'ready' ? <Text dimColor> · last run {status.state}</Text> : null}
					</Text>
				</Box>
				<Box flexShrink={0} marginLeft={1}>
					<Text dimColor>
						{loading ? 'refreshing…' : refreshed ? `at ${refreshed}` : ''} · {Math.round(refreshMs / 1000)} s
					</Text>
				</Box>
			</Box>
			{shown.map(line => (
				<Box key={line.key}>{line.render(line === selected)}</Box>
			))}
			<Box width={columns}>
				<Box flexGrow={1} flexShrink={1}>
					<Text dimColor wrap="truncate-end">
						{keys.join(' · ')}
					</Text>
				</Box>
				{scroll ? (
					<Box flexShrink={0} marginLeft={1}>
						<Text dimColor>{scroll}</Text>
					</Box>
				) : null}
			</Box>
		</Box>
	);
}
