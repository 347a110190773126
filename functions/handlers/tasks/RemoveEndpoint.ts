import { removeEndpoint } from '../../core/deployment/teardown.ts';
import { taskHandler } from '../../shared/task-handler.ts';
import { trafficPorts } from '../../shared/traffic-ports.ts';

/** Task state RemoveEndpoint of the workflows in state-machines/: see `removeEndpoint` in functions/core/deployment/. */
export const handler = taskHandler(removeEndpoint, trafficPorts);
