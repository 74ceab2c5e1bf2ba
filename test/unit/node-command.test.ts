import {describe, expect, it} from 'vitest';
import {resolveNodes} from '../../source/commands/node.js';
import {InputError} from '../../source/errors.js';
import {newJournal, type Journal, type NodeRecord} from '../../source/store/journal.js';

function journal(): Journal {
	const j = newJournal('demo', 'local', 'owner');
	const node = (name: string, index: number, role: NodeRecord['role']): NodeRecord =>
		({name, index, role, state: 'running', hostKey: {publicKey: 'k', fingerprint: 'f'}}) as NodeRecord;
	// In the journal's order, not the roll's: workers listed before the manager on purpose.
	j.nodes = [node('workerbee-2', 2, 'worker'), node('queenbee', 0, 'manager'), node('workerbee-1', 1, 'worker')];
	return j;
}

const refusal = (input: Parameters<typeof resolveNodes>[1]) => {
	try {
		resolveNodes(journal(), input);
	} catch (error) {
		expect(error).toBeInstanceOf(InputError);
		return {message: (error as InputError).message, nextSteps: (error as InputError).nextSteps};
	}
	throw new Error('not refused');
};

describe('swarmbee node: which nodes, in which order', () => {
	it('--all is every worker in turn, then the managers last', () => {
		expect(resolveNodes(journal(), {name: 'demo', action: 'restart', nodes: [], all: true})).toEqual([
			'workerbee-1',
			'workerbee-2',
			'queenbee',
		]);
	});

	it('named nodes change in the order given', () => {
		expect(
			resolveNodes(journal(), {name: 'demo', action: 'restart', nodes: ['queenbee', 'workerbee-2'], all: false}),
		).toEqual(['queenbee', 'workerbee-2']);
	});

	it('refuses, saying what to do: an unknown node, none, both --all and names, a node twice, stop --all', () => {
		expect(refusal({name: 'demo', action: 'restart', nodes: ['workerbee-9'], all: false})).toEqual({
			message: 'demo has no node workerbee-9',
			nextSteps: ['its nodes: workerbee-2, queenbee, workerbee-1'],
		});
		expect(refusal({name: 'demo', action: 'stop', nodes: [], all: false}).message).toBe(
			'node stop needs the node (or --all)',
		);
		expect(refusal({name: 'demo', action: 'restart', nodes: ['queenbee'], all: true}).message).toBe(
			'--all or node names, not both (got queenbee)',
		);
		expect(refusal({name: 'demo', action: 'restart', nodes: ['queenbee', 'queenbee'], all: false}).message).toBe(
			'queenbee named twice',
		);
		expect(refusal({name: 'demo', action: 'stop', nodes: [], all: true}).message).toBe(
			'stop --all would stop the whole cluster, and the database with it',
		);
	});
});
