import {readFileSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {parse} from 'yaml';
import {
	checkStackFile,
	databaseGrant,
	parsePort,
	parseStackFile,
	renderAppStack,
	StackFileError,
	type StackFile,
} from '../../source/apps/stack-file.js';

/** A rendered stack file as data, indexed freely by the assertions. */
// biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document
function yamlData(text: string): Record<string, any> {
	return parse(text);
}

const OPTIONS = {allowHostAccess: false, overlay: 'swarmbee'};

function read(text: string, env: NodeJS.ProcessEnv = {}): StackFile {
	return parseStackFile(text, {file: 'stack.yml', env});
}

/** The problems a stack file is refused with, as `LINE: message`. */
function refusal(text: string, options = OPTIONS): {lines: string[]; error: StackFileError} {
	let error: unknown;
	try {
		checkStackFile(read(text), options);
	} catch (e) {
		error = e;
	}
	if (!(error instanceof StackFileError)) throw new Error(`not refused: ${String(error)}`);
	return {lines: error.problems.map(p => `${p.line}: ${p.message}`), error};
}

const GOOD = `services:
  web:
    image: hello:1
    ports:
      - "8000:8000"
`;

describe('the stack file: every bad input refused with its line and fix, before anything changes', () => {
	it('a good file passes, with its services and images', () => {
		const checked = checkStackFile(read(GOOD), OPTIONS);
		expect(checked.services).toEqual(['web']);
		expect(checked.images).toEqual([{service: 'web', image: 'hello:1', line: 3}]);
	});

	it('YAML that is not valid: the line of the error', () => {
		const error = (() => {
			try {
				read('services:\n  web:\n    image: a\n   ports: [1\n');
			} catch (e) {
				return e as StackFileError;
			}
			throw new Error('not refused');
		})();
		expect(error).toBeInstanceOf(StackFileError);
		expect(error.problems[0]!.line).toBeGreaterThanOrEqual(3);
		expect(error.message).toMatch(/^stack\.yml:\d+: not valid YAML/);
		expect(error.nextSteps[0]).toMatch(/indentation/);
	});

	it('not a Compose file: no services, a list at the top, an unknown top-level key', () => {
		expect(() => read('- a\n- b\n')).toThrow(/top level is not a mapping/);
		expect(refusal('version: "3.8"\n').lines).toEqual(['1: has no services']);
		expect(refusal(`${GOOD}servces: {}\n`).lines).toEqual(['6: servces is not a top-level key of a Compose file']);
	});

	it('a port swarmbee or the edge owns: 80, 443 and the database’s, in every syntax', () => {
		const file = `services:
  web:
    image: hello:1
    ports:
      - "80:8000"
      - "127.0.0.1:443:8443/tcp"
      - target: 28015
        published: 28015
      - "8079-8081:9079-9081"
      - "29015"
      - 9000
`;
		const {lines, error} = refusal(file);
		expect(lines).toEqual([
			'5: web: port 80 is the edge’s (HTTP)',
			'6: web: port 443 is the edge’s (HTTPS)',
			'7: web: port 28015 is the database’s driver port',
			'9: web: port 8080 is the database’s web console',
		]);
		expect(error.nextSteps[0]).toMatch(/^line 5: publish another port \(e\.g\. 8000\)/);
		// A target alone publishes nothing.
		expect(parsePort('29015')).toEqual({published: [], mode: 'ingress'});
	});

	it('the Docker socket, in any form, even with --allow-host-access', () => {
		const file = `services:
  web:
    image: hello:1
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - type: bind
        source: /run/
        target: /host-run
      - /:/host
`;
		for (const allowHostAccess of [false, true]) {
			const {lines} = refusal(file, {...OPTIONS, allowHostAccess});
			expect(lines).toEqual([
				'5: mounts /var/run/docker.sock, which hands over the node’s Docker engine (root on every node)',
				'6: mounts /run/, which hands over the node’s Docker engine (root on every node)',
				'9: mounts /, which hands over the node’s Docker engine (root on every node)',
			]);
		}
	});

	it('host mounts and cap_add need --allow-host-access; a path of this machine never works', () => {
		const file = `services:
  web:
    image: hello:1
    cap_add: [NET_ADMIN]
    volumes:
      - /srv/data:/data
      - ./here:/here
volumes:
  pinned:
    driver_opts: {type: none, o: bind, device: /srv/pinned}
`;
		expect(refusal(file).lines).toEqual([
			'4: web: cap_add gives the container rights on its node',
			'6: mounts /srv/data from the node the task runs on',
			'7: mounts ./here, a path on this machine: it would be looked for on the node the task runs on',
			'10: mounts /srv/pinned from the node the task runs on',
		]);
		expect(refusal(file, {...OPTIONS, allowHostAccess: true}).lines).toEqual([
			'7: mounts ./here, a path on this machine: it would be looked for on the node the task runs on',
		]);
	});

	it('privileged and host networking, always', () => {
		const file = `services:
  web:
    image: hello:1
    privileged: true
    network_mode: host
  other:
    image: hello:1
    networks: [outside]
networks:
  outside:
    external: true
    name: host
`;
		const {lines, error} = refusal(file, {...OPTIONS, allowHostAccess: true});
		expect(lines).toEqual([
			'5: web: network_mode: host puts the service on the node’s own network',
			'4: web: privileged gives the container every right on its node',
			'10: network host is the node’s own network (host networking)',
		]);
		expect(error.message).toBe('3 problems in stack.yml; nothing was changed');
		expect(error.hint).toContain('stack.yml:4: web: privileged');
	});

	it('an image-less service, a build alone, an unknown key, env_file, configs', () => {
		const file = `services:
  web:
    build: .
  api:
    image: api:1
    imagee: typo
    env_file: .env
configs:
  c:
    file: ./c.txt
`;
		expect(refusal(file).lines).toEqual([
			'3: web has no image (build: is not deployed)',
			'6: api: imagee is not a key of a Swarm service',
			'7: api: env_file is read on the manager, where this file’s folder is not',
			'8: configs: are not deployed by swarmbee (their files would have to be on the manager)',
		]);
	});

	it('secrets: named by services but not declared, values from files, a Swarm secret of another’s, swarmbee’s own names', () => {
		const file = `services:
  web:
    image: hello:1
    secrets:
      - session_key
      - undeclared
      - source: api_key
        target: rethinkdb_password
secrets:
  session_key: {}
  api_key:
    file: ./api_key.txt
  admin:
    external: true
    name: swarmbee_rethinkdb_admin_0123456789
  rethinkdb_password: {}
`;
		expect(refusal(file).lines).toEqual([
			'6: secret undeclared is not declared under the top-level secrets:',
			'7: target rethinkdb_password: /run/secrets/rethinkdb_* is where swarmbee puts the database credentials',
			'12: secret api_key takes its value from a file',
			'15: secret admin names a Swarm secret of its own: an app gets only the secrets set for it',
			"16: rethinkdb_password is swarmbee's: it holds the app's database credentials",
		]);
	});

	it('the variables swarmbee sets, the overlay defined again, service names the database owns', () => {
		const file = `services:
  rdb-queenbee:
    image: hello:1
  web:
    image: hello:1
    environment:
      RETHINKDB_HOST: localhost
networks:
  swarmbee:
    driver: overlay
`;
		expect(refusal(file).lines).toEqual([
			'2: rdb-queenbee: names starting with rdb- are the database servers’ on the overlay',
			'7: web: RETHINKDB_HOST is set by swarmbee (the app’s own database user)',
			'9: swarmbee is the cluster’s overlay: it cannot be defined here',
		]);
	});

	it('interpolation as Compose does it, from this machine’s environment; an unset variable is refused', () => {
		const stack = read(
			'services:\n  web:\n    image: ${IMAGE:-hello:1}\n    command: ["echo", "$$HOME", "${GREETING}"]\n',
			{
				GREETING: 'hi',
			},
		);
		expect((stack.data['services'] as {web: {image: string; command: string[]}}).web).toEqual({
			image: 'hello:1',
			command: ['echo', '$HOME', 'hi'],
		});
		expect(() => read('services:\n  web:\n    image: ${IMAGE}\n')).toThrow(
			'stack.yml:3: IMAGE is not set in this shell',
		);
		expect(() => read('services:\n  web:\n    image: ${IMAGE:?build it first}\n')).toThrow(
			'stack.yml:3: IMAGE is required: build it first',
		);
	});
});

describe('the stack deploy gets', () => {
	const access = {
		host: 'rdb-{{.Node.Hostname}}',
		hosts: ['rdb-queenbee', 'rdb-workerbee-1'],
		port: 28015,
		db: 'hello',
		user: 'hello',
		passwordSecret: 'hello_rethinkdb_password_abc',
	};

	it('the example app: overlay, database variables and secret, start-first updates, dnsrr, labels, pinned image', () => {
		const file = path.resolve(import.meta.dirname, '../../examples/hello/stack.yml');
		const stack = parseStackFile(readFileSync(file, 'utf8'), {file, env: {}});
		checkStackFile(stack, OPTIONS);
		const rendered = renderAppStack(stack, {
			app: 'hello',
			source: file,
			overlay: 'swarmbee',
			imageIds: new Map([['hello:1', 'sha256:1234']]),
			secrets: new Map([['session_key', 'hello_session_key_0123456789ab']]),
			database: access,
		});
		expect(rendered).toMatch(/^# App hello, from /);
		const out = yamlData(rendered);
		expect(out['version']).toBe('3.8');
		const web = out['services'].web;
		expect(web.image).toBe('hello:1');
		expect(web.environment).toEqual({
			TASK_SLOT: '{{.Task.Slot}}',
			DRAIN_SECONDS: '5',
			RETHINKDB_HOST: 'rdb-{{.Node.Hostname}}',
			RETHINKDB_HOSTS: 'rdb-queenbee,rdb-workerbee-1',
			RETHINKDB_PORT: '28015',
			RETHINKDB_DB: 'hello',
			RETHINKDB_USER: 'hello',
			RETHINKDB_PASSWORD_FILE: '/run/secrets/rethinkdb_password',
		});
		expect(web.secrets).toEqual(['session_key', {source: 'swarmbee_rethinkdb_password', target: 'rethinkdb_password'}]);
		expect(web.networks).toEqual({default: null, swarmbee: null});
		expect(web.labels).toEqual({'swarmbee.image': 'sha256:1234'});
		expect(web.deploy).toEqual({
			replicas: 3,
			endpoint_mode: 'dnsrr',
			update_config: {order: 'start-first', failure_action: 'rollback', parallelism: 1, monitor: '5s'},
			rollback_config: {order: 'start-first'},
			labels: {'swarmbee.app': 'hello', 'swarmbee.source': file},
		});
		expect(web.stop_grace_period).toBe('30s');
		expect(out['networks']).toEqual({swarmbee: {external: true, name: 'swarmbee'}});
		expect(out['secrets']).toEqual({
			session_key: {external: true, name: 'hello_session_key_0123456789ab'},
			swarmbee_rethinkdb_password: {external: true, name: 'hello_rethinkdb_password_abc'},
		});
	});

	it('what the file says wins; ignored keys and extensions go; a service publishing through the mesh keeps its VIP; $ is doubled', () => {
		const stack = read(`x-swarmbee: {routes: []}
services:
  web:
    image: web:1
    container_name: web
    command: ["sh", "-c", "echo $$HOME"]
    ports: ["8000:8000"]
    networks: [back]
    x-note: hi
    deploy:
      update_config: {order: stop-first}
networks:
  back: {}
`);
		const checked = checkStackFile(stack, OPTIONS);
		expect(checked.warnings).toEqual(['web: container_name is not used on a swarm (Swarm names the tasks itself)']);
		const out = yamlData(
			renderAppStack(stack, {
				app: 'shop',
				source: '/s.yml',
				overlay: 'swarmbee',
				imageIds: new Map(),
				secrets: new Map(),
			}),
		);
		const web = out['services'].web;
		expect(web.container_name).toBeUndefined();
		expect(web['x-note']).toBeUndefined();
		expect(out['x-swarmbee']).toBeUndefined();
		expect(web.command).toEqual(['sh', '-c', 'echo $$HOME']);
		expect(web.networks).toEqual(['back', 'swarmbee']);
		expect(web.deploy.endpoint_mode).toBeUndefined();
		expect(web.deploy.update_config).toEqual({order: 'stop-first', failure_action: 'rollback'});
		expect(web.environment).toBeUndefined();
		expect(web.labels).toBeUndefined();
	});

	it('the CA slots in as one more secret and RETHINKDB_CA_FILE', () => {
		const grant = databaseGrant({...access, caSecret: 'swarmbee_ca_0123'});
		expect(grant.environment['RETHINKDB_CA_FILE']).toBe('/run/secrets/rethinkdb_ca.pem');
		expect(grant.secrets.map(s => [s.key, s.name, s.target])).toEqual([
			['swarmbee_rethinkdb_password', 'hello_rethinkdb_password_abc', 'rethinkdb_password'],
			['swarmbee_rethinkdb_ca', 'swarmbee_ca_0123', 'rethinkdb_ca.pem'],
		]);
	});
});
