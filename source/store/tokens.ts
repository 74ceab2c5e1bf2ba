import {chmodSync} from 'node:fs';
import path from 'node:path';
import {InputError} from '../errors.js';
import {checkStateFolder, readStateFile, writeFileAtomic} from '../files.js';
import {checkName, type ProviderName} from '../spec.js';

/** Takes a provider's credential for this process (the session's Credentials): the wizard, the start screen and profiles hand theirs over. */
export interface TokenSink {
	hand(provider: ProviderName, token: string): void;
}

/**
 * Tokens the user asked the wizard to keep: `$SWARMBEE_HOME/tokens/<name>`,
 * a 0600 file of its own in a 0700 folder, never in profiles.json or a
 * journal. Named like the profile (the cluster's name), so a name can never
 * lead outside tokens/. Plain files, read without conf: a run that only
 * needs the token loads nothing of the wizard.
 */
export function tokenFile(home: string, name: string): string {
	const problem = checkName(name);
	if (problem)
		throw new InputError(`"${name}" is not a profile name`, {
			nextSteps: ['profile names are like cluster names: lowercase letters, digits and hyphens'],
		});
	return path.join(home, 'tokens', name);
}

export function saveToken(home: string, name: string, token: string): string {
	const file = tokenFile(home, name);
	// tokens/ is a folder of the state folder's own: never a link out of it.
	checkStateFolder(path.dirname(file));
	writeFileAtomic(file, `${token}\n`, 0o600);
	chmodSync(path.dirname(file), 0o700);
	return file;
}

export function loadToken(home: string, name: string): string | undefined {
	const file = tokenFile(home, name);
	checkStateFolder(path.dirname(file));
	// No link followed, no FIFO waited on, and refused when others may read it.
	return readStateFile(file, {secret: 'a DigitalOcean token'})?.trim() || undefined;
}
