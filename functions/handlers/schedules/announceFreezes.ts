import { announceFreezes } from '../../core/freezes.ts';
import { logger } from '../../shared/logger.ts';
import { announcePorts } from '../../shared/roots/announce.ts';
import { scheduleHandler } from '../../shared/schedule-handler.ts';

/**
 * The freeze clock's schedule (kiln-freeze-clock, with the other upkeep): publishes `Freeze Started` and
 * `Freeze Ended` as freeze windows begin and end (see core/freezes.ts `announceFreezes`).
 */
export const handler = scheduleHandler(async () => {
  const report = await announceFreezes(announcePorts());
  if (report.started.length > 0 || report.ended.length > 0) logger.info('freeze windows', report);
  return report;
});
