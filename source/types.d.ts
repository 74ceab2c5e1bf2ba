/** The npm rethinkdb driver's connection module (CommonJS, no types of its own). */
declare module 'rethinkdb/net.js' {
	const net: {TcpConnection: unknown};
	export default net;
}

/** zlib's crc32_combine compiled to WebAssembly (balena's node-crc-utils, CommonJS, no types of its own). */
declare module '@balena/node-crc-utils' {
	/** Resolves once the WebAssembly module is ready; calls before it fail. */
	export const ready: Promise<void>;
	/** The CRC-32 of A followed by B, from A's CRC, B's CRC and B's length; little-endian in 4 bytes. */
	export function crc32_combine(crc1: number, crc2: number, len2: number): Buffer;
}
