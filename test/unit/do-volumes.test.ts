import {afterEach, describe, expect, it} from 'vitest';
import {DigitalOceanApiError, DigitalOceanClient, type Droplet} from '../../source/providers/digitalocean/api.js';
import {startEmulator, type Emulator} from '../emulator/server.js';

/**
 * The volume calls of the client against the emulator's volume endpoints
 * (as the published spec gives them; the emulator refuses any request that
 * breaks it, and its close() fails the test then).
 */
let emulator: Emulator | undefined;
afterEach(async () => {
	await emulator?.close();
	emulator = undefined;
});

async function setup() {
	emulator = await startEmulator({bootDelayMs: 0, actionMs: 0, volumeActionMs: 200});
	const client = new DigitalOceanClient({token: emulator.token, baseUrl: emulator.url});
	const droplets = async (names: string[], region = 'nyc3'): Promise<Droplet[]> =>
		(
			await client.createDroplets({
				names,
				region,
				size: 's-1vcpu-1gb',
				image: 'debian-12-x64',
				ssh_keys: [],
				backups: false,
				ipv6: false,
				monitoring: false,
				tags: ['swarmbee-vol'],
				user_data: '#!/bin/sh\ntrue\n',
			})
		).droplets;
	return {emulator, client, droplets};
}

async function refusal(call: Promise<unknown>): Promise<DigitalOceanApiError> {
	const error = await call.then(
		() => undefined,
		(e: unknown) => e,
	);
	if (!(error instanceof DigitalOceanApiError)) throw new Error(`expected a refusal, got ${String(error)}`);
	return error;
}

describe('block-storage volumes', () => {
	it('creates, finds by name, attaches, waits, detaches, moves to another droplet and deletes', async () => {
		const s = await setup();
		const [first, second] = await s.droplets(['queenbee', 'workerbee-1']);
		const volume = await s.client.createVolume({
			name: 'swarmbee-demo-queenbee',
			size_gigabytes: 10,
			region: 'nyc3',
			filesystem_type: 'ext4',
		});
		expect(volume).toMatchObject({name: 'swarmbee-demo-queenbee', size_gigabytes: 10, droplet_ids: []});
		expect(volume.region.slug).toBe('nyc3');
		expect((await s.client.volumes({name: 'swarmbee-demo-queenbee', region: 'nyc3'})).map(v => v.id)).toEqual([
			volume.id,
		]);
		expect(await s.client.volumes({name: 'no-such-volume'})).toEqual([]);

		const attach = await s.client.attachVolume(volume, first!.id);
		expect(attach).toMatchObject({status: 'in-progress', type: 'attach_volume'});
		const done = await s.client.waitForVolumeAction(volume, attach, {intervalMs: 50});
		expect(done.status).toBe('completed');
		expect((await s.client.volume(volume.id))?.droplet_ids).toEqual([first!.id]);

		// One droplet at a time: attaching elsewhere first needs a detach.
		const twice = await refusal(s.client.attachVolume(volume, second!.id));
		expect(twice).toMatchObject({status: 422});
		const detach = await s.client.detachVolume(volume, first!.id);
		await s.client.waitForVolumeAction(volume, detach, {intervalMs: 50});
		await s.client.waitForVolumeAction(volume, await s.client.attachVolume(volume, second!.id), {intervalMs: 50});
		expect(s.emulator.volumeEvents.map(e => `${e.type} ${e.dropletId ?? ''}`.trim())).toEqual([
			'create',
			`attach ${first!.id}`,
			`detach ${first!.id}`,
			`attach ${second!.id}`,
		]);

		// Attached: not deleted. Detached: deleted; gone again counts as deleted.
		expect(await refusal(s.client.deleteVolume(volume.id))).toMatchObject({status: 409});
		await s.client.waitForVolumeAction(volume, await s.client.detachVolume(volume, second!.id), {intervalMs: 50});
		await s.client.deleteVolume(volume.id);
		await s.client.deleteVolume(volume.id);
		expect(await s.client.volume(volume.id)).toBeUndefined();
	});

	it('grows only, refuses a second volume of one name in a region, a droplet in another region and a busy volume', async () => {
		const s = await setup();
		const [elsewhere] = await s.droplets(['far'], 'ams3');
		const volume = await s.client.createVolume({name: 'data', size_gigabytes: 10, region: 'nyc3'});
		expect(await refusal(s.client.resizeVolume(volume, 5))).toMatchObject({status: 422});
		expect(await refusal(s.client.resizeVolume(volume, 10))).toMatchObject({status: 422});
		const grow = await s.client.resizeVolume(volume, 20);
		// Busy while it grows.
		expect((await refusal(s.client.resizeVolume(volume, 30))).apiMessage).toContain('pending event');
		await s.client.waitForVolumeAction(volume, grow, {intervalMs: 50});
		expect((await s.client.volume(volume.id))?.size_gigabytes).toBe(20);
		expect(await refusal(s.client.createVolume({name: 'data', size_gigabytes: 1, region: 'nyc3'}))).toMatchObject({
			status: 409,
		});
		expect(
			(await refusal(s.client.createVolume({name: 'Data_1', size_gigabytes: 1, region: 'nyc3'}))).apiMessage,
		).toContain('lowercase');
		expect((await refusal(s.client.attachVolume(volume, elsewhere!.id))).apiMessage).toContain('same region');
	});

	it('a deleted droplet leaves its volume detached, to be attached to its replacement', async () => {
		const s = await setup();
		const [old] = await s.droplets(['workerbee-2']);
		const volume = await s.client.createVolume({name: 'swarmbee-demo-workerbee-2', size_gigabytes: 10, region: 'nyc3'});
		await s.client.waitForVolumeAction(volume, await s.client.attachVolume(volume, old!.id), {intervalMs: 50});
		await s.client.deleteDroplet(old!.id);
		expect((await s.client.volume(volume.id))?.droplet_ids).toEqual([]);
		const [replacement] = await s.droplets(['workerbee-2']);
		await s.client.waitForVolumeAction(volume, await s.client.attachVolume(volume, replacement!.id), {
			intervalMs: 50,
		});
		expect(s.emulator.volumeEvents.filter(e => e.type === 'attach').map(e => e.dropletId)).toEqual([
			old!.id,
			replacement!.id,
		]);
	});
});
