// Builds the real RethinkDB 2.4.4 server's image from ../shared/rethinkdb (or
// $SWARMBEE_RETHINKDB_SOURCE) if this engine does not have it yet, and prints
// its tag, for machines that cannot pull rethinkdb:2.4.4-bookworm-slim:
//
//     npm run -s rethinkdb-image      →  swarmbee-rethinkdb:<hash>
//     npx swarmbee up demo --yes --rethinkdb-image "$(npm run -s rethinkdb-image)"
import {DockerCli} from '../docker/cli.js';
import {ensureRethinkdbImage} from '../docker/rethinkdb-image.js';
import {errorInfo} from '../errors.js';
import {formatError} from '../render/format.js';

try {
	const image = await ensureRethinkdbImage(new DockerCli(), {onLine: line => process.stderr.write(`${line}\n`)});
	process.stdout.write(`${image.tag}\n`);
} catch (error) {
	process.stderr.write(`${formatError(errorInfo(error)).join('\n')}\n`);
	process.exitCode = 1;
}
