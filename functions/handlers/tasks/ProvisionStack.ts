import { provisionStack } from '../../core/deployment/provision.ts';
import { stackPorts } from '../../shared/roots/stack.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state ProvisionStack of the workflows in state-machines/: see `provisionStack` in functions/core/deployment/. */
export const handler = taskHandler(provisionStack, stackPorts);
