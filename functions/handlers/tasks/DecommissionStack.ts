import { decommissionStack } from '../../core/deployment-tasks.ts';
import { ports } from '../../shared/ports.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state DecommissionStack of the workflows in state-machines/: see `decommissionStack` in the core. */
export const handler = taskHandler(decommissionStack, ports);
