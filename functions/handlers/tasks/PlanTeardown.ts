import { planTeardown } from '../../core/deployment-tasks.ts';
import { requestPorts } from '../../shared/request-ports.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state PlanTeardown of the workflows in state-machines/: see `planTeardown` in the core. */
export const handler = taskHandler(planTeardown, requestPorts);
