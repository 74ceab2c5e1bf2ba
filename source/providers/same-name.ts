/**
 * Names are not unique on a cloud: an uncertain create asked again after a
 * list that lagged can leave two machines of one node's name. One rule says
 * which of them is the node, for the machines step and for the provider
 * alike: the one the journal recorded, else the lowest id (the first made).
 * The others are leftovers.
 */
export function sameNameChoice<T>(
	found: readonly T[],
	of: {name: (t: T) => string; id: (t: T) => string},
	recorded: (name: string) => string | undefined = () => undefined,
): {byName: Map<string, T>; leftovers: T[]} {
	const byName = new Map<string, T>();
	for (const machine of [...found].sort((a, b) => compareIds(of.id(a), of.id(b)))) {
		const name = of.name(machine);
		const held = byName.get(name);
		if (!held || (of.id(held) !== recorded(name) && of.id(machine) === recorded(name))) byName.set(name, machine);
	}
	const chosen = new Set(byName.values());
	return {byName, leftovers: found.filter(m => !chosen.has(m))};
}

/** Numeric ids (droplets) by value, others as strings. */
function compareIds(a: string, b: string): number {
	if (/^\d+$/.test(a) && /^\d+$/.test(b)) return Number(a) - Number(b) || a.localeCompare(b);
	return a.localeCompare(b);
}
