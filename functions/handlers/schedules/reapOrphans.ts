import { reapOrphans } from '../../core/upkeep/reaper.ts';
import { logger } from '../../shared/logger.ts';
import { stackPorts } from '../../shared/roots/stack.ts';
import { scheduleHandler } from '../../shared/schedule-handler.ts';

/**
 * The orphan reaper's schedule (kiln-orphan-reaper): removes whatever carries Kiln's tags that no record
 * wants (see core/upkeep/reaper.ts), one log line per removal. A removal that failed is logged as an
 * error and tried again at the next run; it does not fail the others.
 */
export const handler = scheduleHandler(async () => {
  const report = await reapOrphans(stackPorts());
  for (const reaped of report.reaped) logger.info('orphan reaped', { ...reaped });
  for (const failure of report.failed) logger.error('orphan not reaped', failure);
  if (report.spared.length > 0) {
    logger.info('orphans spared until their grace period has passed', { spared: report.spared });
  }
  return { reaped: report.reaped.length, spared: report.spared.length, failed: report.failed.length };
});
