import {afterEach, describe, expect, it, vi} from 'vitest';
import {dockerUserRules, parseProvisionedCheck, provisionDrift, ufwRules} from '../../source/nodes/provisioned.js';
import {pollUntil, withTimeout} from '../../source/concurrency.js';
import {InputError} from '../../source/errors.js';
import {
	checkAnswer,
	fieldDefault,
	PROFILE_KEYS,
	profileFlagsUsage,
	profileSchema,
	SPEC_FIELDS,
	specInputFromFlags,
	specParseOptions,
	specUsageLines,
} from '../../source/spec-fields.js';
import {mergeWithSaved, resolveSpec, savedForm} from '../../source/spec.js';

describe('SPEC_FIELDS: everything about a setting comes from its entry', () => {
	it('every field has a flag, a usage line and a value in a resolved spec', () => {
		const options = specParseOptions();
		const usage = specUsageLines().join('\n');
		const spec = resolveSpec({name: 'demo', playbook: '/p.yml'});
		for (const f of SPEC_FIELDS) {
			expect(options[f.flag]).toBeDefined();
			expect(usage).toContain(`--${f.flag}`);
			expect(spec[f.key]).toBeDefined();
		}
		expect(options['no-encrypt-overlay']).toEqual({type: 'boolean'});
		expect(options['memory-limit']).toEqual({type: 'string'});
	});

	it('turns flags into input, a switch and its --no- form refused together', () => {
		expect(specInputFromFlags({'memory-limit': '1g', 'no-encrypt-overlay': true, 'side-load': true})).toEqual({
			memoryLimit: '1g',
			encryptOverlay: false,
			sideLoad: true,
		});
		expect(() => specInputFromFlags({'encrypt-overlay': true, 'no-encrypt-overlay': true})).toThrow(InputError);
	});

	it('parses sizes once: the spec carries the bytes', () => {
		expect(resolveSpec({name: 'demo', memoryLimit: '1.5g'})).toMatchObject({
			memoryLimit: '1.5g',
			memoryLimitBytes: 1.5 * 1024 ** 3,
		});
	});

	it('defaults follow the provider; the wizard reads the same ones', () => {
		expect(fieldDefault('region', 'local')).toBe('local');
		expect(fieldDefault('region', 'digitalocean')).toBe('nyc3');
		expect(resolveSpec({name: 'demo', provider: 'digitalocean'}).image).toBe('debian-12-x64');
		expect(checkAnswer('rethinkdbImage', 'not an image!', 'local')).toBe(
			'"not an image!" is not an image reference: e.g. rethinkdb:2.4.4-bookworm-slim or registry.example.com/rethinkdb:2.4.4',
		);
	});

	it('a field that may not change is refused on an existing cluster, one that may is applied', () => {
		const saved = resolveSpec({name: 'demo'});
		expect(() => mergeWithSaved(saved, 'demo', {managers: '3'})).toThrow(
			'cluster demo exists with --managers 1, not 3',
		);
		expect(() => mergeWithSaved(saved, 'demo', {workers: '5'})).toThrow(
			expect.objectContaining({nextSteps: ['workers: to change the node count: swarmbee scale demo --workers 5']}),
		);
		// Another image through up would restart every server at once: upgrade is the way.
		expect(() => mergeWithSaved(saved, 'demo', {rethinkdbImage: 'r:2'})).toThrow(
			expect.objectContaining({
				nextSteps: [
					'rethinkdb-image: to move its servers to another image one at a time: swarmbee upgrade demo --rethinkdb-image r:2',
				],
			}),
		);
		expect(mergeWithSaved(saved, 'demo', {sideLoad: true}).sideLoad).toBe(true);
	});

	it('spec.json keeps what was asked, nothing derived', () => {
		expect(savedForm(resolveSpec({name: 'demo'}))).not.toHaveProperty('memoryLimitBytes');
		expect(resolveSpec(savedForm(resolveSpec({name: 'demo', workers: 4})))).toEqual(
			resolveSpec({name: 'demo', workers: 4}),
		);
	});

	it('profiles keep what the wizard asks, checked by a schema made of the same entries', () => {
		expect(PROFILE_KEYS).toEqual([
			'provider',
			'workers',
			'managers',
			'size',
			'region',
			'image',
			'memoryLimit',
			'database',
			'rethinkdbImage',
		]);
		expect(profileSchema()).toMatchObject({
			type: 'object',
			additionalProperties: false,
			properties: {workers: {type: 'integer'}, memoryLimit: {type: 'string'}},
		});
		expect(profileFlagsUsage()).toBe(
			'[--provider local|digitalocean] [--workers N] [--managers 1|3] [--size SLUG] [--region SLUG] [--image SLUG] [--memory-limit SIZE] [--database rethinkdb|none] [--rethinkdb-image IMAGE]',
		);
	});
});

describe('what provisioning applied', () => {
	const wanted = {swarmbee: '0.1.0', playbooks: 'p1', firewall: 'f1'};

	it('renders the firewall as ufw lines: SSH from the allowed sources, Swarm only from the private network', () => {
		expect(ufwRules({sshFrom: ['203.0.113.7/32'], privateCidr: '10.9.1.0/24'})).toEqual([
			'default deny incoming',
			'default allow outgoing',
			'allow from 203.0.113.7/32 to any port 22 proto tcp',
			'allow from 10.9.1.0/24 to any port 2377 proto tcp',
			'allow from 10.9.1.0/24 to any port 7946 proto tcp',
			'allow from 10.9.1.0/24 to any port 7946 proto udp',
			'allow from 10.9.1.0/24 to any port 4789 proto udp',
			'allow from 10.9.1.0/24 proto esp',
		]);
	});

	it('DOCKER-USER: containers reach no Swarm port of another node; published ports answer the private network only', () => {
		const rules = dockerUserRules('10.9.1.0/24');
		expect(rules).toEqual([
			'*filter',
			':DOCKER-USER - [0:0]',
			'-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN',
			'-A DOCKER-USER -i docker0 -d 10.9.1.0/24 -p tcp -m multiport --dports 2377,7946 -j DROP',
			'-A DOCKER-USER -i docker0 -d 10.9.1.0/24 -p udp -m multiport --dports 7946,4789 -j DROP',
			'-A DOCKER-USER -i docker_gwbridge -d 10.9.1.0/24 -p tcp -m multiport --dports 2377,7946 -j DROP',
			'-A DOCKER-USER -i docker_gwbridge -d 10.9.1.0/24 -p udp -m multiport --dports 7946,4789 -j DROP',
			'-A DOCKER-USER -i br-+ -d 10.9.1.0/24 -p tcp -m multiport --dports 2377,7946 -j DROP',
			'-A DOCKER-USER -i br-+ -d 10.9.1.0/24 -p udp -m multiport --dports 7946,4789 -j DROP',
			'-A DOCKER-USER -s 10.9.1.0/24 -j RETURN',
			'-A DOCKER-USER -i docker0 -j RETURN',
			'-A DOCKER-USER -i docker_gwbridge -j RETURN',
			'-A DOCKER-USER -i br-+ -j RETURN',
			'-A DOCKER-USER -m conntrack --ctstate NEW -j DROP',
			'-A DOCKER-USER -j RETURN',
			'COMMIT',
		]);
		// The drops come before anything a bridge's traffic could RETURN on.
		const lastDrop = rules.findLastIndex(rule => rule.includes('--dports'));
		expect(rules.findIndex(rule => /-i \S+ -j RETURN|-s \S+ -j RETURN/.test(rule))).toBeGreaterThan(lastDrop);
	});

	it('finds no drift when the record matches, ufw shows what was applied and fail2ban runs; names each drift otherwise', () => {
		const seen = (applied: object | string, ufw = 'as-applied', fail2ban = 'running') =>
			parseProvisionedCheck(
				`applied=${typeof applied === 'string' ? applied : JSON.stringify(applied)}\nufw=${ufw}\nfail2ban=${fail2ban}\n`,
			);
		expect(provisionDrift(wanted, seen(wanted))).toEqual([]);
		expect(provisionDrift(wanted, seen({...wanted, swarmbee: '0.0.9', firewall: 'f0'}, 'changed', 'stopped'))).toEqual([
			'swarmbee 0.0.9 provisioned it, this is 0.1.0',
			'the firewall rules wanted changed',
			'ufw no longer shows the rules applied (changed by hand?)',
			'fail2ban is not running',
		]);
		expect(provisionDrift(wanted, seen(''))).toEqual(['no record of an earlier provisioning run on the node']);
		expect(provisionDrift(wanted, seen('{"swarmbee": "0.1'))).toEqual([
			'no record of an earlier provisioning run on the node',
		]);
	});
});

describe('pollUntil', () => {
	afterEach(() => vi.useRealTimers());

	it('asks again after each interval until the answer is good, or says it timed out with the last answer', async () => {
		vi.useFakeTimers();
		let asked = 0;
		const ready = pollUntil(
			async () => ++asked,
			n => n === 3,
			{intervalMs: 1_000, timeoutMs: 10_000},
		);
		await vi.advanceTimersByTimeAsync(2_000);
		expect(await ready).toEqual({met: true, value: 3});
		const late = pollUntil(
			async () => 'no',
			() => false,
			{intervalMs: attempt => 1_000 * 2 ** attempt, timeoutMs: 5_000},
		);
		await vi.advanceTimersByTimeAsync(8_000);
		expect(await late).toEqual({met: false, last: 'no'});
	});

	it("keeps the clock and the wait it is given (a provider's timing): no real time passes", async () => {
		let clock = 0;
		const waits: number[] = [];
		let asked = 0;
		const polled = await pollUntil(
			async () => ++asked,
			() => false,
			{
				intervalMs: 1_000,
				timeoutMs: 5_000,
				now: () => clock,
				sleep: async ms => {
					waits.push(ms);
					clock += ms;
				},
			},
		);
		expect(polled).toEqual({met: false, last: 5});
		expect(waits).toEqual([1_000, 1_000, 1_000, 1_000, 1_000]);
		expect(clock).toBe(5_000);
	});
});

describe('withTimeout', () => {
	afterEach(() => vi.useRealTimers());

	it("the work's own answer when it settles in time (and no timer stays); the timeout's error, made then, when not", async () => {
		vi.useFakeTimers();
		let made = 0;
		const late = () => {
			made++;
			return new Error('did not answer within 5 s');
		};
		expect(await withTimeout(Promise.resolve('answer'), 5_000, late)).toBe('answer');
		await expect(withTimeout(Promise.reject(new Error('refused')), 5_000, late)).rejects.toThrow('refused');
		expect(vi.getTimerCount()).toBe(0);
		expect(made).toBe(0);
		const hanging = withTimeout(new Promise(() => {}), 5_000, late);
		const outcome = hanging.catch((error: Error) => error.message);
		await vi.advanceTimersByTimeAsync(4_999);
		expect(made).toBe(0);
		await vi.advanceTimersByTimeAsync(1);
		expect(await outcome).toBe('did not answer within 5 s');
		expect(made).toBe(1);
	});
});
