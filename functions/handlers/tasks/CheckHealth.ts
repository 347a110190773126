import { checkHealth } from '../../core/deployment/health-wait.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state CheckHealth of the workflows in state-machines/: see `checkHealth` in functions/core/deployment/. */
export const handler = taskHandler(checkHealth, trafficPorts);
