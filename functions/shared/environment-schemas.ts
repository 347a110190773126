import * as z from 'zod/mini';
import { RISK_POLICY } from '../core/risk.ts';
import { MAX_ROLLBACK_WINDOW_SECONDS } from '../core/rollback-window.ts';
import { checkScheduleExpression } from '../core/schedule-expressions.ts';
import { TIERS } from '../core/types.ts';
import { between, breakGlass, matching } from './api-schemas.ts';
import { source, spec, team } from './spec-schemas.ts';

/**
 * Edge validation of PUT /environments/{name}: the idle policy's crons and time zone are checked as
 * EventBridge Scheduler checks them (croner), which only this route loads.
 */

/** IANA time zones as this runtime knows them (the same list schedules are checked against). */
export const timezone = z
  .string()
  .check(
    z.refine(
      (zone) => checkScheduleExpression('rate(1 day)', zone).length === 0,
      'must be an IANA time zone such as Europe/Paris',
    ),
  );

/** An EventBridge Scheduler cron expression, checked as Scheduler checks it (in the policy's time zone). */
export const cron = matching(
  /^cron\(.+\)$/,
  'must be a cron(...) expression such as cron(0 19 ? * MON-FRI *)',
);

/** When an environment nobody uses sleeps (core/idle.ts); absent: its tier's default. */
export const idlePolicy = z
  .strictObject({
    afterMinutes: z.nullable(between(5, 43_200)),
    sleepAt: z.optional(cron),
    wakeAt: z.optional(cron),
    timezone: z.optional(timezone),
  })
  .check(
    z.superRefine((policy, context) => {
      for (const field of ['sleepAt', 'wakeAt'] as const) {
        const expression = policy[field];
        if (!expression) continue;
        for (const problem of checkScheduleExpression(expression, policy.timezone ?? 'UTC')) {
          context.issues.push({ code: 'custom', input: expression, path: [field], message: problem });
        }
      }
    }),
  );

/** What the environment depends on, of the kinds the risk policy scores (policies/risk.json). */
export const resources = z
  .array(
    z.strictObject({
      kind: z.enum(Object.keys(RISK_POLICY.resources) as [string, ...string[]]),
      name: matching(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 printable characters without spaces'),
      critical: z.optional(z.boolean()),
    }),
  )
  .check(z.maxLength(50));

export const putEnvironmentBody = z.strictObject({
  team,
  tier: z.enum(TIERS),
  spec,
  idle: z.optional(idlePolicy),
  rollbackWindowSeconds: z.optional(between(0, MAX_ROLLBACK_WINDOW_SECONDS)),
  resources: z.optional(resources),
  source: z.optional(source),
  breakGlass: z.optional(breakGlass),
});
