/**
 * Calls the app in a loop from a container on the cluster's overlay, the way
 * another service would: the service's name is looked up before every call
 * (Swarm's DNS lists the tasks that are ready), one task is picked, and the
 * call is counted as answered or failed. On SIGTERM (docker stop) it prints
 * what it counted as one JSON line and exits.
 *
 *   docker run -d --name hello-client --network swarmbee hello:1 node client.js hello_web /key-id
 */
const dns = require('node:dns/promises');
const http = require('node:http');

const [service = 'hello_web', path = '/whoami', every = '20'] = process.argv.slice(2);
const counts = {calls: 0, ok: 0, failed: 0, failures: [], seen: {}, last: undefined};
let stopping = false;

function call(address) {
	return new Promise(resolve => {
		const request = http.get({host: address, port: 8000, path, timeout: 5000, agent: false}, response => {
			let body = '';
			response.setEncoding('utf8');
			response.on('data', chunk => {
				body += chunk;
			});
			response.on('end', () => resolve({status: response.statusCode, body}));
		});
		request.on('timeout', () => request.destroy(new Error('timed out')));
		request.on('error', error => resolve({error: error.message}));
	});
}

async function loop() {
	while (!stopping) {
		counts.calls++;
		let outcome;
		try {
			const addresses = await dns.lookup(service, {all: true, family: 4});
			const {address} = addresses[Math.floor(Math.random() * addresses.length)];
			outcome = {address, ...(await call(address))};
		} catch (error) {
			outcome = {error: `lookup: ${error.message}`};
		}
		if (outcome.status === 200) {
			counts.ok++;
			const answer = JSON.parse(outcome.body);
			const key = answer.keyId ? `${answer.version}/${answer.keyId}` : String(answer.version);
			counts.seen[key] = (counts.seen[key] || 0) + 1;
			counts.last = key;
		} else {
			counts.failed++;
			if (counts.failures.length < 20)
				counts.failures.push({at: new Date().toISOString(), ...outcome, body: outcome.body?.slice(0, 200)});
		}
		await new Promise(resolve => setTimeout(resolve, Number(every)));
	}
}

process.on('SIGTERM', () => {
	stopping = true;
});
loop().then(() => {
	process.stdout.write(`${JSON.stringify(counts)}\n`);
	process.exit(0);
});
