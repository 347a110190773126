import type { Actor } from '../../core/actors.ts';
import { sweepIdle } from '../../core/upkeep/sweep.ts';
import { logger } from '../../shared/logger.ts';
import { upkeepPorts } from '../../shared/roots/upkeep.ts';
import { scheduleHandler } from '../../shared/schedule-handler.ts';

/**
 * The idle sweep's schedule (kiln-idle-sweep, every 5 minutes): puts idle environments to sleep and wakes
 * those whose wakeAt time has come (see core/upkeep/sweep.ts). Each sleep and wake is recorded as caused
 * by the schedule and its fire. An environment that fails is logged and stays due for the next sweep;
 * the invocation itself succeeds, so Scheduler does not run the whole sweep again.
 */
export const handler = scheduleHandler(async (invocation) => {
  // Invoked by hand (no schedule input), it acts as its schedule would.
  const name = invocation?.schedule ?? 'kiln-idle-sweep';
  const actor: Actor = {
    trigger: 'schedule',
    principal: name,
    schedule: { name, scheduledAt: invocation?.scheduledTime ?? new Date().toISOString() },
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
});
