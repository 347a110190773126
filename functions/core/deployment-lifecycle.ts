import { InvalidTransitionError } from './errors.ts';
import type { DeploymentStatus } from './types.ts';

/**
 * queued → (awaiting_approval →) running → one terminal outcome; a queued request may also be
 * superseded or cancelled, one awaiting approval rejected or expired.
 */
const NEXT: Record<DeploymentStatus, readonly DeploymentStatus[]> = {
  queued: ['awaiting_approval', 'running', 'superseded', 'cancelled', 'failed'],
  awaiting_approval: ['running', 'superseded', 'cancelled', 'rejected', 'expired', 'failed'],
  running: ['succeeded', 'rolled_back', 'failed', 'cancelled'],
  succeeded: [],
  rolled_back: [],
  failed: [],
  superseded: [],
  cancelled: [],
  rejected: [],
  expired: [],
};

export function isTerminal(status: DeploymentStatus): boolean {
  return NEXT[status].length === 0;
}

export function canTransitionDeployment(from: DeploymentStatus, to: DeploymentStatus): boolean {
  return from === to || NEXT[from].includes(to);
}

export function assertDeploymentTransition(id: string, from: DeploymentStatus, to: DeploymentStatus): void {
  if (!canTransitionDeployment(from, to)) {
    throw new InvalidTransitionError(`deployment ${id} cannot go from ${from} to ${to}`);
  }
}
