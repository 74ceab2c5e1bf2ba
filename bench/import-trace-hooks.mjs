export async function resolve(specifier, context, nextResolve) {
	const resolved = await nextResolve(specifier, context);
	process.stderr.write(`import-trace ${resolved.url}\n`);
	return resolved;
}
