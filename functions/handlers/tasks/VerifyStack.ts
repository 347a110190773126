import { verifyStack } from '../../core/deployment/verify.ts';
import { verifyPorts } from '../../shared/roots/verify.ts';
import { taskHandler } from '../../shared/task-handler.ts';

/**
 * Task states VerifyBeforeTraffic and VerifyAfterTraffic of the deploy workflow: see `verifyStack` in
 * functions/core/deployment/verify.ts. The one task that waits (the hook's answer, up to its timeoutSeconds):
 * Step Functions could invoke the spec's function itself only through its lambda:invoke integration, which
 * the embedded runner does not run; one task keeps both modes on one path (test/unit/state-machines.test.ts).
 */
export const handler = taskHandler(verifyStack, verifyPorts);
