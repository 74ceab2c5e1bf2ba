import {InputError} from '../errors.js';

/**
 * `--admin-port` / `--driver-port` as `tunnel` and `status` take them: a
 * port the user asked for, or undefined for the default (which gives way to
 * a free port when something else holds it).
 */
export function portOption(flag: string, value: string | boolean | undefined): number | undefined {
	if (typeof value !== 'string') return undefined;
	const port = Number(value);
	if (!/^\d+$/.test(value) || port < 1 || port > 65_535) {
		throw new InputError(`--${flag} ${value} is not a TCP port`, {
			nextSteps: [
				`give a number from 1 to 65535, e.g. --${flag} ${flag === 'driver-port' ? 28_016 : 8081}`,
				`or leave --${flag} out: the default, or a free port when it is taken`,
			],
		});
	}
	return port;
}

/** The admin panel's address, from the port the tunnel listens on (it opens only with its token: the status's `url`). */
export function adminUrl(port: number): string {
	return `http://127.0.0.1:${port}/`;
}

/**
 * The admin console is RethinkDB's own, logged in as admin: whoever opens
 * its address with the token can read, change and delete everything.
 */
export const ADMIN_RIGHTS_NOTE =
	'the console has full admin rights over every database: it opens only with the token in its address, so keep that address to yourself';
