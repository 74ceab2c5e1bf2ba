export {runCa as run} from './certs.js';
