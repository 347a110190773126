import { checkFreeze } from '../../core/deployment/freeze-gate.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state CheckFreeze of the deploy workflow: see `checkFreeze` in functions/core/deployment/freeze-gate.ts. */
export const handler = taskHandler(checkFreeze, storePorts);
