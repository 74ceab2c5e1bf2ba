import {chmodSync, existsSync, mkdirSync, readFileSync, rmSync} from 'node:fs';
import path from 'node:path';
import Conf from 'conf';
import {checkName, type ClusterSpec} from '../spec.js';
import {writeFileAtomic} from '../store/cluster-store.js';

/**
 * A saved set of wizard answers that `up` can start from
 * (`swarmbee up NAME --profile PROFILE`). Never holds a token.
 */
export type Profile = Pick<ClusterSpec, 'provider' | 'managers' | 'workers' | 'size' | 'region' | 'image' | 'memoryLimit'>
	& Partial<Pick<ClusterSpec, 'database' | 'rethinkdbImage'>>
	& {savedAt: string};

interface ProfileFile {
	profiles: Record<string, Profile>;
}

/**
 * Profiles in `$SWARMBEE_HOME/profiles.json` (conf, mode 0600), behind a
 * typed API; tests point it at a temporary folder. Tokens, only when the
 * user asks, go in `$SWARMBEE_HOME/tokens/<profile>`, a 0600 file of their
 * own in a 0700 folder, never in profiles.json.
 */
export class ProfileStore {
	private readonly conf: Conf<ProfileFile>;

	constructor(readonly home: string) {
		mkdirSync(home, {recursive: true, mode: 0o700});
		this.conf = new Conf<ProfileFile>({cwd: home, configName: 'profiles', configFileMode: 0o600, defaults: {profiles: {}}, accessPropertiesByDotNotation: false});
	}

	get file(): string {
		return this.conf.path;
	}

	list(): Array<{name: string; profile: Profile}> {
		return Object.entries(this.conf.get('profiles')).map(([name, profile]) => ({name, profile})).sort((a, b) => a.name.localeCompare(b.name));
	}

	get(name: string): Profile | undefined {
		return this.conf.get('profiles')[name];
	}

	save(name: string, profile: Omit<Profile, 'savedAt'>): void {
		const problem = checkName(name);
		if (problem) throw new Error(`profile name: ${problem.problem}`);
		this.conf.set('profiles', {...this.conf.get('profiles'), [name]: {...profile, savedAt: new Date().toISOString()}});
	}

	remove(name: string): void {
		const {[name]: _removed, ...rest} = this.conf.get('profiles');
		this.conf.set('profiles', rest);
		rmSync(this.tokenFile(name), {force: true});
	}

	tokenFile(name: string): string {
		return path.join(this.home, 'tokens', name);
	}

	/** Only when the user asked: a 0600 file of its own. */
	saveToken(name: string, token: string): string {
		const file = this.tokenFile(name);
		writeFileAtomic(file, `${token}\n`, 0o600);
		chmodSync(path.dirname(file), 0o700);
		return file;
	}

	loadToken(name: string): string | undefined {
		const file = this.tokenFile(name);
		return existsSync(file) ? readFileSync(file, 'utf8').trim() || undefined : undefined;
	}
}
