import type {ProviderName} from '../spec.js';
import {DIGITALOCEAN_CREDENTIAL} from './digitalocean/settings.js';
import type {ProviderCredential} from './types.js';

/**
 * What a provider needs to be reached (an API token), or undefined where it
 * needs nothing (local). Light on purpose: --help reads it, and it loads no
 * provider's code.
 */
export function providerCredential(name: ProviderName): ProviderCredential | undefined {
	switch (name) {
		case 'local':
			return undefined;
		case 'digitalocean':
			return DIGITALOCEAN_CREDENTIAL;
	}
}
