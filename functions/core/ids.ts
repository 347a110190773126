import { randomBytes } from 'node:crypto';

/**
 * Deployment ids sort by creation time (base-36 milliseconds, fixed width) and carry 40 random bits,
 * so `DEPLOY#<id>` keys list newest-last without a timestamp index. They also name workflow
 * executions, which makes starting an execution idempotent.
 */
export function newDeploymentId(now: Date): string {
  return `d-${now.getTime().toString(36).padStart(9, '0')}-${randomBytes(5).toString('hex')}`;
}
