import {formatTable} from '../render/format.js';
import {formatBytes} from '../render/table-progress.js';
import {DATABASE_PASSWORD_KEY} from './names.js';
import {currentSecrets, type SwarmApps} from './swarm.js';

/** One app as `swarmbee apps` shows it (and --json prints it). */
export interface AppView {
	name: string;
	/** The stack file it was deployed from. */
	source?: string;
	services: Array<{
		name: string;
		service: string;
		image: string;
		mode: 'replicated' | 'global';
		running: number;
		desired: number;
		/** The last rolling update's state (`completed`, `updating`, `rollback_completed`), when there was one. */
		update?: string;
	}>;
	/** Its secrets by key: the current version's size, and the services using any version of it. */
	secrets: SecretView[];
}

export interface SecretView {
	key: string;
	/** Bytes of the current value. */
	size?: number;
	/** The Swarm secret of the current value. */
	name: string;
	versions: number;
	usedBy: string[];
}

/** The secrets of one app, never their values (Swarm cannot give them back, and swarmbee keeps none). */
export function secretViews(apps: SwarmApps, app: string): SecretView[] {
	return [...currentSecrets(apps, app)].map(([key, current]) => {
		const versions = apps.secrets.filter(s => s.app === app && s.key === key);
		const ids = new Set(versions.map(v => v.id));
		return {
			key,
			...(current.size === undefined ? {} : {size: current.size}),
			name: current.name,
			versions: versions.length,
			usedBy: apps.services.filter(s => s.secrets.some(ref => ids.has(ref.id))).map(s => s.name),
		};
	});
}

export function appViews(apps: SwarmApps): AppView[] {
	const names = [...new Set([...apps.services.map(s => s.app), ...apps.secrets.map(s => s.app)])].sort();
	return names.map(name => {
		const services = apps.services.filter(s => s.app === name);
		const source = services.find(s => s.source)?.source;
		return {
			name,
			...(source ? {source} : {}),
			services: services.map(s => ({
				name: s.name,
				service: s.service,
				image: s.image,
				mode: s.mode,
				running: s.running,
				desired: s.desired,
				...(s.update ? {update: s.update.state} : {}),
			})),
			secrets: secretViews(apps, name),
		};
	});
}

/**
 *     APP    SERVICE  REPLICAS  IMAGE    UPDATE     SECRETS
 *     hello  web      3/3       hello:2  completed  session_key
 *     shop   (not deployed)                         api_token
 */
export function formatApps(cluster: string, views: AppView[]): string[] {
	if (views.length === 0) return [`${cluster} has no apps yet: swarmbee deploy ${cluster} FILE`];
	const rows: string[][] = [['APP', 'SERVICE', 'REPLICAS', 'IMAGE', 'UPDATE', 'SECRETS']];
	for (const app of views) {
		const keys = app.secrets.map(s => s.key).filter(k => k !== DATABASE_PASSWORD_KEY);
		if (app.services.length === 0) rows.push([app.name, '(not deployed)', '-', '-', '-', keys.join(',') || '-']);
		app.services.forEach((s, i) => {
			rows.push([
				i === 0 ? app.name : '',
				s.service,
				`${s.running}/${s.desired}${s.mode === 'global' ? ' global' : ''}`,
				s.image,
				s.update ?? '-',
				i === 0 ? keys.join(',') || '-' : '',
			]);
		});
	}
	return formatTable(rows);
}

/**
 *     KEY          SIZE    VERSIONS  USED BY
 *     session_key  32 B    1         hello_web
 */
export function formatSecrets(cluster: string, app: string, secrets: SecretView[]): string[] {
	const own = secrets.filter(s => s.key !== DATABASE_PASSWORD_KEY);
	if (own.length === 0)
		return [`${app} has no secrets on ${cluster}: swarmbee secret ${cluster} set ${app} KEY < FILE`];
	return formatTable([
		['KEY', 'SIZE', 'VERSIONS', 'USED BY'],
		...own.map(s => [
			s.key,
			s.size === undefined ? '?' : formatBytes(s.size),
			String(s.versions),
			s.usedBy.join(',') || '-',
		]),
	]);
}
