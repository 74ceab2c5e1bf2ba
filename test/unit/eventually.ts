/**
 * Runs `check` until it passes (returns without throwing), then returns what
 * it returned; its last failure after `timeoutMs`. For what becomes true
 * after a while (an emulator's lag): never a fixed sleep, which is either
 * too short on a loaded machine or longer than needed.
 */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 5_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		try {
			return await check();
		} catch (error) {
			if (Date.now() > deadline) throw error;
		}
		await new Promise(resolve => setTimeout(resolve, 10));
	}
}
