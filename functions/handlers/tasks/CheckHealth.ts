import { checkHealth } from '../../core/deployment/health-wait.ts';
import { taskHandler } from '../../shared/task-handler.ts';
import { trafficPorts } from '../../shared/traffic-ports.ts';

/** Task state CheckHealth of the workflows in state-machines/: see `checkHealth` in functions/core/deployment/. */
export const handler = taskHandler(checkHealth, trafficPorts);
