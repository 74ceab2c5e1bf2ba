import {keysStep} from './keys.js';
import {machinesStep} from './machines.js';
import {networkStep} from './network.js';
import {preflightStep} from './preflight.js';
import {provisionStep} from './provision.js';
import {swarmStep} from './swarm.js';
import type {Step} from './types.js';
import {verifyStep} from './verify.js';

/** The phases of `swarmbee up`, in order. */
export const upSteps: Step[] = [preflightStep, keysStep, machinesStep, provisionStep, swarmStep, networkStep, verifyStep];
