import type { Environment, Standby, Tier } from './types.ts';

/**
 * The warm rollback window: after a cutover the replaced stack keeps running at weight 0 for the
 * environment's window, so that a rollback is a switch of traffic back to it, not a new deployment.
 */

/** Each tier's window, in seconds, for an environment that sets none (README "Rollback"). */
export const ROLLBACK_WINDOW_DEFAULTS: Readonly<Record<Tier, number>> = {
  dev: 0,
  staging: 900,
  prod: 3600,
};

/** The longest window: a day of a second stack running is a day of double cost. */
export const MAX_ROLLBACK_WINDOW_SECONDS = 86_400;

/** The window that applies: the environment's own, or its tier's default. */
export function rollbackWindowOf(environment: Pick<Environment, 'rollbackWindowSeconds' | 'tier'>): number {
  return environment.rollbackWindowSeconds ?? ROLLBACK_WINDOW_DEFAULTS[environment.tier];
}

/** The environment's standby stack if its window is still open at `now`: a rollback to it is instant. */
export function openStandby(environment: Pick<Environment, 'standby'>, now: Date): Standby | undefined {
  const standby = environment.standby;
  return standby && Date.parse(standby.until) > now.getTime() ? standby : undefined;
}
