import {deployStep} from './deploy.js';
import {destroyStep} from './destroy.js';
import {keysStep} from './keys.js';
import {machinesStep} from './machines.js';
import {networkStep} from './network.js';
import {preflightStep} from './preflight.js';
import {provisionStep} from './provision.js';
import {removeNodesStep} from './remove-nodes.js';
import {swarmStep} from './swarm.js';
import {evacuateStep, tablesStep} from './tables.js';
import type {Step} from './types.js';
import {verifyStep} from './verify.js';

/** The phases of `swarmbee up`, in order. */
export const upSteps: Step[] = [
	preflightStep,
	keysStep,
	machinesStep,
	provisionStep,
	swarmStep,
	networkStep,
	deployStep,
	tablesStep,
	verifyStep,
];

/**
 * `scale` to fewer workers: every table moves off the leaving servers first
 * (refused before anything changes when that is not safe), then their
 * servers leave the stack (the others' services are untouched), then the
 * nodes themselves; the policy is checked again on what stays.
 */
export const scaleDownSteps: Step[] = [
	preflightStep,
	keysStep,
	networkStep,
	evacuateStep,
	deployStep,
	removeNodesStep,
	tablesStep,
	verifyStep,
];

/** `down`: the provider removes what the cluster's label names; the journal forgets the nodes. */
export const downSteps: Step[] = [destroyStep];
