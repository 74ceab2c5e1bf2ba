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

/**
 * A scale-down that must repair what stays first: `up` resuming an
 * interrupted scale-down (a staying node may be stopped), or a scale that
 * keeps some of the nodes an interrupted one was removing. Every node that
 * stays is brought back as `up` does (the leaving ones are left alone),
 * then the tables move and the leaving nodes go as in a scale-down.
 */
export const repairAndScaleDownSteps: Step[] = [
	preflightStep,
	keysStep,
	machinesStep,
	provisionStep,
	swarmStep,
	networkStep,
	evacuateStep,
	deployStep,
	removeNodesStep,
	tablesStep,
	verifyStep,
];

/** `down`: the provider removes what the cluster's label names; the journal forgets the nodes. */
export const downSteps: Step[] = [destroyStep];
