import { acquireLease } from '../../core/deployment-tasks.ts';
import { requestPorts } from '../../shared/request-ports.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state AcquireLease of the workflows in state-machines/: see `acquireLease` in the core. */
export const handler = taskHandler(acquireLease, requestPorts);
