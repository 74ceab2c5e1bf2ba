/**
 * `npm run emulator -- [flags]`: the DigitalOcean API emulator as a
 * standalone server, for trying swarmbee against it by hand. Every flag can
 * also come from the environment as SWARMBEE_EMULATOR_<FLAG> (e.g.
 * SWARMBEE_EMULATOR_BOOT_DELAY=45s).
 *
 *     npm run build && npm run emulator -- --mode real --boot-delay 5s
 *     # then, in another terminal, with the two exports it prints:
 *     npx swarmbee up demo --provider digitalocean --workers 2 --yes
 */
import {parseArgs} from 'node:util';
import {startEmulator, type EmulatorInit} from './server.js';

const FLAGS = {
	mode: {type: 'string'},
	host: {type: 'string'},
	port: {type: 'string'},
	token: {type: 'string'},
	'boot-delay': {type: 'string'},
	'droplet-limit': {type: 'string'},
	'other-droplets': {type: 'string'},
	'rate-limit-every': {type: 'string'},
	'rate-limit-only': {type: 'string'},
	'retry-after': {type: 'string'},
	'server-error-every': {type: 'string'},
	'server-error-rate': {type: 'string'},
	'server-error-when': {type: 'string'},
	'server-error-only': {type: 'string'},
	'error-droplet': {type: 'string'},
	'slow-active': {type: 'string'},
	'list-lag': {type: 'string'},
	'key-lag': {type: 'string'},
	'late-ip': {type: 'string'},
	'delete-lag': {type: 'string'},
	forbidden: {type: 'string'},
	'unavailable-region': {type: 'string'},
	'region-without-vpc': {type: 'string'},
	verbose: {type: 'boolean'},
	help: {type: 'boolean', short: 'h'},
} as const;

const HELP = `DigitalOcean API emulator for swarmbee

  --mode paper|real          records only, or real node containers on the local engine (default paper)
  --host H --port N          where to listen (default 127.0.0.1, a free port)
  --token T                  the token that authenticates (default: a random dop_v1_ token)
  --boot-delay 45s           from create to active (default 2s)
  --droplet-limit N          the account's droplet limit (default 25)
  --other-droplets N         droplets of other projects counted against it (default 0)
  --rate-limit-every K       every K-th request answers 429 (--rate-limit-only RE: of those matching)
  --retry-after S            Retry-After on those (default 1; 0: none, as for a spent hourly
                             budget: ratelimit-reset only, up to an hour away)
  --server-error-every K     every K-th request answers 500 (or --server-error-rate 0.1)
  --server-error-when before|after
                             whether a 500ed request was carried out first (default before)
  --server-error-only RE     only requests whose "METHOD /path" matches, e.g. '^POST /v2/droplets$'
  --error-droplet a,b        droplets of these names fail their first create
  --slow-active name=20s,…   extra boot time for these droplets
  --list-lag 3s              new droplets missing from lists this long
  --key-lag 3s               new SSH keys unusable this long
  --late-ip 5s               droplets active this long before their public IP shows
  --delete-lag 5s            deleted droplets still listed (and VPC members) this long
  --forbidden RE             "METHOD /path" answered 403 (a token without that scope)
  --unavailable-region a,b   regions that take no droplets
  --region-without-vpc a,b   regions with no default VPC yet
  --verbose                  print every request

Every flag also reads SWARMBEE_EMULATOR_<FLAG>, e.g. SWARMBEE_EMULATOR_BOOT_DELAY=45s.`;

/** `45s`, `500ms`, `2m` or plain milliseconds. */
export function parseDuration(text: string): number {
	const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
	if (!match) throw new Error(`not a duration: ${text} (e.g. 45s, 500ms)`);
	const n = Number(match[1]);
	return Math.round(match[2] === 's' ? n * 1000 : match[2] === 'm' ? n * 60_000 : n);
}

function list(text: string | undefined): string[] {
	return (text ?? '')
		.split(',')
		.map(s => s.trim())
		.filter(Boolean);
}

/** Flags (or SWARMBEE_EMULATOR_* variables) as emulator options. */
export function optionsFromFlags(
	argv: string[],
	env: NodeJS.ProcessEnv,
): EmulatorInit & {verbose: boolean; help: boolean} {
	const {values} = parseArgs({args: argv, options: FLAGS, strict: true});
	const get = (flag: keyof typeof FLAGS): string | undefined => {
		const value = values[flag];
		if (typeof value === 'string') return value;
		return env[`SWARMBEE_EMULATOR_${flag.toUpperCase().replace(/-/g, '_')}`];
	};
	const number = (flag: keyof typeof FLAGS) => (get(flag) === undefined ? undefined : Number(get(flag)));
	const duration = (flag: keyof typeof FLAGS) => (get(flag) === undefined ? undefined : parseDuration(get(flag)!));
	const options: EmulatorInit = {};
	const mode = get('mode');
	if (mode && mode !== 'paper' && mode !== 'real') throw new Error(`--mode is paper or real, not ${mode}`);
	if (mode) options.mode = mode as 'paper' | 'real';
	if (get('host')) options.host = get('host')!;
	if (get('port')) options.port = number('port')!;
	if (get('token')) options.tokens = [get('token')!];
	if (get('boot-delay')) options.bootDelayMs = duration('boot-delay')!;
	if (get('other-droplets')) options.otherDroplets = number('other-droplets')!;
	if (get('unavailable-region')) options.unavailableRegions = list(get('unavailable-region'));
	if (get('region-without-vpc')) options.regionsWithoutVpc = list(get('region-without-vpc'));
	const base: EmulatorInit = {
		lags: {
			listMs: duration('list-lag') ?? 0,
			keyMs: duration('key-lag') ?? 0,
			activeWithoutIpMs: duration('late-ip') ?? 0,
			deleteMs: duration('delete-lag') ?? 0,
		},
		faults: {
			rateLimitEvery: number('rate-limit-every'),
			rateLimitOnly: get('rate-limit-only'),
			retryAfterSeconds: number('retry-after') ?? 1,
			serverErrorEvery: number('server-error-every'),
			serverErrorRate: number('server-error-rate'),
			serverErrorWhen: (get('server-error-when') === 'after' ? 'after' : 'before') as 'before' | 'after',
			serverErrorOnly: get('server-error-only'),
			erroringDroplets: list(get('error-droplet')),
			slowActiveMs: Object.fromEntries(
				list(get('slow-active')).map(pair => {
					const [name = '', ms = '0'] = pair.split('=');
					return [name, parseDuration(ms)];
				}),
			),
			forbidden: get('forbidden'),
		},
	};
	return {
		...options,
		...base,
		...(get('droplet-limit') ? {account: {droplet_limit: number('droplet-limit')!}} : {}),
		verbose: Boolean(values.verbose),
		help: Boolean(values.help),
	};
}

async function run(): Promise<void> {
	const {verbose, help, ...options} = optionsFromFlags(process.argv.slice(2), process.env);
	if (help) {
		console.log(HELP);
		return;
	}
	const log = (line: string) => console.log(line);
	const emulator = await startEmulator({...options, log: verbose || options.mode === 'real' ? log : () => {}});
	console.log(
		`DigitalOcean API emulator (${emulator.options.mode} mode, boot ${emulator.options.bootDelayMs / 1000}s) on ${emulator.url}`,
	);
	console.log(`  export DIGITALOCEAN_API_URL=${emulator.url}`);
	console.log(`  export DIGITALOCEAN_ACCESS_TOKEN=${emulator.token}`);
	console.log(`Ctrl-C stops it${emulator.options.mode === 'real' ? ' and removes its containers and networks' : ''}.`);
	if (verbose) {
		let shown = 0;
		setInterval(() => {
			for (const r of emulator.requests.slice(shown))
				console.log(`${new Date(r.at).toISOString()} ${r.method} ${r.path}${r.query} ${r.status} ${r.ms}ms`);
			shown = emulator.requests.length;
		}, 250).unref();
	}
	let stopping = false;
	const stop = () => {
		if (stopping) process.exit(130);
		stopping = true;
		console.log(
			`stopping after ${emulator.requests.length} requests (at most ${emulator.maxPerMinute()} in a minute)…`,
		);
		emulator.close().then(
			() => process.exit(0),
			error => {
				console.error(error);
				process.exit(1);
			},
		);
	};
	process.on('SIGINT', stop);
	process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
	run().catch(error => {
		console.error(`emulator: ${(error as Error).message}`);
		process.exit(2);
	});
}
