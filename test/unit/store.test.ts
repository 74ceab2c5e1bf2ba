import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {afterEach, beforeEach, describe, expect, it} from 'vitest';
import {ClusterStore} from '../../source/store/cluster-store.js';
import {resolveSpec} from '../../source/spec.js';
import {registerSecret} from '../../source/redact.js';

let home: string;
beforeEach(() => {
	home = mkdtempSync(path.join(tmpdir(), 'sb-store-'));
});
afterEach(() => rmSync(home, {recursive: true, force: true}));

describe('ClusterStore', () => {
	it('keeps a new journal in memory until persist()', () => {
		const store = new ClusterStore(home);
		const spec = resolveSpec({name: 'demo'});
		const journal = store.openJournal(spec);
		journal.update(j => {
			j.state = 'failed';
		});
		expect(existsSync(store.paths('demo').journal)).toBe(false);
		journal.persist();
		expect(store.loadJournal('demo')?.state).toBe('failed');
		expect(statSync(store.paths('demo').journal).mode & 0o777).toBe(0o600);
	});

	it('writes every update to disk before returning', () => {
		const store = new ClusterStore(home);
		const journal = store.openJournal(resolveSpec({name: 'demo'}));
		journal.persist();
		journal.update(j => {
			j.nodes.push({
				name: 'queenbee',
				index: 0,
				role: 'manager',
				state: 'creating',
				hostKey: {publicKey: 'k', fingerprint: 'f'},
			});
		});
		expect(store.loadJournal('demo')?.nodes[0]?.state).toBe('creating');
		expect(store.openJournal(resolveSpec({name: 'demo'})).value.owner).toBe(journal.value.owner);
	});

	it('never writes a registered secret', () => {
		const store = new ClusterStore(home);
		registerSecret('super-secret-token-value');
		const journal = store.openJournal(resolveSpec({name: 'demo'}));
		journal.persist();
		journal.update(j => {
			j.steps['x'] = {
				status: 'failed',
				startedAt: 'now',
				error: {kind: 'external', message: 'bad super-secret-token-value here', nextSteps: []},
			};
		});
		expect(readFileSync(store.paths('demo').journal, 'utf8')).not.toContain('super-secret-token-value');
	});

	it('lists saved clusters by name', () => {
		const store = new ClusterStore(home);
		store.saveSpec(resolveSpec({name: 'zeta'}));
		store.saveSpec(resolveSpec({name: 'alpha'}));
		expect(store.list().map(c => c.name)).toEqual(['alpha', 'zeta']);
	});

	it("refuses a second process on the same cluster, and takes over a dead one's lock", () => {
		const store = new ClusterStore(home);
		const release = store.lock('demo', 'up demo');
		expect(() => store.lock('demo', 'down demo')).toThrow(/busy: `swarmbee up demo`/);
		release();
		writeFileSync(store.paths('demo').lock, JSON.stringify({pid: 999_999_99, command: 'up demo'}));
		const again = store.lock('demo', 'up demo');
		again();
	});

	it('says which file is broken instead of overwriting it', () => {
		const store = new ClusterStore(home);
		store.saveSpec(resolveSpec({name: 'demo'}));
		writeFileSync(store.paths('demo').journal, '{not json');
		expect(() => store.loadJournal('demo')).toThrow(/journal.json is not valid JSON/);
	});
});
