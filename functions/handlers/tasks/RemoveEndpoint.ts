import { removeEndpoint } from '../../core/deployment-tasks.ts';
import { taskHandler } from '../../shared/task-handler.ts';
import { trafficPorts } from '../../shared/traffic-ports.ts';

/** Task state RemoveEndpoint of the workflows in state-machines/: see `removeEndpoint` in the core. */
export const handler = taskHandler(removeEndpoint, trafficPorts);
