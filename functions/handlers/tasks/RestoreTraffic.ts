import { restoreTraffic } from '../../core/deployment-tasks.ts';
import { taskHandler } from '../../shared/task-handler.ts';
import { trafficPorts } from '../../shared/traffic-ports.ts';

/** Task state RestoreTraffic of the workflows in state-machines/: see `restoreTraffic` in the core. */
export const handler = taskHandler(restoreTraffic, trafficPorts);
