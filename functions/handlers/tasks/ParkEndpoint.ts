import { parkEndpoint } from '../../core/deployment/teardown.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state ParkEndpoint of the workflows in state-machines/: see `parkEndpoint` in functions/core/deployment/. */
export const handler = taskHandler(parkEndpoint, trafficPorts);
