import {describe, expect, it} from 'vitest';
import {availabilityCommand, outOfSequenceAgain, setAvailability} from '../../source/nodes/restart.js';

/** A manager whose `docker node update` fails with the given messages first, then succeeds. */
function manager(failures: string[]) {
	const asked: string[] = [];
	return {
		asked,
		run: async (command: string) => {
			asked.push(command);
			const failure = failures.shift();
			if (failure) throw new Error(failure);
			return '';
		},
	};
}

describe('setAvailability', () => {
	it('asks again when Swarm says the node changed in between (update out of sequence)', async () => {
		const shell = manager([
			'Error response from daemon: rpc error: code = Unknown desc = update out of sequence',
			'Error response from daemon: rpc error: code = Unknown desc = update out of sequence',
		]);
		await setAvailability(shell, 'abc123', 'active', {pauseMs: 1});
		expect(shell.asked).toEqual(Array(3).fill(availabilityCommand('abc123', 'active')));
		expect(shell.asked[0]).toBe('docker node update --availability active abc123');
	});

	it('passes any other failure on at once', async () => {
		const shell = manager(['Error: No such node: abc123']);
		await expect(setAvailability(shell, 'abc123', 'drain', {pauseMs: 1})).rejects.toThrow(/No such node/);
		expect(shell.asked).toHaveLength(1);
	});

	it("gives up after its attempts, with Swarm's own words", async () => {
		const shell = manager(Array(5).fill('update out of sequence'));
		await expect(setAvailability(shell, 'abc123', 'drain', {pauseMs: 1, attempts: 3})).rejects.toThrow(
			/update out of sequence/,
		);
		expect(shell.asked).toHaveLength(3);
	});

	it('the same retry serves any Swarm update (a stack deploy), and returns what the update returned', async () => {
		let calls = 0;
		const result = await outOfSequenceAgain(
			async () => {
				calls++;
				if (calls < 3)
					throw new Error(
						'failed to update service swarmbee_rdb-workerbee-2: Error response from daemon: rpc error: code = Unknown desc = update out of sequence',
					);
				return 'deployed';
			},
			{pauseMs: 1},
		);
		expect(result).toBe('deployed');
		expect(calls).toBe(3);
	});
});
