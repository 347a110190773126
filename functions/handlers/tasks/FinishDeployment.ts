import { finishDeployment } from '../../core/deployment/finish.ts';
import { announcePorts } from '../../shared/roots/announce.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task state FinishDeployment of the workflows in state-machines/: see `finishDeployment` in functions/core/deployment/. */
export const handler = taskHandler(finishDeployment, announcePorts);
