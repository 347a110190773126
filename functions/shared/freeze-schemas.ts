import * as z from 'zod/mini';
import { DURATION, durationSeconds, type FreezeSchedule } from '../core/freezes.ts';
import { checkScheduleExpression } from '../core/schedule-expressions.ts';
import { TIERS } from '../core/types.ts';
import { environmentName, matching } from './api-schemas.ts';
import { cron, timezone } from './environment-schemas.ts';
import { team } from './spec-schemas.ts';

/**
 * Edge validation of PUT /freezes/{id}: a window given once (`start`, `end`: instants with their offset)
 * or recurring (`cron` + `duration`, in `timezone`), never both; who it covers; what it does.
 */

/** The longest a freeze window may last: a freeze longer than a quarter is a policy, not a freeze. */
export const MAX_FREEZE_DAYS = 90;

const instant = z.iso.datetime({ offset: true });
const duration = matching(
  DURATION,
  'must be an ISO 8601 duration of days, hours and minutes, such as PT12H or P2D',
);
const listOf = <T extends z.ZodMiniType>(item: T) => z.array(item).check(z.minLength(1), z.maxLength(100));

const freezeFields = z
  .strictObject({
    team,
    selector: z.optional(
      z.strictObject({
        teams: z.optional(listOf(team)),
        tiers: z.optional(listOf(z.enum(TIERS))),
        environments: z.optional(listOf(environmentName)),
      }),
    ),
    start: z.optional(instant),
    end: z.optional(instant),
    cron: z.optional(cron),
    duration: z.optional(duration),
    timezone: z.optional(timezone),
    /** `refuse` (default): a deployment asked for during the freeze is answered 409; `hold`: it waits for the end. */
    mode: z._default(z.enum(['hold', 'refuse']), 'refuse'),
    reason: z.string().check(z.minLength(1), z.maxLength(500)),
  })
  .check(
    z.superRefine((body, context) => {
      const issue = (path: string, message: string): void => {
        context.issues.push({ code: 'custom', input: body, path: [path], message });
      };
      const once = body.start !== undefined || body.end !== undefined;
      const recurring = body.cron !== undefined || body.duration !== undefined;
      if (once === recurring) {
        issue('start', 'give either start and end, or cron and duration');
        return;
      }
      const limit = MAX_FREEZE_DAYS * 86_400;
      if (once) {
        if (body.start === undefined) return issue('start', 'is required with end');
        if (body.end === undefined) return issue('end', 'is required with start');
        const seconds = (Date.parse(body.end) - Date.parse(body.start)) / 1000;
        if (seconds <= 0) issue('end', 'must be after start');
        else if (seconds > limit) issue('end', `must be at most ${MAX_FREEZE_DAYS} days after start`);
        return;
      }
      if (body.cron === undefined) return issue('cron', 'is required with duration');
      if (body.duration === undefined) return issue('duration', 'is required with cron');
      for (const problem of checkScheduleExpression(body.cron, body.timezone ?? 'UTC'))
        issue('cron', problem);
      // Object checks run after field errors too: a malformed duration was reported by its field.
      if (!DURATION.test(body.duration)) return;
      const seconds = durationSeconds(body.duration);
      if (seconds < 60) issue('duration', 'must be at least a minute');
      else if (seconds > limit) issue('duration', `must be at most ${MAX_FREEZE_DAYS} days`);
    }),
  );

/** The body checked, as a freeze request without its id: one of the two schedules, the other's fields absent. */
export const putFreezeBody = z.pipe(
  freezeFields,
  z.transform(({ start, end, cron, duration, timezone, ...rest }) => {
    const zone = timezone ? { timezone } : {};
    const schedule: FreezeSchedule =
      start !== undefined && end !== undefined
        ? { start, end, ...zone }
        : { cron: cron as string, duration: duration as string, ...zone };
    return { ...rest, ...schedule };
  }),
);
