import type {DockerCli} from '../docker/cli.js';
import type {ClusterSpec} from '../spec.js';
import {DigitalOceanProvider} from './digitalocean/provider.js';
import {LocalProvider} from './local/provider.js';
import type {Provider} from './types.js';

/**
 * Credentials for providers that need them: the one seam through which a
 * token reaches swarmbee. Commands pass their environment; the wizard, which
 * asks for a token in-process, passes it as `token`. A token is never a
 * command-line flag (shell history, the process list) and never written to
 * the journal; the client registers it for redaction at first use.
 */
interface ProviderOptions {
	/** Read for DIGITALOCEAN_ACCESS_TOKEN and DIGITALOCEAN_API_URL. Default: none. */
	env?: NodeJS.ProcessEnv;
	/** A DigitalOcean token handed over in-process; wins over the environment. */
	token?: string;
}

export function createProvider(
	spec: Pick<ClusterSpec, 'provider'>,
	docker: DockerCli,
	options: ProviderOptions = {},
): Provider {
	switch (spec.provider) {
		case 'local':
			return new LocalProvider(docker);
		case 'digitalocean':
			// Nothing is checked here: a missing token is reported by the first
			// call that needs the API, inside the run, with its fix.
			return new DigitalOceanProvider({
				token: options.token ?? options.env?.['DIGITALOCEAN_ACCESS_TOKEN'],
				apiUrl: options.env?.['DIGITALOCEAN_API_URL'] || undefined,
			});
	}
}
