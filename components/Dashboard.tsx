import {Box, Text, useInput} from 'ink';
import {useState} from 'react';
import type {DashboardSnapshot, NodeLoad, ServiceView} from '../source/cluster/dashboard-data.js';
import type {RethinkdbHealth} from '../source/cluster/rethinkdb.js';
import {errorInfo} from '../source/errors.js';
import {formatTable} from '../source/render/format.js';
import type {TunnelControl} from '../source/tunnel/control.js';
import type {TunnelStatus} from '../source/tunnel/types.js';
import {ErrorBanner} from './ErrorBanner.js';
import {useDashboard, useTunnels} from './useDashboard.js';
import {useTerminalSize} from './useTerminalSize.js';

export interface DashboardProps {
	/** Collects one snapshot (source/cluster/dashboard-data.ts in the CLI; a fake in tests). */
	load: (signal: AbortSignal) => Promise<DashboardSnapshot>;
	refreshMs?: number;
	/** The RethinkDB tunnel, when the command can offer one; the `t` key opens and closes it. */
	tunnels?: TunnelControl;
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

function formatLoad(load: NodeLoad | null | undefined): string {
	return load ? `${load.load1.toFixed(2)} ${load.load5.toFixed(2)} ${load.load15.toFixed(2)}` : '-';
}

/** Swarm's word for a node: `ready` is quiet, anything else stands out. */
function nodeRowColor(state: string): string | undefined {
	if (state === 'ready') return undefined;
	return ['down', 'missing', 'stopped', 'error', 'not-joined'].includes(state) ? 'red' : 'yellow';
}

const TUNNEL_COLORS: Record<TunnelStatus['state'], string> = {connecting: 'cyan', open: 'green', reconnecting: 'yellow', closed: 'gray'};

function Heading({children}: {children: string}) {
	return <Text bold color="cyan">{children}</Text>;
}

/** How a task's state looks: running is fine, failed is red, finished is quiet, the rest is on its way. */
function taskTone(currentState: string): {icon: string; color?: string} {
	const word = currentState.split(' ')[0] ?? '';
	if (word === 'Running') return {icon: '✔', color: 'green'};
	if (['Failed', 'Rejected', 'Orphaned'].includes(word)) return {icon: '✖', color: 'red'};
	if (['Complete', 'Shutdown', 'Remove'].includes(word)) return {icon: '·', color: 'gray'};
	return {icon: '…', color: 'yellow'};
}

/**
 *     SERVICES
 *     rethinkdb  global      4/4  rethinkdb:2.4.4  4 tasks running
 *     broken     replicated  0/1  busybox:1        0 tasks running  3 failed: task: non-zero exit (1)
 *       … broken.1  workerbee-2  Ready 4 seconds ago
 */
function Services({services}: {services: ServiceView[] | null}) {
	if (services === null) return <Text dimColor>no manager answered</Text>;
	if (services.length === 0) return <Text dimColor>no services yet</Text>;
	const rows = formatTable(services.map(s => [s.name, s.mode, s.replicas, s.image, s.ports]));
	return (
		<Box flexDirection="column">
			{services.map((service, i) => {
				const running = service.tasks.filter(t => t.currentState.startsWith('Running')).length;
				// Every task when there are few; otherwise only the ones not running.
				const shown = service.tasks.length <= 4 ? service.tasks : service.tasks.filter(t => !t.currentState.startsWith('Running'));
				return (
					<Box key={service.name} flexDirection="column">
						<Text wrap="truncate-end">
							{rows[i]}<Text dimColor>  {running} task{running === 1 ? '' : 's'} running</Text>
							{service.failures > 0 ? <Text color="red">  {service.failures} failed{service.lastError ? `: ${service.lastError}` : ''}</Text> : null}
						</Text>
						{shown.map(task => {
							const tone = taskTone(task.currentState);
							return (
								<Text key={task.name} wrap="truncate-end">
									{'  '}<Text color={tone.color}>{tone.icon}</Text> {task.name}  {task.node}  <Text dimColor>{task.currentState}</Text>
									{task.error ? <Text color="red">  {task.error}</Text> : null}
								</Text>
							);
						})}
					</Box>
				);
			})}
		</Box>
	);
}

/**
 *     RETHINKDB  4 of 4 servers connected, no issues
 */
function Rethinkdb({health}: {health: RethinkdbHealth | null | undefined}) {
	if (!health) return <Text><Text bold color="cyan">RETHINKDB</Text>  <Text dimColor>not deployed</Text></Text>;
	const complete = health.connected >= health.expected && !health.error;
	return (
		<Box flexDirection="column">
			<Text wrap="truncate-end">
				<Text bold color="cyan">RETHINKDB</Text>  <Text color={complete ? 'green' : 'yellow'}>{health.connected} of {health.expected} servers connected</Text>
				{health.missing.length > 0 ? <Text color="yellow">  missing: {health.missing.join(', ')}</Text> : null}
				{health.issues.length === 0 && !health.error ? <Text dimColor>, no issues</Text> : null}
			</Text>
			{health.error ? <Text color="red" wrap="truncate-end">  could not ask: {health.error}</Text> : null}
			{health.issues.map((issue, i) => (
				<Text key={i} color={issue.critical ? 'red' : 'yellow'} wrap="truncate-end">  {issue.critical ? '✖' : '!'} {issue.type}: {issue.description}</Text>
			))}
		</Box>
	);
}

/**
 *     TUNNELS
 *     admin   open  127.0.0.1:8080 → queenbee:8080  2 open, 5 total  in 1.2 MB  out 30 kB
 */
function Tunnels({tunnels, control}: {tunnels: TunnelStatus[]; control?: TunnelControl}) {
	if (!control) return <Text dimColor>no tunnel control in this command</Text>;
	if (tunnels.length === 0) return <Text dimColor>closed (t opens it)</Text>;
	return (
		<Box flexDirection="column">
			{tunnels.map(t => (
				<Text key={t.name} wrap="truncate-end">
					{t.name.padEnd(7)} <Text color={TUNNEL_COLORS[t.state]}>{t.state.padEnd(12)}</Text> {t.local.host}:{t.local.port} → {t.target.node ?? t.target.address ?? '?'}:{t.target.port}
					<Text dimColor>  {t.connections} open, {t.totalConnections} total  in {formatBytes(t.bytesIn)}  out {formatBytes(t.bytesOut)}</Text>
					{t.lastError ? <Text color="red">  {t.lastError}</Text> : null}
				</Text>
			))}
		</Box>
	);
}

/**
 * The monitoring screen of `swarmbee status NAME` (and after `up`):
 *
 *     demo (local): ready   refreshed 12:04:33, every 5 s
 *     NODES
 *     NODE         ROLE     STATE  PUBLIC         PRIVATE        LOAD
 *     queenbee     manager  ready  10.101.197.10  10.100.80.10   0.42 0.30 0.21
 *     swarm: 1 manager, 3 workers, 4 of 4 Ready
 *     SERVICES
 *     rethinkdb    global   4/4  rethinkdb:2.4.4  4 tasks running
 *     RETHINKDB  4 of 4 servers connected, no issues
 *     TUNNELS
 *     admin   open  127.0.0.1:8080 → queenbee:8080  1 open, 3 total  in 1.2 MB  out 30 kB
 *     q quit · r refresh · t close the tunnel
 */
export function Dashboard({load, refreshMs = 5_000, tunnels: control, onQuit}: DashboardProps) {
	const {snapshot, error, loading, refresh} = useDashboard(load, refreshMs);
	const tunnels = useTunnels(control);
	const {columns} = useTerminalSize();
	const [tunnelError, setTunnelError] = useState<string | undefined>();
	const tunnelUp = tunnels.some(t => t.state !== 'closed');

	useInput((input, key) => {
		if (input === 'q' || key.escape || (key.ctrl && input === 'c')) onQuit();
		else if (input === 'r') refresh();
		else if (input === 't' && control) {
			setTunnelError(undefined);
			// Asked of the control at the key press: a handler's closure may be a render old.
			const up = control.current().some(t => t.state !== 'closed');
			(up ? control.close() : control.open()).catch(e => setTunnelError(errorInfo(e).message));
		}
	});

	const status = snapshot?.status;
	const swarm = status?.swarm;
	const errors = [...(error ? [error] : []), ...(status?.errors ?? []), ...(snapshot?.errors ?? [])];
	const nodeRows = status ? formatTable([
		['NODE', 'ROLE', 'STATE', 'PUBLIC', 'PRIVATE', 'LOAD'],
		...status.nodes.map(n => [n.name, n.role, n.state, n.publicAddress ?? '-', n.privateAddress ?? '-', formatLoad(snapshot?.load[n.name])]),
	]) : [];
	const refreshed = snapshot ? new Date(snapshot.at).toLocaleTimeString('en-GB', {hour12: false}) : undefined;

	return (
		<Box flexDirection="column" width={columns}>
			<Text wrap="truncate-end">
				<Text bold>{status ? `${status.cluster} (${status.provider})` : 'swarmbee'}</Text>
				{status ? <Text>: <Text color={status.state === 'ready' ? 'green' : 'yellow'}>{status.state}</Text></Text> : null}
				<Text dimColor>   {loading ? 'refreshing…' : refreshed ? `refreshed ${refreshed}` : ''}, every {Math.round(refreshMs / 1000)} s</Text>
			</Text>
			{!snapshot && !error ? <Text dimColor>asking the nodes…</Text> : null}
			{status
				? (
					<>
						<Heading>NODES</Heading>
						{nodeRows.map((row, i) => {
							const node = status.nodes[i - 1];
							return <Text key={i} wrap="truncate-end" bold={i === 0} color={node ? nodeRowColor(node.state) : undefined}>{row}</Text>;
						})}
						<Text wrap="truncate-end" color={swarm && swarm.ready === swarm.managers + swarm.workers ? undefined : 'yellow'}>
							{swarm ? `swarm: ${swarm.managers} manager${swarm.managers === 1 ? '' : 's'}, ${swarm.workers} worker${swarm.workers === 1 ? '' : 's'}, ${swarm.ready} of ${swarm.managers + swarm.workers} Ready` : 'swarm: no manager answered'}
						</Text>
						<Heading>SERVICES</Heading>
						<Services services={snapshot!.services} />
						<Rethinkdb health={status.rethinkdb} />
					</>
				)
				: null}
			<Heading>TUNNELS</Heading>
			<Tunnels tunnels={tunnels} control={control} />
			{tunnelError ? <Text color="red" wrap="truncate-end">tunnel: {tunnelError}</Text> : null}
			{errors.slice(0, 2).map((e, i) => <ErrorBanner key={i} error={e} width={columns} />)}
			{errors.length > 2 ? <Text color="red">and {errors.length - 2} more problem{errors.length === 3 ? '' : 's'}</Text> : null}
			<Text dimColor wrap="truncate-end">q quit · r refresh{control ? ` · t ${tunnelUp ? 'close' : 'open'} the tunnel` : ''}</Text>
		</Box>
	);
}
