import type { HealthCheck } from './types.ts';

/** What one probe of one instance found. */
export interface TargetHealth {
  instanceId: string;
  healthy: boolean;
  /** Why an unhealthy target is unhealthy (status code, timeout, exited). */
  reason?: string;
}

/** Health-wait progress carried between probe rounds in the workflow state. */
export interface HealthProgress {
  /** Consecutive rounds in which every instance of the stack answered healthy. */
  consecutive: number;
  healthy: boolean;
  /** ISO time after which the stack is declared unhealthy. */
  deadline: string;
  /** Seconds to wait before the next round. */
  waitSeconds: number;
  /** Last round's unhealthy targets, for the deployment record. */
  lastFailure?: string;
  /** ISO time the wait began (the end of provisioning): the start of the recorded step. */
  since: string;
}

export function healthDeadline(launchedAt: Date, check: HealthCheck): string {
  return new Date(launchedAt.getTime() + check.deadlineSeconds * 1000).toISOString();
}

/**
 * Folds one probe round into the progress: a round counts only if the stack has its full
 * capacity of instances and every one is healthy; any bad round resets the count.
 */
export function foldProbeRound(
  progress: Pick<HealthProgress, 'consecutive' | 'deadline' | 'since'>,
  round: TargetHealth[],
  capacity: number,
  check: HealthCheck,
): HealthProgress {
  const unhealthy = round.filter((t) => !t.healthy);
  const good = round.length >= capacity && unhealthy.length === 0;
  const consecutive = good ? progress.consecutive + 1 : 0;
  const lastFailure = good
    ? undefined
    : round.length < capacity
      ? `${round.length} of ${capacity} instances present`
      : unhealthy.map((t) => `${t.instanceId}: ${t.reason ?? 'unhealthy'}`).join('; ');
  return {
    consecutive,
    healthy: consecutive >= check.healthyThreshold,
    deadline: progress.deadline,
    since: progress.since,
    waitSeconds: check.intervalSeconds,
    ...(lastFailure ? { lastFailure } : {}),
  };
}

export function deadlinePassed(progress: Pick<HealthProgress, 'deadline'>, now: Date): boolean {
  return now.getTime() > Date.parse(progress.deadline);
}
