import { requestApproval } from '../../core/deployment/approval.ts';
import { requestPorts } from '../../shared/roots/request.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** The callback Task AwaitApproval of the deploy workflow: see `requestApproval` in functions/core/deployment/approval.ts. */
export const handler = taskHandler(requestApproval, requestPorts);
