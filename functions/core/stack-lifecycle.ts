import { InvalidTransitionError } from './errors.ts';
import type { StackStatus } from './types.ts';

/**
 * The stack lifecycle: provisioning → healthy → live → draining → decommissioned, or failed.
 * A stack that never went live is torn down straight to `failed` (or `decommissioned` on teardown).
 * A replaced live stack may wait as `standby` (weight 0) for its rollback window: a rollback makes it
 * live again, the window's end drains it.
 */
const NEXT: Record<StackStatus, readonly StackStatus[]> = {
  provisioning: ['healthy', 'failed', 'draining', 'decommissioned'],
  healthy: ['live', 'failed', 'draining', 'decommissioned'],
  live: ['standby', 'draining'],
  standby: ['live', 'draining'],
  draining: ['decommissioned', 'failed'],
  decommissioned: [],
  failed: [],
};

/** Whether `from → to` is allowed; staying in the same status is allowed so retried tasks are no-ops. */
export function canTransitionStack(from: StackStatus, to: StackStatus): boolean {
  return from === to || NEXT[from].includes(to);
}

export function assertStackTransition(stackId: string, from: StackStatus, to: StackStatus): void {
  if (!canTransitionStack(from, to)) {
    throw new InvalidTransitionError(`stack ${stackId} cannot go from ${from} to ${to}`);
  }
}

/** Statuses from which `to` may be reached, for conditional writes in the state store. */
export function stackStatusesLeadingTo(to: StackStatus): StackStatus[] {
  return (Object.keys(NEXT) as StackStatus[]).filter((from) => canTransitionStack(from, to));
}
