// `node --import ./bench/import-trace.mjs app.js` prints every module URL the
// app resolves to stderr, one per line prefixed "import-trace ": how the
// startup benchmark and its test prove `--version` loads no Ink or React.
import {register} from 'node:module';

register('./import-trace-hooks.mjs', import.meta.url);
