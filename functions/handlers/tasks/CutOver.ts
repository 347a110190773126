import { cutOver } from '../../core/deployment/traffic.ts';
import { trafficPorts } from '../../shared/roots/traffic.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state CutOver of the workflows in state-machines/: see `cutOver` in functions/core/deployment/. */
export const handler = taskHandler(cutOver, trafficPorts);
