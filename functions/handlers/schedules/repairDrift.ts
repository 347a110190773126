import { repairDrift } from '../../core/upkeep/drift.ts';
import { logger } from '../../shared/logger.ts';
import { upkeepPorts } from '../../shared/roots/upkeep.ts';
import { scheduleHandler } from '../../shared/schedule-handler.ts';

/**
 * The drift check's schedule (kiln-drift-check): redeploys live stacks that lost healthy instances, or
 * records why not (see core/upkeep/drift.ts), one log line per drift. An environment whose check failed
 * is logged as an error and checked again at the next run.
 */
export const handler = scheduleHandler(async () => {
  const report = await repairDrift(upkeepPorts());
  for (const repaired of report.repaired) logger.warn('drift repaired by a new deployment', { ...repaired });
  for (const unrepaired of report.unrepaired) logger.warn('drift not repaired', { ...unrepaired });
  for (const failure of report.failed) logger.error('drift check failed', failure);
  return {
    checked: report.checked,
    repaired: report.repaired.length,
    unrepaired: report.unrepaired.length,
    skipped: report.skipped.length,
    failed: report.failed.length,
  };
});
