import {existsSync, mkdirSync, rmSync} from 'node:fs';
import path from 'node:path';
import Conf from 'conf';
import {InputError} from '../errors.js';
import {checkStateHome, readStateFile, stateWriteError} from '../files.js';
import {loadToken, saveToken, tokenFile, type TokenSink} from '../store/tokens.js';
import {PROFILE_KEYS, profileSchema, type SpecValues} from '../spec-fields.js';
import {checkName, type ClusterSpec, type SpecInput} from '../spec.js';

type ProfileKey = (typeof PROFILE_KEYS)[number] & keyof SpecValues;

/**
 * A saved set of wizard answers that `up` can start from
 * (`swarmbee up NAME --profile PROFILE`): the fields SPEC_FIELDS marks
 * `profile` (what the wizard asks). Never holds a token.
 */
type Profile = Partial<Pick<SpecValues, ProfileKey>> & {savedAt: string};

/** The answers of a spec that a profile keeps. */
export function profileOf(spec: ClusterSpec): Omit<Profile, 'savedAt'> {
	return Object.fromEntries(PROFILE_KEYS.map(key => [key, spec[key]])) as Omit<Profile, 'savedAt'>;
}

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
	private conf?: Conf<ProfileFile>;

	constructor(readonly home: string) {
		checkStateHome(home);
	}

	get file(): string {
		return path.join(this.home, 'profiles.json');
	}

	/**
	 * conf writes its defaults as soon as it is opened: reading profiles
	 * that were never saved must not create the file (or the folder), so
	 * reads of a missing file answer "none" without opening it.
	 */
	private profiles(forWriting = false): Record<string, Profile> {
		if (!this.conf && !forWriting && !existsSync(this.file)) return {};
		// conf would follow a link, wait on a FIFO, and write its defaults over a file of
		// another shape: the file is looked at first, and one swarmbee cannot read is left as it is.
		this.checkFile();
		try {
			if (!this.conf) {
				mkdirSync(this.home, {recursive: true, mode: 0o700});
				this.conf = new Conf<ProfileFile>({
					cwd: this.home,
					configName: 'profiles',
					configFileMode: 0o600,
					defaults: {profiles: {}},
					accessPropertiesByDotNotation: false,
					schema: {profiles: {type: 'object', additionalProperties: profileSchema()}},
				});
			}
			// conf reads the file again on every get: damage done since opening is caught here too.
			return this.conf.get('profiles');
		} catch (error) {
			if (error instanceof InputError) throw error;
			const code = (error as NodeJS.ErrnoException).code;
			if (code && code !== 'ENOENT') throw stateWriteError(error, this.file);
			throw new InputError(`${this.file} does not hold profiles swarmbee can read`, {
				hint: (error as Error).message,
				nextSteps: [
					`fix the file by hand, or move it away (mv ${this.file} ${this.file}.damaged): the wizard starts a new one`,
				],
			});
		}
	}

	/** profiles.json, if there is one, is a regular file holding `{"profiles": {…}}`; otherwise nothing touches it. */
	private checkFile(): void {
		const moveAway = `move it away (mv ${this.file} ${this.file}.damaged): the wizard starts a new one`;
		const text = readStateFile(this.file, {nextSteps: [moveAway]});
		if (text === undefined) return;
		let parsed: unknown;
		try {
			parsed = JSON.parse(text);
		} catch (error) {
			throw new InputError(`${this.file} does not hold profiles swarmbee can read`, {
				hint: `it is not JSON: ${(error as Error).message}`,
				nextSteps: [`fix the file by hand, or ${moveAway}`],
			});
		}
		const profiles = (parsed as {profiles?: unknown} | null)?.profiles;
		if (
			!parsed ||
			typeof parsed !== 'object' ||
			Array.isArray(parsed) ||
			!profiles ||
			typeof profiles !== 'object' ||
			Array.isArray(profiles)
		)
			throw new InputError(`${this.file} does not hold profiles swarmbee can read`, {
				hint: 'it should hold {"profiles": {"NAME": {…answers…}}}; swarmbee leaves a file of another shape as it is.',
				nextSteps: [`fix the file by hand, or ${moveAway}`],
			});
	}

	list(): Array<{name: string; profile: Profile}> {
		return Object.entries(this.profiles())
			.map(([name, profile]) => ({name, profile}))
			.sort((a, b) => a.name.localeCompare(b.name));
	}

	get(name: string): Profile | undefined {
		return Object.hasOwn(this.profiles(), name) ? this.profiles()[name] : undefined;
	}

	save(name: string, profile: Omit<Profile, 'savedAt'>): void {
		const problem = checkName(name);
		if (problem) throw new Error(`profile name: ${problem.problem}`);
		const profiles = this.profiles(true);
		this.conf!.set('profiles', {...profiles, [name]: {...profile, savedAt: new Date().toISOString()}});
	}

	remove(name: string): void {
		const {[name]: _removed, ...rest} = this.profiles(true);
		this.conf!.set('profiles', rest);
		rmSync(this.tokenFile(name), {force: true});
	}

	/** A profile's name is a cluster-style name, so its token file never lands outside tokens/. */
	tokenFile(name: string): string {
		return tokenFile(this.home, name);
	}

	/** Only when the user asked: a 0600 file of its own. */
	saveToken(name: string, token: string): string {
		return saveToken(this.home, name, token);
	}

	loadToken(name: string): string | undefined {
		return loadToken(this.home, name);
	}
}

/**
 * `up NAME --profile P`: the profile's answers with the flags given on top,
 * and the token saved with it, if any, in memory for the provider (never
 * into an environment a child process would inherit).
 */
export function profileInput(
	profiles: ProfileStore,
	profileName: string,
	flags: SpecInput,
	credentials?: TokenSink,
): SpecInput {
	const answers = savedAnswers(profiles, profileName, credentials);
	const given = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
	return {...answers, ...given};
}

/** A profile's answers (the wizard starts from them), its token handed over as profileInput does; a clear error when there is none of that name. */
export function savedAnswers(
	profiles: ProfileStore,
	profileName: string,
	credentials?: TokenSink,
): Omit<Profile, 'savedAt'> {
	const profile = profiles.get(profileName);
	if (!profile) {
		const known = profiles.list().map(p => p.name);
		throw new InputError(`there is no profile named ${profileName}`, {
			nextSteps: [
				known.length > 0
					? `saved profiles: ${known.join(', ')}`
					: 'profiles are saved by the wizard: run swarmbee in a terminal',
			],
		});
	}
	const token = profiles.loadToken(profileName);
	if (token && profile.provider) credentials?.hand(profile.provider, token);
	const {savedAt: _savedAt, ...answers} = profile;
	return answers;
}
