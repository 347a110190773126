import { setTimeout as sleep } from 'node:timers/promises';
import type { KilnClient } from './client.ts';
import { isOutcome, type Outcome } from './exit-codes.ts';
import { deploymentPath } from './paths.ts';
import type { DeploymentRecord, WatchView } from './watch-view.ts';

/** How often a watch asks for the deployment: often enough to feel live, a few requests per step. */
export const POLL_INTERVAL_MS = 1000;

/** A deployment that has ended: its status is its outcome. */
export type EndedDeployment = DeploymentRecord & { status: Outcome };

/**
 * Polls a deployment until it has an outcome, showing each step once as it ends; answers the
 * deployment as it ended. Without a view nothing is shown (`--output json`). Leaving the watch (Ctrl-C) leaves the deployment running.
 */
export async function watchDeployment(
  client: KilnClient,
  environment: string,
  id: string,
  view: WatchView | undefined,
  intervalMs: number = POLL_INTERVAL_MS,
): Promise<EndedDeployment> {
  const shown = new Set<string>();
  for (let first = true; ; first = false) {
    const deployment = await client.send<DeploymentRecord>('GET', deploymentPath(environment, id));
    if (first) view?.begin(deployment);
    const ended = isOutcome(deployment.status);
    // Its status first: a step that ended while it ran is shown under "running".
    if (!ended) view?.progress(deployment);
    // A step is recorded once, under a name unique within its deployment.
    for (const step of deployment.steps ?? []) {
      if (shown.has(step.name)) continue;
      shown.add(step.name);
      view?.step(step);
    }
    if (ended) {
      view?.end(deployment);
      return deployment as EndedDeployment;
    }
    await sleep(intervalMs);
  }
}
