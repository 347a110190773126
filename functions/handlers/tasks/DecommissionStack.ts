import { decommissionStack } from '../../core/deployment/retire.ts';
import { stackPorts } from '../../shared/roots/stack.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** The decommission loops' Task states (act and checks) of the workflows in state-machines/: see `decommissionStack` in functions/core/deployment/. */
export const handler = taskHandler(decommissionStack, stackPorts);
