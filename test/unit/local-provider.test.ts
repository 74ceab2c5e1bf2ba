import {describe, expect, it} from 'vitest';
import {LocalProvider} from '../../source/providers/local/provider.js';
import {counted} from '../../source/render/format.js';
import {resolveSpec} from '../../source/spec.js';
import {RecordedDocker} from './recorder.js';

/** The local provider against a recorded engine: which containers it finds, and how it asks. */

const spec = resolveSpec({name: 'demo', workers: 1, database: 'none'});
const container = (node: string, owner: string) => ({
	Id: `${node}0123456789abcdef`,
	Name: `/swarmbee-demo-${node}`,
	Config: {Labels: {'swarmbee.cluster': 'demo', 'swarmbee.node': node, 'swarmbee.owner': owner}},
	State: {Running: true, Status: 'running', StartedAt: '2026-01-01T00:00:00Z'},
	NetworkSettings: {Networks: {'swarmbee-demo-public': {IPAddress: '10.9.0.10'}}},
});

function engine() {
	const inspected = [container('queenbee', 'owner-1'), container('workerbee-1', 'owner-2')];
	return new RecordedDocker([
		{match: 'ps -aq --filter label=swarmbee.cluster=demo', reply: inspected.map(c => c.Id.slice(0, 12)).join('\n')},
		{match: /^container inspect /, reply: JSON.stringify(inspected)},
		{match: /^(network|volume) ls -q/, reply: ''},
		// The proof asks for this state's own; without the owner it would also see another state's demo,
		// made while this down ran (seen on a shared engine: down failed on it).
		{
			match:
				/^(ps -a|network ls|volume ls) --filter label=swarmbee\.cluster=demo --filter label=swarmbee\.owner=owner-1 --format/,
			reply: '',
		},
		{match: /^ps -a --filter label=swarmbee\.cluster=demo --format/, reply: 'container swarmbee-demo-queenbee'},
		{match: /^(network|volume) ls --filter label=swarmbee\.cluster=demo --format/, reply: ''},
		{match: /^rm -f -v /, reply: ''},
	]);
}

describe('local provider', () => {
	it("lists the cluster's containers by label and inspects them: machines, and what down removes", async () => {
		const docker = engine();
		const provider = new LocalProvider(docker);
		const machines = await provider.listMachines({spec, owner: 'owner-1'});
		expect(machines.map(m => [m.name, m.owner, m.status, m.publicAddress])).toEqual([
			['queenbee', 'owner-1', 'running', '10.9.0.10'],
			['workerbee-1', 'owner-2', 'running', '10.9.0.10'],
		]);
		const report = await provider.destroy({spec, owner: 'owner-1'}, {includeForeign: false});
		expect(report.removed).toEqual(['1 container', '0 networks', '0 volumes']);
		expect(report.foreign).toEqual(['container swarmbee-demo-workerbee-1']);
		expect(report.remaining).toEqual([]);
		expect(docker.commands.filter(c => c[0] === 'rm')).toEqual([['rm', '-f', '-v', 'queenbee0123456789abcdef']]);
		expect(docker.commands.filter(c => c.join(' ').startsWith('ps -aq'))).toHaveLength(2);
	});

	it('refuses a name that another state or an unlabelled container uses; a labelled container is not taken for an unlabelled one', async () => {
		const docker = engine();
		docker.rules.unshift({
			match: 'ps -a --filter name=^swarmbee-demo- --format',
			reply: ['queenbee', 'workerbee-1', 'stray']
				.map(n => JSON.stringify({ID: `${n}0123456789abcdef`.slice(0, 12), Names: `swarmbee-demo-${n}`}))
				.join('\n'),
		});
		const check = (
			new LocalProvider(docker) as unknown as {checkNamesAreOurs: (ctx: unknown) => Promise<Set<string>>}
		).checkNamesAreOurs({spec, owner: 'owner-1'});
		const error = await check.then(
			() => undefined,
			(e: unknown) => e as {hint: string},
		);
		expect(error?.hint).toBe(
			'container swarmbee-demo-workerbee-1, container swarmbee-demo-stray (not made by swarmbee) belong to a cluster this swarmbee state did not create.',
		);
	});

	it('counts a noun the way every report does', () => {
		expect([counted(0, 'droplet'), counted(1, 'SSH key'), counted(3, 'container')]).toEqual([
			'0 droplets',
			'1 SSH key',
			'3 containers',
		]);
	});
});
