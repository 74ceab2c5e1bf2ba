import {describe, expect, it} from 'vitest';
import {loadAverageCommand, parseLoadAverage, parseServices, serviceListCommand, serviceTasksCommand} from '../../source/cluster/dashboard-data.js';

describe('dashboard data', () => {
	it('builds its remote commands as values', () => {
		expect(serviceListCommand).toBe("docker service ls --format '{{json .}}'");
		expect(serviceTasksCommand).toBe(`ids=$(docker service ls -q); [ -z "$ids" ] || docker service ps --no-trunc --format '{{json .}}' $ids`);
		expect(loadAverageCommand).toBe('cat /proc/loadavg');
	});

	it('parses services with their current tasks, counting failures in the history', () => {
		const services = [
			{ID: 's1', Name: 'rethinkdb', Mode: 'global', Replicas: '2/2', Image: 'rethinkdb:2.4.4@sha256:0123abcd', Ports: ''},
			{ID: 's2', Name: 'admin', Mode: 'replicated', Replicas: '0/1', Image: 'nginx:1', Ports: '*:8080->80/tcp'},
		].map(s => JSON.stringify(s)).join('\n');
		const tasks = [
			{ID: 't1', Name: 'rethinkdb.abc', Node: 'queenbee', DesiredState: 'Running', CurrentState: 'Running 2 minutes ago', Error: ''},
			{ID: 't2', Name: 'rethinkdb.def', Node: 'workerbee-1', DesiredState: 'Running', CurrentState: 'Running 2 minutes ago', Error: ''},
			{ID: 't3', Name: 'rethinkdb.def', Node: 'workerbee-1', DesiredState: 'Shutdown', CurrentState: 'Failed 3 minutes ago', Error: '"task: non-zero exit (1)"'},
			{ID: 't5', Name: ' \\_ rethinkdb.def', Node: 'workerbee-1', DesiredState: 'Shutdown', CurrentState: 'Failed 9 minutes ago', Error: 'task: non-zero exit (1)'},
			{ID: 't4', Name: 'admin.1', Node: 'queenbee', DesiredState: 'Running', CurrentState: 'Pending 5 seconds ago', Error: 'no suitable node'},
		].map(t => JSON.stringify(t)).join('\n');
		expect(parseServices(services, tasks)).toEqual([
			{name: 'admin', mode: 'replicated', replicas: '0/1', image: 'nginx:1', ports: '*:8080->80/tcp', tasks: [
				{name: 'admin.1', node: 'queenbee', desiredState: 'Running', currentState: 'Pending 5 seconds ago', error: 'no suitable node'},
			], failures: 0, lastError: ''},
			{name: 'rethinkdb', mode: 'global', replicas: '2/2', image: 'rethinkdb:2.4.4', ports: '', tasks: [
				{name: 'rethinkdb.abc', node: 'queenbee', desiredState: 'Running', currentState: 'Running 2 minutes ago', error: ''},
				{name: 'rethinkdb.def', node: 'workerbee-1', desiredState: 'Running', currentState: 'Running 2 minutes ago', error: ''},
			], failures: 2, lastError: 'task: non-zero exit (1)'},
		]);
		expect(parseServices('', '')).toEqual([]);
	});

	it('parses /proc/loadavg', () => {
		expect(parseLoadAverage('0.42 0.30 0.21 1/234 5678\n')).toEqual({load1: 0.42, load5: 0.3, load15: 0.21});
		expect(parseLoadAverage('')).toBeNull();
	});
});
