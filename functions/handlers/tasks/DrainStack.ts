import { drainStack } from '../../core/deployment/retire.ts';
import { taskHandler } from '../../shared/task-handler.ts';
import { trafficPorts } from '../../shared/traffic-ports.ts';

/** Task state DrainStack of the workflows in state-machines/: see `drainStack` in functions/core/deployment/. */
export const handler = taskHandler(drainStack, trafficPorts);
