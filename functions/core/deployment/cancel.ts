import { DeploymentCancelledError } from '../errors.ts';
import type { Deployment } from '../types.ts';

/** The cancel signal: checked at every phase boundary before the cutover, never after it. */
export function assertNotCancelled(deployment: Deployment): void {
  if (deployment.cancelRequest) {
    throw new DeploymentCancelledError(
      `deployment ${deployment.id} was cancelled by ${deployment.cancelRequest.by} at ${deployment.cancelRequest.at}`,
    );
  }
}
