import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

describe('the local node image', () => {
	it('preinstalls exactly what the playbook installs, and Ansible', () => {
		const dockerfile = readFileSync(path.join(root, 'images/node/Dockerfile'), 'utf8');
		const playbook = readFileSync(path.join(root, 'ansible/playbook.yml'), 'utf8');
		const baked = /apt-get install -y --no-install-recommends ansible-core ([a-z0-9 -]+?)\s*(?:;|\\\n)/.exec(dockerfile)?.[1]?.trim().split(/\s+/);
		const installed = /swarmbee_packages: \[([^\]]+)\]/.exec(playbook)?.[1]?.split(',').map(p => p.trim());
		expect(baked).toBeDefined();
		expect(baked).toEqual(installed);
	});

	it('starts fail2ban only once the playbook has enabled it, not at first boot', () => {
		const dockerfile = readFileSync(path.join(root, 'images/node/Dockerfile'), 'utf8');
		expect(dockerfile).toContain('update-rc.d fail2ban disable');
		const playbook = readFileSync(path.join(root, 'ansible/playbook.yml'), 'utf8');
		expect(playbook).toMatch(/name: fail2ban\n\s+state: .*\n\s+enabled: true/);
	});
});
