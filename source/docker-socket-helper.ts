// The background process behind `swarmbee env NAME`: it forwards a unix
// socket on this machine to the manager's Docker socket over SSH until
// `swarmbee env NAME --unset` stops it (see source/access/docker-socket.ts). Started by
// startDockerSocket with `node docker-socket-helper.js HOME NAME` and an IPC
// channel on which it says once whether it is ready.
import {errorInfo} from './errors.js';
import {redact} from './redact.js';
import {openCluster} from './session/open.js';
import {serveDockerSocket} from './access/docker-socket.js';

const [home, name] = process.argv.slice(2);
const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${redact(line)}\n`);
// Once said, the channel closes: the env command that started this one may exit.
const say = (message: unknown) => process.send?.(message, () => process.connected && process.disconnect());

try {
	if (!home || !name) throw new Error('usage: docker-socket-helper.js HOME NAME');
	const session = await openCluster(
		name,
		{env: {SWARMBEE_HOME: home}, interactive: false, stdout: process.stderr},
		{
			needs: ['ssh'],
			verb: 'reach the Docker socket of',
		},
	);
	try {
		const gone = () => !session.store.exists(name) || session.store.loadJournal(name)?.state === 'down';
		await serveDockerSocket({
			cluster: {name, paths: session.paths, journal: session.journal, ssh: session.ssh, gone},
			log,
			onReady: socket => say({type: 'ready', socket}),
		});
	} finally {
		await session.close();
	}
	log('stopped');
} catch (error) {
	log(`failed: ${errorInfo(error).message}`);
	say({type: 'failed', error: errorInfo(error)});
	process.exitCode = 1;
}
