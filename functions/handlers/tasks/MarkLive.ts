import { markLive } from '../../core/deployment-tasks.ts';
import { requestPorts } from '../../shared/request-ports.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state MarkLive of the workflows in state-machines/: see `markLive` in the core. */
export const handler = taskHandler(markLive, requestPorts);
