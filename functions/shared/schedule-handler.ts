import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import * as z from 'zod/mini';
import { logger } from './logger.ts';

/**
 * The input every schedule of the manifest gives its function (infra/constructs/events.ts; embedded,
 * the scheduler gives the same), the context attributes substituted.
 */
const scheduleInvocation = z.object({
  schedule: z.string(),
  scheduledTime: z.string(),
  executionId: z.string(),
});

export type ScheduleInvocation = z.infer<typeof scheduleInvocation>;

/**
 * Wraps scheduled upkeep as a Lambda handler for an EventBridge Scheduler target. The work does not
 * depend on the input (an operator may invoke the function by hand, with any event): the input only
 * names the schedule and the fire in the logs. An error fails the invocation, which Scheduler retries;
 * upkeep is idempotent, so a retry or an overlapping fire changes nothing more.
 */
export function scheduleHandler<R>(run: (invocation: ScheduleInvocation | undefined) => Promise<R>) {
  return middy(async (event: unknown, _context: Context): Promise<R> => {
    const invocation = z.safeParse(scheduleInvocation, event);
    if (invocation.success) {
      logger.appendKeys({
        schedule: invocation.data.schedule,
        scheduledTime: invocation.data.scheduledTime,
        executionId: invocation.data.executionId,
      });
    } else {
      logger.info('invoked without a schedule input: running anyway');
    }
    return run(invocation.success ? invocation.data : undefined);
  }).use(injectLambdaContext(logger, { resetKeys: true }));
}
