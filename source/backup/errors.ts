import {InputError, type ErrorDetails} from '../errors.js';

/**
 * An archive swarmbee cannot restore from: damaged (gzip or tar checks fail,
 * it ends early), or not laid out as `rethinkdb dump` lays it out. Raised
 * while the archive is read through before any write, so the message can
 * always promise that the cluster was not touched.
 */
export class ArchiveError extends InputError {
	constructor(file: string, problem: string, details: ErrorDetails = {}) {
		super(`${file} cannot be restored: ${problem}`, {
			...details,
			nextSteps: [...(details.nextSteps ?? []), 'nothing was written to the cluster'],
		});
	}
}
