import {providerCredential} from '../providers/credentials.js';
import {registerSecret} from '../redact.js';
import type {ProviderName} from '../spec.js';

/**
 * Where a provider's credential (a DigitalOcean token) comes from, the one
 * place that knows: handed over in this process (the wizard or the start
 * screen just asked for it), the environment, the token the user chose to
 * save with the cluster's profile, and last, in a terminal, a question. A
 * credential is never a flag, never in a journal or log (it is registered
 * for redaction the moment it is known), and never in the environment of a
 * child process; it travels in memory to the provider, and no command
 * handles it.
 */
export class Credentials {
	private readonly handed = new Map<ProviderName, string>();

	constructor(
		private readonly env: NodeJS.ProcessEnv,
		/** A token saved for a cluster (the wizard's `tokens/NAME`, 0600), read only when asked for. */
		private readonly saved: (cluster: string) => string | undefined = () => undefined,
	) {}

	/** A credential asked for in this process: it wins over the environment for the rest of the process. */
	hand(provider: ProviderName, token: string): void {
		const value = token.trim();
		if (!value) return;
		registerSecret(value);
		this.handed.set(provider, value);
	}

	/** The credential at hand for a cluster on `provider`, without asking anyone; undefined where none is needed or found. */
	find(provider: ProviderName, cluster?: string): string | undefined {
		const needs = providerCredential(provider);
		if (!needs) return undefined;
		const found = this.handed.get(provider) ?? (this.env[needs.env]?.trim() || undefined) ?? this.savedFor(cluster);
		registerSecret(found);
		return found;
	}

	/** Whether `provider` needs a credential and none is at hand. */
	missing(provider: ProviderName, cluster?: string): boolean {
		return providerCredential(provider) !== undefined && this.find(provider, cluster) === undefined;
	}

	private savedFor(cluster: string | undefined): string | undefined {
		if (!cluster) return undefined;
		try {
			return this.saved(cluster)?.trim() || undefined;
		} catch {
			// An unreadable saved token is no token: the provider says what is missing, with the fix.
			return undefined;
		}
	}
}
