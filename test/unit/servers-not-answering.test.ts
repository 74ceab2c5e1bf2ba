import {describe, expect, it} from 'vitest';
import {serversNotAnswering} from '../../source/database/leaving.js';
import {ExternalError} from '../../source/errors.js';
import {SshConnectError} from '../../source/ssh/connection.js';
import type {NodeShells, RemoteShell} from '../../source/ssh/shell.js';

/** How each node behaves when asked to run `true`. */
type Behaviour = 'answers' | 'hangs' | 'refuses-connect' | 'declines-channel';

/** Shells whose nodes behave as told, recording which connections were dropped and which nodes were asked. */
function shells(behaviour: Record<string, Behaviour>) {
	const dropped: string[] = [];
	const asked: string[] = [];
	const pool: NodeShells = {
		async get(node) {
			asked.push(node);
			if (behaviour[node] === 'refuses-connect')
				throw new SshConnectError(`SSH to ${node} (10.0.0.9:22) failed: connect ECONNREFUSED`, {node});
			const shell: Partial<RemoteShell> = {
				exec: (_command, options) =>
					new Promise((resolve, reject) => {
						if (behaviour[node] === 'answers') resolve({code: 0, stdout: '', stderr: ''});
						else if (behaviour[node] === 'declines-channel')
							reject(new ExternalError(`could not run a command on ${node}: (SSH) Channel open failure`, {node}));
						// A node stopped hard: nothing comes back, not even for the abort.
						else options?.signal?.addEventListener('abort', () => {});
					}),
			};
			return shell as RemoteShell;
		},
		waitFor: () => Promise.reject(new Error('not used')),
		drop: node => dropped.push(node),
		closeAll: () => {},
	};
	return {pool, dropped, asked};
}

const nodeOf = (server: string) => server.replace('_', '-');

describe('serversNotAnswering: which nodes are silent, without cutting the database session', () => {
	it('names a node that hangs (within its bound) and one that refuses connections, and drops only their connections', async () => {
		const {pool, dropped} = shells({
			queenbee: 'answers',
			'workerbee-1': 'hangs',
			'workerbee-2': 'refuses-connect',
			'workerbee-3': 'answers',
		});
		const started = Date.now();
		const silent = await serversNotAnswering(
			pool,
			nodeOf,
			['queenbee', 'workerbee_1', 'workerbee_2', 'workerbee_3'],
			new AbortController().signal,
			{timeoutMs: 200},
		);
		expect(Date.now() - started).toBeLessThan(2_000);
		expect(silent).toEqual(['workerbee_1', 'workerbee_2']);
		expect(dropped.sort()).toEqual(['workerbee-1', 'workerbee-2']);
	});

	it('a node that declines a channel has answered: its connection (which may carry forwards) is kept', async () => {
		const {pool, dropped} = shells({queenbee: 'declines-channel'});
		const silent = await serversNotAnswering(pool, nodeOf, ['queenbee'], new AbortController().signal, {
			timeoutMs: 200,
		});
		expect(silent).toEqual([]);
		expect(dropped).toEqual([]);
	});

	it('never asks (nor drops) the node whose connection carries the database session', async () => {
		const {pool, dropped, asked} = shells({queenbee: 'hangs', 'workerbee-1': 'hangs'});
		const silent = await serversNotAnswering(pool, nodeOf, ['queenbee', 'workerbee_1'], new AbortController().signal, {
			timeoutMs: 200,
			carrier: 'queenbee',
		});
		expect(asked).toEqual(['workerbee-1']);
		expect(silent).toEqual(['workerbee_1']);
		expect(dropped).toEqual(['workerbee-1']);
	});
});
