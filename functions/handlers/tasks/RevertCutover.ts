import { revertCutover } from '../../core/deployment/verify.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state RevertCutover of the deploy workflow: see `revertCutover` in functions/core/deployment/verify.ts. */
export const handler = taskHandler(revertCutover, trafficPorts);
