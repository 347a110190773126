import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import { sweepIdle } from '../../core/upkeep/sweep.ts';
import { logger } from '../../shared/logger.ts';
import { upkeepPorts } from '../../shared/roots/upkeep.ts';

/** What EventBridge Scheduler (and the embedded scheduler) gives a schedule's function. */
interface ScheduledInvocation {
  schedule: string;
  scheduledTime: string;
}

/**
 * The idle sweep, every 5 minutes: puts idle environments to sleep and wakes those whose wakeAt time has
 * come (see core/upkeep/sweep.ts). An environment that fails is logged and stays due for the next sweep;
 * the invocation itself succeeds, so Scheduler does not run the whole sweep again.
 */
export const handler = middy(async (event: ScheduledInvocation, _context: Context) => {
  const actor = {
    trigger: 'schedule' as const,
    principal: event.schedule,
    schedule: { name: event.schedule, scheduledAt: event.scheduledTime },
  };
  const report = await sweepIdle(upkeepPorts(), actor);
  for (const failure of report.failed) logger.warn('upkeep failed for an environment', failure);
  logger.info('idle sweep', {
    due: report.due,
    started: report.started.length,
    active: report.active.length,
    notDue: report.notDue.length,
    failed: report.failed.length,
    truncated: report.truncated,
  });
  return report;
}).use(injectLambdaContext(logger, { resetKeys: true }));
