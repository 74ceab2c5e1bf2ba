import {connectDriver, sessionOver, type DatabaseSession} from '../database/rethinkdb.js';

/**
 * A session with a server this machine reaches directly (tests and
 * benchmarks on a container's bridge address); the product always goes over
 * SSH (openDatabase, source/database/rethinkdb.ts).
 */
export async function connectDirect(host: string, port: number, password: string): Promise<DatabaseSession> {
	return sessionOver(host, () => connectDriver({host, port, password, timeoutSeconds: 20}));
}
