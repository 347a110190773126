import { drainStack } from '../../core/deployment-tasks.ts';
import { taskHandler } from '../../shared/task-handler.ts';
import { trafficPorts } from '../../shared/traffic-ports.ts';

/** Task state DrainStack of the workflows in state-machines/: see `drainStack` in the core. */
export const handler = taskHandler(drainStack, trafficPorts);
