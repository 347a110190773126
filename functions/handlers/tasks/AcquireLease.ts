import { acquireLease } from '../../core/deployment/lease.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state AcquireLease of the workflows in state-machines/: see `acquireLease` in functions/core/deployment/. */
export const handler = taskHandler(acquireLease, requestPorts);
