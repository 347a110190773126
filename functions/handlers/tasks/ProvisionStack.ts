import { provisionStack } from '../../core/deployment/provision.ts';
import { stackPorts } from '../../shared/roots/stack.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task states ProvisionStack and CheckInstances of the deploy workflow: see `provisionStack` in functions/core/deployment/. */
export const handler = taskHandler(provisionStack, stackPorts);
