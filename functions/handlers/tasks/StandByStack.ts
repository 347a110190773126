import { standByStack } from '../../core/deployment/retire.ts';
import { storePorts } from '../../shared/roots/store.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state StandByOldStack of the deploy workflow: see `standByStack` in functions/core/deployment/retire.ts. */
export const handler = taskHandler(standByStack, storePorts);
