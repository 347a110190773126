import { restoreTraffic } from '../../core/deployment/traffic.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state RestoreTraffic of the workflows in state-machines/: see `restoreTraffic` in functions/core/deployment/. */
export const handler = taskHandler(restoreTraffic, trafficPorts);
