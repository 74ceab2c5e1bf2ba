import {execFileSync} from 'node:child_process';
import {afterAll, beforeAll, expect, it} from 'vitest';
import type {ClusterStatus} from '../../source/observe/status.js';
import {shq} from '../../source/shell.js';
import {status, waitFor} from './database.js';
import {
	cli,
	describeWithEngine,
	dockerIn,
	events,
	labelled,
	newHome,
	purge,
	rethinkdbImage,
	uniqueName,
} from './helpers.js';

/**
 * The firewall between a node's containers and the other nodes: a container
 * on the attachable overlay (`swarmbee`, where applications run) leaves its
 * node through docker_gwbridge and is NATed to the node's private address,
 * which every node trusts with Swarm's ports. DOCKER-USER drops what
 * containers send to Swarm's ports in the private network; the nodes
 * themselves still talk, the overlay still carries traffic, the database
 * still answers where it should and nowhere else.
 */

const PORTS = [2377, 7946] as const;

/**
 * Run in the probe image (busybox) on a node: for each `address:port`,
 * whether Swarm's own protocol answered there, not just a TCP connect.
 * 2377 is TLS (a record that is no handshake gets an alert: first byte
 * 0x15); 7946 is memberlist with its gossip encrypted (any message gets an
 * encrypted one back: first byte 0x0a, encryptMsg).
 */
function speaksScript(targets: string[]): string {
	return [
		'check() {',
		'  case ${1#*:} in',
		"    2377) send='\\026\\003\\001\\000\\005hello'; want=15 ;;",
		"    7946) send='\\377\\000\\000\\000'; want=0a ;;",
		'  esac',
		'  got=$(printf "$send" | timeout 6 nc -w 4 "${1%:*}" "${1#*:}" 2>/dev/null | head -c 1 | od -An -tx1 | tr -d " \\n")',
		'  if [ "$got" = "$want" ]; then echo "answers $1"; else echo "silent $1"; fi',
		'}',
		// All at once: a silent port holds its probe for the whole timeout.
		`for t in ${targets.join(' ')}; do check "$t" & done`,
		'wait',
	].join('\n');
}

/** UDP datagrams a container (or the node) sends to Swarm's UDP ports, marked so the receiver can count them. */
const MARK = 'swarmbee-e2e-udp-probe';
const udpScript = (address: string) =>
	`for p in 7946 4789; do timeout 3 tftp -g -r ${MARK} -l /tmp/x ${address} $p >/dev/null 2>&1; done; true`;

describeWithEngine('the firewall between containers and the nodes of a 1+1 cluster with RethinkDB', () => {
	const {home, remove} = newHome();
	const name = uniqueName('e2e-harden-fw');
	const container = (node: string) => `swarmbee-${name}-${node}`;
	let image: string;
	let probe: string;
	let nodes: ClusterStatus['nodes'];
	const address = (node: string) => nodes.find(n => n.name === node)!.privateAddress!;

	beforeAll(async () => {
		image = await rethinkdbImage();
	});
	afterAll(() => {
		purge(name);
		remove();
	});

	/** From `node`: a container on the overlay, or the node itself (host network), checks each target. */
	const speaks = (node: string, network: 'swarmbee' | 'host', targets: string[]) =>
		dockerIn(container(node), `docker run --rm --network ${network} ${probe} sh -c ${shq(speaksScript(targets))}`)
			.split('\n')
			.sort();

	/** How many marked datagrams `to` received while `send` ran (a rule that only counts, first in INPUT). */
	const udpArriving = (to: string, send: () => void): number => {
		const rule = `INPUT -p udp -m multiport --dports 7946,4789 -m string --string ${MARK} --algo bm -m comment --comment ${MARK}`;
		dockerIn(container(to), `iptables -I ${rule}`);
		try {
			send();
			const counted = dockerIn(container(to), `iptables -L INPUT -v -x -n | grep ${MARK}`);
			return Number(counted.trim().split(/\s+/)[0]);
		} finally {
			dockerIn(container(to), `iptables -D ${rule}`);
		}
	};
	const udpFrom = (node: string, network: 'swarmbee' | 'host', target: string) => () =>
		dockerIn(container(node), `docker run --rm --network ${network} ${probe} sh -c ${shq(udpScript(target))}`);

	/** What a container on the overlay of each node reaches of the other's Swarm ports, and of its own node's. */
	const fromContainers = () => [
		...speaks('workerbee-1', 'swarmbee', [
			...PORTS.map(p => `${address('queenbee')}:${p}`),
			...PORTS.map(p => `${address('workerbee-1')}:${p}`),
		]),
		...speaks('queenbee', 'swarmbee', [`${address('workerbee-1')}:7946`]),
	];
	const allSilent = () => [
		...[
			...PORTS.map(p => `silent ${address('queenbee')}:${p}`),
			...PORTS.map(p => `silent ${address('workerbee-1')}:${p}`),
		].sort(),
		`silent ${address('workerbee-1')}:7946`,
	];

	it('comes up: 1+1, both database servers connected', async () => {
		const result = await cli(['up', name, '--workers', '1', '--rethinkdb-image', image, '--yes', '--plain'], home);
		expect(result.stderr).toBe('');
		expect(result.exitCode).toBe(0);
		const now = await status(name, home);
		expect(now.swarm).toEqual({managers: 1, workers: 1, ready: 2});
		expect(now.rethinkdb).toMatchObject({connected: 2, expected: 2});
		nodes = now.nodes;
		probe = dockerIn(
			container('queenbee'),
			"docker images swarmbee-probe --format '{{.Repository}}:{{.Tag}}' | head -n 1",
		);
		expect(probe).toMatch(/^swarmbee-probe:/);
	});

	it('a container on the overlay reaches no Swarm port of another node (TCP and UDP), where the nodes themselves do', () => {
		// The nodes talk Swarm to each other: the probe hears both protocols answer.
		expect(
			speaks(
				'workerbee-1',
				'host',
				PORTS.map(p => `${address('queenbee')}:${p}`),
			),
		).toEqual(PORTS.map(p => `answers ${address('queenbee')}:${p}`));
		expect(speaks('queenbee', 'host', [`${address('workerbee-1')}:7946`])).toEqual([
			`answers ${address('workerbee-1')}:7946`,
		]);
		// A container does not, neither towards the other node nor its own.
		expect(fromContainers()).toEqual(allSilent());
		// UDP: the node's datagrams arrive; the container's are dropped on its own node, by DOCKER-USER.
		expect(udpArriving('queenbee', udpFrom('workerbee-1', 'host', address('queenbee')))).toBeGreaterThan(0);
		const dropped = () =>
			dockerIn(container('workerbee-1'), 'iptables -L DOCKER-USER -v -x -n')
				.split('\n')
				.filter(line => /docker_gwbridge .*dports 7946,4789/.test(line))
				.map(line => Number(line.trim().split(/\s+/)[0]))[0]!;
		const droppedBefore = dropped();
		expect(udpArriving('queenbee', udpFrom('workerbee-1', 'swarmbee', address('queenbee')))).toBe(0);
		expect(dropped()).toBeGreaterThan(droppedBefore);
	});

	it('without those rules (as before) the same container reaches them; the next up finds the drift and puts the rules back', async () => {
		const swarmRules = `iptables -S DOCKER-USER | grep -e '--dports'`;
		expect(dockerIn(container('workerbee-1'), `${swarmRules} | wc -l`)).toBe('6');
		dockerIn(
			container('workerbee-1'),
			`${swarmRules} | sed 's/^-A /-D /' | while read -r rule; do iptables $rule; done`,
		);
		expect(
			speaks(
				'workerbee-1',
				'swarmbee',
				PORTS.map(p => `${address('queenbee')}:${p}`),
			),
		).toEqual(PORTS.map(p => `answers ${address('queenbee')}:${p}`));
		expect(udpArriving('queenbee', udpFrom('workerbee-1', 'swarmbee', address('queenbee')))).toBeGreaterThan(0);

		const result = await cli(['up', name, '--json'], home);
		expect(result.exitCode).toBe(0);
		expect(events(result.stdout)).toContainEqual(
			expect.objectContaining({
				type: 'node-state',
				node: 'workerbee-1',
				state: 'provisioning',
				detail: 'provisioning again: ufw no longer shows the rules applied (changed by hand?)',
			}),
		);
		expect(fromContainers()).toEqual(allSilent());
		expect(udpArriving('queenbee', udpFrom('workerbee-1', 'swarmbee', address('queenbee')))).toBe(0);
	});

	it('the rules outlive a restart of dockerd and a reboot of the node', async () => {
		const rules = () => dockerIn(container('workerbee-1'), 'iptables -S DOCKER-USER');
		const before = rules();
		expect(before).toContain('-i docker_gwbridge -p tcp -m multiport --dports 2377,7946 -j DROP');
		dockerIn(container('workerbee-1'), 'service docker restart >/dev/null');
		expect(rules()).toBe(before);
		expect(fromContainers()).toEqual(allSilent());

		// A local node's reboot: its container restarts and boots again (ufw loads after.rules before Docker starts).
		execFileSync('docker', ['restart', container('workerbee-1')]);
		await waitFor(
			async () => {
				const now = await status(name, home);
				return now.swarm?.ready === 2 && now.rethinkdb?.connected === 2 ? now : undefined;
			},
			180_000,
			() => 'workerbee-1 did not come back Ready with its database server',
		);
		expect(rules()).toBe(before);
		expect(fromContainers()).toEqual(allSilent());
	});

	it('Swarm still works: a service on both nodes answers over the overlay from a container on either', async () => {
		dockerIn(
			container('queenbee'),
			`docker service create --detach --name e2e-web --mode global --endpoint-mode dnsrr --network swarmbee --hostname '{{.Node.Hostname}}' ${probe} sh -c 'echo web-$(hostname) > /www/index.html; exec httpd -f -p 8000 -h /www'`,
		);
		try {
			const fetchAll = (node: string) =>
				dockerIn(
					container(node),
					// busybox's `wget -T` crashes: timeout instead (as the verify step does).
					`docker run --rm --network swarmbee ${probe} sh -c ${shq(
						"for a in $(nslookup tasks.e2e-web 2>/dev/null | sed -n 's/^Address: *\\([0-9.]*\\)$/\\1/p'); do timeout 5 wget -qO- http://$a:8000/; done",
					)}`,
				)
					.split('\n')
					.filter(Boolean)
					.sort();
			for (const node of ['queenbee', 'workerbee-1']) {
				const seen = await waitFor(
					() => {
						const answers = fetchAll(node);
						return answers.length === 2 ? answers : undefined;
					},
					90_000,
					() => `the service's two tasks did not both answer from ${node}: ${fetchAll(node).join(', ')}`,
				);
				expect(seen).toEqual(['web-queenbee', 'web-workerbee-1']);
			}
		} finally {
			dockerIn(container('queenbee'), 'docker service rm e2e-web >/dev/null');
		}
	});

	it('the database from the overlay: 28015 answers and wants the password; 29015 and 8080 stay silent', () => {
		// The V1_0 handshake, then SCRAM-SHA-256 with a proof made without the password: refused.
		const handshake = [
			'exec 3<>/dev/tcp/$1/28015',
			"printf '\\xc3\\xbd\\xc2\\x34' >&3",
			"IFS= read -r -d '' hello <&3",
			'printf \'{"protocol_version":0,"authentication_method":"SCRAM-SHA-256","authentication":"n,,n=admin,r=swarmbeee2enonce"}\\0\' >&3',
			"IFS= read -r -d '' first <&3",
			'nonce=$(printf %s "$first" | sed -n \'s/.*"authentication":"r=\\([^,]*\\),.*/\\1/p\')',
			'printf \'{"authentication":"c=biws,r=%s,p=%s"}\\0\' "$nonce" "$(head -c 32 /dev/zero | base64)" >&3',
			"IFS= read -r -d '' final <&3",
			'printf "%s\\n%s\\n" "$hello" "$final"',
		].join('\n');
		for (const node of ['queenbee', 'workerbee-1']) {
			const [hello, final] = dockerIn(
				container('workerbee-1'),
				`docker run --rm --network swarmbee ${image} timeout 20 bash -c ${shq(handshake)} _ rdb-${node}`,
			).split('\n');
			expect(JSON.parse(hello!)).toMatchObject({success: true, server_version: '2.4.4'});
			expect(JSON.parse(final!)).toMatchObject({success: false, error: 'Wrong password', error_code: 12});
		}
		// "Answers" means the server spoke its protocol (as in the RethinkDB suite).
		const heard = (targets: string[], ports: number[]) =>
			[
				'speaks() {',
				'  exec 3<>"/dev/tcp/$1/$2" || return 1',
				'  case $2 in',
				"  29015) head -c 17 <&3 | grep -q 'RethinkDB cluster' ;;",
				"  8080) printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3 | grep -q 'RethinkDB Administration Console' ;;",
				'  esac',
				'}',
				'export -f speaks',
				`for t in ${targets.join(' ')}; do for p in ${ports.join(' ')}; do`,
				'  { if timeout 5 bash -c \'speaks "$0" "$1"\' "$t" "$p" 2>/dev/null; then echo "answers $t:$p"; else echo "silent $t:$p"; fi; } &',
				'done; done',
				'wait',
			].join('\n');
		expect(
			dockerIn(
				container('workerbee-1'),
				`docker run --rm --network swarmbee ${image} bash -c ${shq(heard(['rdb-queenbee', 'rdb-workerbee-1'], [29015, 8080]))}`,
			)
				.split('\n')
				.sort(),
		).toEqual([
			'silent rdb-queenbee:29015',
			'silent rdb-queenbee:8080',
			'silent rdb-workerbee-1:29015',
			'silent rdb-workerbee-1:8080',
		]);
		// And the check can hear a server: from the node itself, the console on its task's docker_gwbridge address (the tunnel's way in).
		const gateways = dockerIn(
			container('workerbee-1'),
			"docker network inspect docker_gwbridge --format '{{range .Containers}}{{.IPv4Address}} {{end}}'",
		)
			.split(/\s+/)
			.filter(Boolean)
			.map(a => a.split('/')[0]!);
		const fromNode = dockerIn(container('workerbee-1'), `bash -c ${shq(heard(gateways, [8080]))}`).split('\n');
		expect(fromNode.filter(line => line.startsWith('answers'))).toHaveLength(1);
	});

	it('down removes it all', async () => {
		const result = await cli(['down', name, '--yes'], home);
		expect(result.exitCode).toBe(0);
		expect(labelled(name)).toEqual({containers: [], networks: [], volumes: []});
	});
});
