// The stack's health check: Swarm counts a task running, and puts it in the
// service's DNS, only once this exits 0.
const http = require('node:http');

const request = http.get(
	{host: '127.0.0.1', port: Number(process.env.PORT || 8000), path: '/healthz', timeout: 2000},
	response => {
		process.exit(response.statusCode === 200 ? 0 : 1);
	},
);
request.on('timeout', () => request.destroy(new Error('timeout')));
request.on('error', () => process.exit(1));
