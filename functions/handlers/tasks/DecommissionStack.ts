import { decommissionStack } from '../../core/deployment/retire.ts';
import { ports } from '../../shared/ports.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state DecommissionStack of the workflows in state-machines/: see `decommissionStack` in functions/core/deployment/. */
export const handler = taskHandler(decommissionStack, ports);
