import { verifyStack } from '../../core/deployment/verify.ts';
import { verifyPorts } from '../../shared/roots/verify.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/** Task states VerifyBeforeTraffic and VerifyAfterTraffic of the deploy workflow: see `verifyStack` in functions/core/deployment/verify.ts. */
export const handler = taskHandler(verifyStack, verifyPorts);
