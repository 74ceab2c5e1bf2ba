/** The npm rethinkdb driver's connection module (CommonJS, no types of its own). */
declare module 'rethinkdb/net.js' {
	const net: {TcpConnection: unknown};
	export default net;
}
