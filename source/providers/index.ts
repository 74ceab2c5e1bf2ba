import type {DockerCli} from '../docker/cli.js';
import {InputError} from '../errors.js';
import type {ClusterSpec} from '../spec.js';
import {LocalProvider} from './local/provider.js';
import type {Provider} from './types.js';

export function createProvider(spec: Pick<ClusterSpec, 'provider'>, docker: DockerCli): Provider {
	switch (spec.provider) {
		case 'local':
			return new LocalProvider(docker);
		case 'digitalocean':
			throw new InputError('the digitalocean provider is not part of this build yet', {
				nextSteps: ['use --provider local (the default) for now'],
			});
	}
}
