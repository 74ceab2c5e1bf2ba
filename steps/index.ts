import {deployStep} from './deploy.js';
import {destroyStep} from './destroy.js';
import {keysStep} from './keys.js';
import {machinesStep} from './machines.js';
import {networkStep} from './network.js';
import {preflightStep} from './preflight.js';
import {provisionStep} from './provision.js';
import {removeNodesStep} from './remove-nodes.js';
import {swarmStep} from './swarm.js';
import type {Step} from './types.js';
import {verifyStep} from './verify.js';

/** The phases of `swarmbee up`, in order. */
export const upSteps: Step[] = [preflightStep, keysStep, machinesStep, provisionStep, swarmStep, networkStep, deployStep, verifyStep];

/**
 * `scale` to fewer workers: the leaving nodes' database servers go first (the
 * stack is redeployed without them), then the nodes themselves.
 */
export const scaleDownSteps: Step[] = [preflightStep, keysStep, networkStep, deployStep, removeNodesStep, verifyStep];

/** `down`: the provider removes what the cluster's label names; the journal forgets the nodes. */
export const downSteps: Step[] = [destroyStep];
