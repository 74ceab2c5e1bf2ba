import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {FIREWALL_STATE, provisionedCheckCommand, ufwSnapshotCommand} from '../../source/nodes/provisioned.js';
import {OLD_SSHD_DROP_IN, SSHD_DROP_IN, sshdConfig} from '../../source/nodes/sshd.js';

const root = path.resolve(import.meta.dirname, '../..');

describe('the local node image', () => {
	it('preinstalls exactly what the playbook installs, and Ansible', () => {
		const dockerfile = readFileSync(path.join(root, 'images/node/Dockerfile'), 'utf8');
		const playbook = readFileSync(path.join(root, 'ansible/playbook.yml'), 'utf8');
		const baked = /apt-get install -y --no-install-recommends ansible-core ([a-z0-9 -]+?)\s*(?:;|\\\n)/
			.exec(dockerfile)?.[1]
			?.trim()
			.split(/\s+/);
		const installed = /swarmbee_packages: \[([^\]]+)\]/
			.exec(playbook)?.[1]
			?.split(',')
			.map(p => p.trim());
		expect(baked).toBeDefined();
		// Local nodes run no systemd: they get the playbook's rsyslog (fail2ban's log) too.
		expect(baked).toEqual([...installed!, 'rsyslog']);
		expect(playbook).toContain("if swarmbee_systemd else ['rsyslog']");
	});

	it('bakes the sshd settings the playbook enforces, in the drop-in read first', () => {
		expect(readFileSync(path.join(root, 'images/node/sshd_config'), 'utf8')).toBe(sshdConfig());
		expect(readFileSync(path.join(root, 'images/node/Dockerfile'), 'utf8')).toContain(
			`COPY sshd_config ${SSHD_DROP_IN}\n`,
		);
		const playbook = readFileSync(path.join(root, 'ansible/playbook.yml'), 'utf8');
		expect(playbook).toContain(`file=${SSHD_DROP_IN}\n`);
		expect(playbook).toContain(`old=${OLD_SSHD_DROP_IN}\n`);
	});

	it("the playbook's firewall task keeps the state the drift look compares (ufw and DOCKER-USER), in the same words", () => {
		const playbook = readFileSync(path.join(root, 'ansible/playbook.yml'), 'utf8');
		expect(playbook).toContain(`${FIREWALL_STATE} | cmp -s - "$seen"`);
		expect(playbook).toContain(`${FIREWALL_STATE} >"$seen"`);
		expect(ufwSnapshotCommand).toBe(`${FIREWALL_STATE} >/etc/ufw/swarmbee.status`);
		expect(provisionedCheckCommand).toContain(`${FIREWALL_STATE} 2>/dev/null | cmp -s - /etc/ufw/swarmbee.status`);
	});

	it("keeps rsyslog off the kernel log (the host's, in a container)", () => {
		const conf = readFileSync(path.join(root, 'images/node/rsyslog.conf'), 'utf8');
		expect(conf).toMatch(/^module\(load="imuxsock"\)$/m);
		expect(conf).not.toMatch(/^[^#]*imklog/m);
		expect(conf).toMatch(/^auth,authpriv\.\* .*file="\/var\/log\/auth\.log"/m);
	});

	it('starts fail2ban only once the playbook has enabled it, not at first boot', () => {
		const dockerfile = readFileSync(path.join(root, 'images/node/Dockerfile'), 'utf8');
		expect(dockerfile).toContain('update-rc.d fail2ban disable');
		const playbook = readFileSync(path.join(root, 'ansible/playbook.yml'), 'utf8');
		expect(playbook).toMatch(/name: fail2ban\n\s+state: .*\n\s+enabled: true/);
	});
});
