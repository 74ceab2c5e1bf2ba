import {BugError} from '../errors.js';
import type {Journal, NodeRecord} from './journal.js';

/**
 * The journal's first node: the manager that made the swarm and that steps and
 * commands talk to. Every journal past the machines step has one; one without
 * is a bug in the caller (it ran before there were machines).
 */
export function firstNode(journal: Readonly<Journal>): NodeRecord {
	const [first] = journal.nodes;
	if (!first) throw new BugError(`the journal of ${journal.cluster} lists no nodes yet`);
	return first;
}

/** The record of the node named `name`; a name the journal does not hold is a bug in the caller. */
export function nodeNamed(journal: Readonly<Journal>, name: string): NodeRecord {
	const found = journal.nodes.find(n => n.name === name);
	if (!found) throw new BugError(`the journal of ${journal.cluster} has no node ${name}`);
	return found;
}

/** A node's private address, which the machines step records before any later step runs. */
export function privateAddressOf(node: Readonly<NodeRecord>): string {
	if (node.privateAddress === undefined) throw new BugError(`${node.name} has no private address in the journal`);
	return node.privateAddress;
}
