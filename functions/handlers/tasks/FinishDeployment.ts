import { finishDeployment } from '../../core/deployment-tasks.ts';
import { requestPorts } from '../../shared/request-ports.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state FinishDeployment of the workflows in state-machines/: see `finishDeployment` in the core. */
export const handler = taskHandler(finishDeployment, requestPorts);
