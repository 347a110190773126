import { drainStack } from '../../core/deployment/retire.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** The drain loops' Task states (act and checks) of the workflows in state-machines/: see `drainStack` in functions/core/deployment/. */
export const handler = taskHandler(drainStack, trafficPorts);
