import {shellCommand, shq} from '../shell.js';
import {stackServiceName} from '../database/stack.js';

/**
 * Per-node CPU and memory, and the node's database server's memory against
 * its limit, in one SSH command per node per refresh.
 *
 * Where the figures come from depends on what a node is. A droplet is a
 * machine: `/proc/stat` and `/proc/meminfo` are its own. A local node is a
 * container on this machine's engine: its `/proc/stat` is this machine's and
 * its `/proc/meminfo` is a static file saying the size, so the node's own
 * cgroup (CPU time used, memory charged, its limits) is read instead. The
 * load average is the kernel's either way: on local nodes it is this
 * machine's, and the dashboard says so.
 */
export type StatsScope = 'machine' | 'container';

export interface NodeLoad {
	load1: number;
	load5: number;
	load15: number;
}

/** One reading, as counters; CPU shares need two of them. */
export interface NodeSample {
	/** The node's clock, ns (CPU time is compared against it). */
	clockNs: number;
	scope: StatsScope;
	load: NodeLoad | null;
	/** CPUs the node may use: its quota where it has one, else its processors. */
	cpus: number;
	/** machine: jiffies busy and in all; container: CPU time used, ns. */
	cpu: {busy: number; total: number} | {usedNs: number} | null;
	memory: {used: number; total: number} | null;
	/** The database task's container, from `docker stats` (absent where none runs). */
	server: ServerUsage | null;
}

export interface ServerUsage {
	memory: {used: number; limit: number};
	/** As docker stats says it, of one CPU. */
	cpuPercent: number | null;
}

export interface NodeUsage {
	scope: StatsScope;
	/** Busy share of the node's CPUs since the previous refresh, 0-1; null on the first. */
	cpu: number | null;
	cpus: number;
	memory: {used: number; total: number} | null;
	load: NodeLoad | null;
	server: ServerUsage | null;
}

const SECTION = '@@swarmbee ';

/** The cgroup figures of the container the shell runs in: v2 at the namespace's root, v1 under the node's own path. */
const CGROUP_SCRIPT = [
	'if [ -f /sys/fs/cgroup/memory.current ]; then',
	'  echo "memory $(cat /sys/fs/cgroup/memory.current)"; echo "limit $(cat /sys/fs/cgroup/memory.max)"',
	'  echo "inactive $(awk \'$1=="inactive_file"{print $2}\' /sys/fs/cgroup/memory.stat)"',
	'  echo "cpu_us $(awk \'$1=="usage_usec"{print $2}\' /sys/fs/cgroup/cpu.stat)"; echo "quota $(cat /sys/fs/cgroup/cpu.max)"',
	'else',
	'  m=/sys/fs/cgroup/memory$(awk -F: \'$2=="memory"{print $3}\' /proc/1/cgroup)',
	"  a=/sys/fs/cgroup/cpuacct$(awk -F: '$2 ~ /(^|,)cpuacct(,|$)/{print $3}' /proc/1/cgroup)",
	"  q=/sys/fs/cgroup/cpu$(awk -F: '$2 ~ /(^|,)cpu(,|$)/{print $3}' /proc/1/cgroup)",
	'  echo "memory $(cat $m/memory.usage_in_bytes)"; echo "limit $(cat $m/memory.limit_in_bytes)"',
	'  echo "inactive $(awk \'$1=="total_inactive_file"{print $2}\' $m/memory.stat)"',
	'  echo "cpu_ns $(cat $a/cpuacct.usage)"; echo "quota $(cat $q/cpu.cfs_quota_us) $(cat $q/cpu.cfs_period_us)"',
	'fi',
].join('\n');

/**
 * The one command a refresh runs on a node (the manager's is appended to
 * its Swarm questions). Sections are marked so one failing read (no
 * docker, no cgroup file) leaves the others readable.
 */
export function nodeStatsCommand(scope: StatsScope): string {
	const section = (name: string) => `echo ${shq(`${SECTION}${name}`)}`;
	return [
		section('clock'),
		'date +%s%N',
		section('loadavg'),
		'cat /proc/loadavg',
		section('cpus'),
		'nproc',
		section('meminfo'),
		"grep -E '^(MemTotal|MemAvailable):' /proc/meminfo",
		...(scope === 'machine'
			? [section('stat'), 'head -n 1 /proc/stat']
			: [section('cgroup'), `{ ${CGROUP_SCRIPT}\n} 2>/dev/null`]),
		// Every running container's figures in one docker call (a node runs little besides its server;
		// a `docker ps` to pick the server first cost a third of this command's CPU): parseNodeStats picks it by name.
		section('server'),
		`${shellCommand(['docker', 'stats', '--no-stream', '--format', '{{json .}}'])} 2>/dev/null`,
		'true',
	].join('\n');
}

/** Output with `@@swarmbee NAME` lines → each section's text. */
export function splitSections(text: string): Map<string, string> {
	const sections = new Map<string, string>();
	let name: string | undefined;
	let lines: string[] = [];
	const flush = () => {
		if (name !== undefined) sections.set(name, lines.join('\n'));
	};
	for (const line of text.split('\n')) {
		if (line.startsWith(SECTION)) {
			flush();
			name = line.slice(SECTION.length).trim();
			lines = [];
		} else {
			lines.push(line);
		}
	}
	flush();
	return sections;
}

/** `/proc/loadavg` → the three load averages. */
export function parseLoadAverage(text: string): NodeLoad | null {
	const [load1, load5, load15] = text.trim().split(/\s+/).map(Number);
	if (load1 === undefined || load5 === undefined || load15 === undefined) return null;
	if (![load1, load5, load15].every(n => Number.isFinite(n))) return null;
	return {load1, load5, load15};
}

const UNITS: Record<string, number> = {
	b: 1,
	kb: 1e3,
	mb: 1e6,
	gb: 1e9,
	tb: 1e12,
	kib: 1024,
	mib: 1024 ** 2,
	gib: 1024 ** 3,
	tib: 1024 ** 4,
};

/** `123.4MiB`, `1.5GiB`, `0B`, `12kB` → bytes. */
export function parseDockerSize(text: string): number | undefined {
	const match = /^\s*([\d.]+)\s*([kmgt]?i?b)\s*$/i.exec(text);
	if (!match) return undefined;
	const [, amount, unit] = match;
	const factor = unit === undefined ? undefined : UNITS[unit.toLowerCase()];
	return factor === undefined ? undefined : Math.round(Number(amount) * factor);
}

/**
 * `docker stats --format '{{json .}}'` lines → the node's database server
 * (its task is named `swarmbee_rdb-<node>.<slot>.<id>`): memory against the
 * limit, and CPU. Without `node`, the first line.
 */
export function parseServerStats(text: string, node?: string): ServerUsage | null {
	const lines = text.split('\n').filter(line => line.trim().startsWith('{'));
	try {
		const all = lines.map(line => JSON.parse(line) as {Name?: string; MemUsage?: string; CPUPerc?: string});
		const stats = node === undefined ? all[0] : all.find(s => s.Name?.startsWith(`${stackServiceName(node)}.`));
		if (!stats) return null;
		const [used, limit] = (stats.MemUsage ?? '').split('/').map(parseDockerSize);
		if (used === undefined || limit === undefined) return null;
		const cpu = Number((stats.CPUPerc ?? '').replace('%', ''));
		return {memory: {used, limit}, cpuPercent: Number.isFinite(cpu) && stats.CPUPerc ? cpu : null};
	} catch {
		return null;
	}
}

function keyValues(text: string): Map<string, string[]> {
	return new Map(
		text
			.split('\n')
			.map(line => line.trim().split(/\s+/))
			.flatMap(([key, ...values]): Array<[string, string[]]> => (key ? [[key, values]] : [])),
	);
}

/** cgroup v1 writes "no limit" as a page-rounded 2^63. */
const NO_LIMIT = 2 ** 60;

/** What nodeStatsCommand printed on `node` → one sample. */
export function parseNodeStats(text: string, scope: StatsScope, node?: string): NodeSample {
	const sections = splitSections(text);
	const number = (value: string | undefined) =>
		value !== undefined && /^\d+$/.test(value.trim()) ? Number(value.trim()) : undefined;
	const meminfo = keyValues(sections.get('meminfo') ?? '');
	const kib = (key: string) => number(meminfo.get(`${key}:`)?.[0]);
	const memTotalKib = kib('MemTotal');
	const memTotal = memTotalKib !== undefined ? memTotalKib * 1024 : undefined;
	const processors = number(sections.get('cpus')) ?? 1;
	let cpus = processors;
	let cpu: NodeSample['cpu'] = null;
	let memory: NodeSample['memory'] = null;
	if (scope === 'machine') {
		const fields = (sections.get('stat') ?? '').trim().split(/\s+/);
		if (fields[0] === 'cpu') {
			// user nice system idle iowait irq softirq steal (guest time is already in user).
			const values = fields.slice(1, 9).map(Number);
			const total = values.reduce((a, b) => a + b, 0);
			const idle = (values[3] ?? 0) + (values[4] ?? 0);
			if (Number.isFinite(total)) cpu = {busy: total - idle, total};
		}
		const available = kib('MemAvailable');
		if (memTotal !== undefined && available !== undefined)
			memory = {used: memTotal - available * 1024, total: memTotal};
	} else {
		const cgroup = keyValues(sections.get('cgroup') ?? '');
		const one = (key: string) => number(cgroup.get(key)?.[0]);
		const usedUs = one('cpu_us');
		const usedNs = one('cpu_ns') ?? (usedUs !== undefined ? usedUs * 1000 : undefined);
		if (usedNs !== undefined) cpu = {usedNs};
		const [quota, period] = (cgroup.get('quota') ?? []).map(v => Number(v));
		if (quota !== undefined && period !== undefined && quota > 0 && period > 0) cpus = Math.max(0.01, quota / period);
		const charged = one('memory');
		const limit = one('limit');
		if (charged !== undefined) {
			// As docker stats counts it: page cache that can be dropped is not use.
			const used = Math.max(0, charged - (one('inactive') ?? 0));
			const total = limit !== undefined && limit < NO_LIMIT ? limit : memTotal;
			if (total !== undefined) memory = {used, total};
		}
	}
	return {
		clockNs: number(sections.get('clock')) ?? Date.now() * 1e6,
		scope,
		load: parseLoadAverage(sections.get('loadavg') ?? ''),
		cpus,
		cpu,
		memory,
		server: parseServerStats(sections.get('server') ?? '', node),
	};
}

/** Two samples of a node → its usage since the first (CPU stays null without an earlier sample). */
export function nodeUsage(previous: NodeSample | undefined, current: NodeSample): NodeUsage {
	let cpu: number | null = null;
	const before = previous?.cpu;
	const now = current.cpu;
	if (before && now && 'total' in before && 'total' in now && now.total > before.total) {
		cpu = (now.busy - before.busy) / (now.total - before.total);
	} else if (before && now && 'usedNs' in before && 'usedNs' in now && previous && current.clockNs > previous.clockNs) {
		cpu = (now.usedNs - before.usedNs) / ((current.clockNs - previous.clockNs) * current.cpus);
	}
	return {
		scope: current.scope,
		cpu: cpu === null ? null : Math.min(1, Math.max(0, cpu)),
		cpus: current.cpus,
		memory: current.memory,
		load: current.load,
		server: current.server,
	};
}
