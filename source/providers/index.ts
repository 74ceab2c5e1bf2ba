import type {DockerCli} from '../docker/cli.js';
import type {ClusterSpec} from '../spec.js';
import {DIGITALOCEAN_CREDENTIAL} from './digitalocean/settings.js';
import {DigitalOceanProvider} from './digitalocean/provider.js';
import {LocalProvider} from './local/provider.js';
import type {Provider} from './types.js';

/**
 * The one place a provider is made: by the cluster session, with the
 * credential it resolved (source/session/credentials.ts). A credential is
 * never a command-line flag and never written to the journal; the client
 * registers it for redaction at first use.
 */
export function createProvider(
	spec: Pick<ClusterSpec, 'provider'>,
	docker: DockerCli,
	options: {
		/** Read for the provider's endpoint overrides (DIGITALOCEAN_API_URL). */
		env?: NodeJS.ProcessEnv;
		/** The credential the session resolved; missing, the first call that needs it says what to do. */
		credential?: string;
	} = {},
): Provider {
	switch (spec.provider) {
		case 'local':
			return new LocalProvider(docker);
		case 'digitalocean':
			// Nothing is checked here: a missing token is reported by the first
			// call that needs the API, inside the run, with its fix.
			return new DigitalOceanProvider({
				token: options.credential,
				apiUrl: options.env?.[DIGITALOCEAN_CREDENTIAL.endpointEnv] || undefined,
			});
	}
}
