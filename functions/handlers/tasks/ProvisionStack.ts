import { provisionStack } from '../../core/deployment-tasks.ts';
import { ports } from '../../shared/ports.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state ProvisionStack of the workflows in state-machines/: see `provisionStack` in the core. */
export const handler = taskHandler(provisionStack, ports);
