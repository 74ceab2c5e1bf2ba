import {describe, expect, it} from 'vitest';
import {SpecError} from '../../source/errors.js';
import {memoryFitProblem, parseMemory, planNodes, resolveSpec, suggestName} from '../../source/spec.js';

function problemsOf(fn: () => unknown) {
	try {
		fn();
	} catch (error) {
		expect(error).toBeInstanceOf(SpecError);
		return (error as SpecError).problems;
	}
	throw new Error('expected a SpecError');
}

describe('resolveSpec', () => {
	it('fills the local defaults: 1 manager, 3 workers, 450m', () => {
		expect(resolveSpec({name: 'demo'})).toEqual({
			name: 'demo',
			provider: 'local',
			managers: 1,
			workers: 3,
			size: 's-1vcpu-1gb',
			region: 'local',
			image: 'debian-12',
			memoryLimit: '450m',
			memoryLimitBytes: 450 * 1024 ** 2,
			replicas: 3,
			encryptOverlay: false,
			sshFrom: ['0.0.0.0/0', '::/0'],
			tls: false,
			database: 'rethinkdb',
			rethinkdbImage: 'rethinkdb:2.4.4-bookworm-slim',
			sideLoad: false,
		});
	});

	it('leaves the overlay unencrypted by default (neither provider carries IPsec), unless asked', () => {
		expect(resolveSpec({name: 'demo', provider: 'digitalocean'}).encryptOverlay).toBe(false);
		expect(resolveSpec({name: 'demo', provider: 'digitalocean', encryptOverlay: true}).encryptOverlay).toBe(true);
		expect(resolveSpec({name: 'demo', provider: 'local', encryptOverlay: true}).encryptOverlay).toBe(true);
	});

	it.each(['Demo', 'my_cluster', '1abc', 'abc-', '-abc', 'a'.repeat(41), 'a b'])(
		'refuses the name %j and suggests a fix',
		name => {
			const [problem] = problemsOf(() => resolveSpec({name}));
			expect(problem?.field).toBe('name');
			expect(problem?.fix).toMatch(/lowercase letters, digits and hyphens/);
		},
	);

	it('suggests a valid name', () => {
		expect(suggestName('My_Cluster')).toBe('my-cluster');
		expect(resolveSpec({name: suggestName('__9 Lives__')}).name).toBe(suggestName('__9 Lives__'));
	});

	it.each([['0'], ['501'], ['-1'], ['two'], ['2.5']])('refuses %s workers', workers => {
		const [problem] = problemsOf(() => resolveSpec({name: 'demo', workers}));
		expect(problem?.field).toBe('workers');
		expect(problem?.fix).toContain('1 to 50 locally');
	});

	it.each([['51'], ['500']])('refuses %s workers on the local engine, and takes them on DigitalOcean', workers => {
		const [problem] = problemsOf(() => resolveSpec({name: 'demo', workers}));
		expect(problem?.field).toBe('workers');
		expect(problem?.fix).toContain('at most --workers 50 locally');
		expect(resolveSpec({name: 'demo', provider: 'digitalocean', workers}).workers).toBe(Number(workers));
	});

	it('accepts 1 and 50 workers', () => {
		expect(resolveSpec({name: 'demo', workers: '1'}).workers).toBe(1);
		expect(resolveSpec({name: 'demo', workers: 50}).workers).toBe(50);
	});

	it('allows 1 or 3 managers, and 3 only with at least 2 workers', () => {
		expect(problemsOf(() => resolveSpec({name: 'demo', managers: '2'}))[0]?.field).toBe('managers');
		expect(problemsOf(() => resolveSpec({name: 'demo', managers: '3', workers: '1'}))[0]?.problem).toContain(
			'at least 2 workers',
		);
		expect(resolveSpec({name: 'demo', managers: '3', workers: '2'}).managers).toBe(3);
	});

	it('reports every problem at once', () => {
		const problems = problemsOf(() => resolveSpec({name: 'Bad', workers: '0', memoryLimit: 'lots', provider: 'aws'}));
		expect(problems.map(p => p.field).sort()).toEqual(['memory-limit', 'name', 'provider', 'workers']);
	});

	it.each(['lots', '450', '0m', '', '12 parsecs'])('refuses the memory limit %j', memoryLimit => {
		const [problem] = problemsOf(() => resolveSpec({name: 'demo', memoryLimit}));
		expect(problem?.field).toBe('memory-limit');
	});

	it('refuses memory limits below 256m', () => {
		expect(problemsOf(() => resolveSpec({name: 'demo', memoryLimit: '100m'}))[0]?.problem).toContain('too little');
	});
});

describe('ssh-from', () => {
	it('takes comma-separated addresses and CIDRs, v4 and v6', () => {
		expect(resolveSpec({name: 'demo', sshFrom: '203.0.113.7/32, 198.51.100.0/24,2001:db8::/32'}).sshFrom).toEqual([
			'203.0.113.7/32',
			'198.51.100.0/24',
			'2001:db8::/32',
		]);
	});

	it.each(['anywhere', '300.1.1.1', '10.0.0.0/40', ''])('refuses %j', sshFrom => {
		expect(problemsOf(() => resolveSpec({name: 'demo', sshFrom}))[0]?.field).toBe('ssh-from');
	});
});

describe('database', () => {
	it('is RethinkDB by default, or none', () => {
		expect(resolveSpec({name: 'demo', database: 'none'}).database).toBe('none');
		expect(problemsOf(() => resolveSpec({name: 'demo', database: 'mongodb'}))[0]?.field).toBe('database');
		expect(problemsOf(() => resolveSpec({name: 'demo', rethinkdbImage: 'not an image!'}))[0]?.field).toBe(
			'rethinkdb-image',
		);
	});
});

describe('parseMemory', () => {
	it.each([
		['450m', 450 * 1024 ** 2],
		['450M', 450 * 1024 ** 2],
		['512MiB', 512 * 1024 ** 2],
		['1g', 1024 ** 3],
		['1.5G', 1.5 * 1024 ** 3],
		['2048k', 2048 * 1024],
	])('%s', (text, bytes) => {
		expect(parseMemory(text)).toBe(bytes);
	});

	it('refuses a bare number: bytes or megabytes is a guess', () => {
		expect(parseMemory('450')).toBeUndefined();
	});
});

describe('memoryFitProblem', () => {
	it('lets 450m fit a 512 MB node, as in the walk-through', () => {
		expect(memoryFitProblem({memoryLimit: '450m', size: 's-1vcpu-512mb-10gb'}, 512)).toBeUndefined();
	});

	it('refuses a limit that leaves the node nothing', () => {
		const problem = memoryFitProblem({memoryLimit: '1g', size: 's-1vcpu-1gb'}, 1024);
		expect(problem?.field).toBe('memory-limit');
		expect(problem?.fix).toContain('at most 921m');
	});
});

describe('planNodes', () => {
	it('names nodes after the walk-through', () => {
		expect(planNodes({managers: 1, workers: 3})).toEqual([
			{name: 'queenbee', index: 0, role: 'manager'},
			{name: 'workerbee-1', index: 1, role: 'worker'},
			{name: 'workerbee-2', index: 2, role: 'worker'},
			{name: 'workerbee-3', index: 3, role: 'worker'},
		]);
	});

	it('makes workerbee-1 and -2 managers with --managers 3', () => {
		expect(planNodes({managers: 3, workers: 3}).map(n => n.role)).toEqual(['manager', 'manager', 'manager', 'worker']);
	});
});
