import { shiftCanary } from '../../core/deployment/canary.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state ShiftCanary of the deploy workflow: see `shiftCanary` in functions/core/deployment/canary.ts. */
export const handler = taskHandler(shiftCanary, trafficPorts);
