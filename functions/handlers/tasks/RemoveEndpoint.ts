import { removeEndpoint } from '../../core/deployment/teardown.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state RemoveEndpoint of the workflows in state-machines/: see `removeEndpoint` in functions/core/deployment/. */
export const handler = taskHandler(removeEndpoint, trafficPorts);
