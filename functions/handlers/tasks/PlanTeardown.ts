import { planTeardown } from '../../core/deployment/teardown.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state PlanTeardown of the workflows in state-machines/: see `planTeardown` in functions/core/deployment/. */
export const handler = taskHandler(planTeardown, storePorts);
