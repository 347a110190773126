import type { nextFireTime } from './schedule-expressions.ts';
import type {
  DeploymentAction,
  DeploymentTrigger,
  Environment,
  IdlePolicy,
  Tier,
  UpkeepDue,
} from './types.ts';

/**
 * Scheduled upkeep's calendar: when an environment nobody uses goes to sleep, and when a sleeping one
 * wakes by itself. Pure: the sweep, the API and the workflow's last task all compute it from the record.
 */

/** Shards of the upkeep index (adapters/aws/table.ts): the sweep queries each, for each kind of upkeep. */
export const UPKEEP_SHARDS = 16;

/** The kinds of upkeep, each in partitions of its own in the upkeep index. */
export const UPKEEP_ACTIONS: readonly UpkeepDue['action'][] = ['sleep', 'wake', 'retire'];

/** Each tier's idle policy, for an environment that sets none (README "Idle environments"). */
export const IDLE_DEFAULTS: Readonly<Record<Tier, IdlePolicy>> = {
  dev: { afterMinutes: 60 },
  staging: { afterMinutes: 240 },
  prod: { afterMinutes: null },
};

/** The policy that applies: the environment's own, or its tier's default. */
export function idlePolicyOf(environment: Pick<Environment, 'idle' | 'tier'>): IdlePolicy {
  return environment.idle ?? IDLE_DEFAULTS[environment.tier];
}

/** What the upkeep calendar reads of an environment. */
export type UpkeepFacts = Pick<
  Environment,
  | 'idle'
  | 'tier'
  | 'status'
  | 'lease'
  | 'liveStackId'
  | 'lastActivityAt'
  | 'awakeSince'
  | 'snoozedUntil'
  | 'sleepingSince'
  | 'standby'
>;

/** When a `cron(...)` next fires after a time, in a time zone: schedule-expressions.ts's nextFireTime. */
export type Calendar = typeof nextFireTime;

/**
 * upkeepDueOf, reading the calendar only for a policy with `sleepAt` or `wakeAt`: cron parsing (croner)
 * is imported on first use then, so the bundles of the API, which compute this on every write, evaluate
 * it only for the environments that need it.
 */
export async function upkeepDue(environment: UpkeepFacts): Promise<UpkeepDue | null> {
  const policy = idlePolicyOf(environment);
  const calendar =
    policy.sleepAt || policy.wakeAt ? (await import('./schedule-expressions.ts')).nextFireTime : NO_CRONS;
  return upkeepDueOf(environment, calendar);
}

/** The calendar of a policy without crons: never read. */
const NO_CRONS: Calendar = (expression) => {
  throw new Error(`no calendar was loaded to read ${expression}`);
};

/**
 * The next thing upkeep owes the environment, or null when nothing is due ever (a prod environment by
 * default, one asleep without `wakeAt`, one being changed). Live: retire its standby stack when its
 * rollback window ends, or sleep, whichever comes first. Asleep: wake at the first `wakeAt` time since it
 * fell asleep.
 */
export function upkeepDueOf(environment: UpkeepFacts, calendar: Calendar): UpkeepDue | null {
  if (environment.lease) return null;
  const sleepOrWake = idleDueOf(environment, calendar);
  const standby = environment.status === 'live' ? environment.standby : undefined;
  if (!standby || (sleepOrWake && sleepOrWake.at < standby.until)) return sleepOrWake;
  return { action: 'retire', at: standby.until };
}

/**
 * The idle policy's part. Live: sleep at the earliest of "idle for `afterMinutes` since its last activity"
 * and "the first `sleepAt` time since it woke", but not before a snooze ends. Asleep: wake at the first
 * `wakeAt` time since it fell asleep.
 */
function idleDueOf(environment: UpkeepFacts, nextFireTime: Calendar): UpkeepDue | null {
  const policy = idlePolicyOf(environment);
  const zone = policy.timezone ?? 'UTC';
  if (environment.status === 'live' && environment.liveStackId) {
    const candidates: number[] = [];
    if (policy.afterMinutes !== null && environment.lastActivityAt) {
      candidates.push(Date.parse(environment.lastActivityAt) + policy.afterMinutes * 60_000);
    }
    if (policy.sleepAt && environment.awakeSince) {
      const next = nextFireTime(policy.sleepAt, new Date(environment.awakeSince), zone);
      if (next) candidates.push(next.getTime());
    }
    if (candidates.length === 0) return null;
    const snoozed = environment.snoozedUntil ? Date.parse(environment.snoozedUntil) : 0;
    return { action: 'sleep', at: new Date(Math.max(Math.min(...candidates), snoozed)).toISOString() };
  }
  if (environment.status === 'sleeping' && policy.wakeAt && environment.sleepingSince) {
    const next = nextFireTime(policy.wakeAt, new Date(environment.sleepingSince), zone);
    return next ? { action: 'wake', at: next.toISOString() } : null;
  }
  return null;
}

/**
 * Whether a deployment counts as activity, keeping its environment awake: one someone asked for (a
 * person, a push, a wake), not a sleep, a teardown, or Kiln's own drift repair.
 */
export function isActivity(action: DeploymentAction, trigger: DeploymentTrigger): boolean {
  return action === 'deploy' && trigger !== 'drift-repair';
}
