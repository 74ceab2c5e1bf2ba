/**
 * Secrets (API tokens, passwords) must never reach a log, a journal, an event
 * stream or an error message. Everything that writes text for humans or disk
 * passes it through `redact`.
 */

const secrets = new Set<string>();

// DigitalOcean token formats: personal, OAuth and refresh tokens.
const TOKEN_PATTERN = /\bdo[por]_v1_[A-Za-z0-9]{16,}\b/g;

/** Remember a secret so `redact` removes it wherever it shows up. */
export function registerSecret(value: string | undefined): void {
	if (value && value.length >= 6) secrets.add(value);
}

export function redact(text: string): string {
	let out = text.replace(TOKEN_PATTERN, '[redacted]');
	for (const secret of secrets) {
		if (out.includes(secret)) out = out.split(secret).join('[redacted]');
	}
	return out;
}

/** Environment variables that hold a DigitalOcean token whatever it looks like. */
const TOKEN_VARIABLES = new Set(['DIGITALOCEAN_ACCESS_TOKEN', 'DIGITALOCEAN_TOKEN']);

/**
 * An environment for a child process: this one without the DigitalOcean
 * token variables and without any variable holding a registered secret or a
 * token-shaped value. No child (docker, and through `docker run -e` its
 * containers) needs the token; whatever it inherits, it can leak.
 */
export function childEnvironment(
	env: NodeJS.ProcessEnv,
	extra: Record<string, string | undefined> = {},
): Record<string, string> {
	const out: Record<string, string> = {};
	for (const [name, value] of Object.entries({...env, ...extra})) {
		if (value === undefined || TOKEN_VARIABLES.has(name) || redact(value) !== value) continue;
		out[name] = value;
	}
	return out;
}

/** Redacts every string inside a JSON-able value. */
export function redactDeep<T>(value: T): T {
	if (typeof value === 'string') return redact(value) as T;
	if (Array.isArray(value)) return value.map(v => redactDeep(v)) as T;
	if (value && typeof value === 'object') {
		const out: Record<string, unknown> = {};
		for (const [k, v] of Object.entries(value)) out[k] = redactDeep(v);
		return out as T;
	}
	return value;
}
