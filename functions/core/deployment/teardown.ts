import type { StorePorts, TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import { stacksStillRunning } from '../spec.ts';
import type { DeploymentAction } from '../types.ts';
import { loadTask, recordStep } from './context.ts';

/**
 * What a teardown (or a sleep) removes, the live stack last so it serves until the end; what a retire
 * removes: the standby stack whose rollback window has ended.
 */
export interface TeardownPlan {
  stackIds: string[];
  /**
   * What becomes of the endpoint: a teardown removes it, a sleep parks it (a request wakes the
   * environment), a retire leaves it serving the live stack.
   */
  endpoint: 'remove' | 'park' | 'keep';
}

const ENDPOINT_AFTER: Record<Exclude<DeploymentAction, 'deploy'>, TeardownPlan['endpoint']> = {
  teardown: 'remove',
  sleep: 'park',
  retire: 'keep',
};

export async function planTeardown(ports: StorePorts, input: WorkflowInput): Promise<TeardownPlan> {
  const { deployment, environment, acting } = await loadTask(ports, input);
  const endpoint = ENDPOINT_AFTER[deployment.action as keyof typeof ENDPOINT_AFTER];
  if (!acting) return { stackIds: [], endpoint };
  const running = stacksStillRunning(await ports.store.listStacks(input.environment));
  if (deployment.action === 'retire') {
    const standby = running.find(
      (s) => s.stackId === environment.standby?.stackId && s.stackId !== environment.liveStackId,
    );
    return { stackIds: standby ? [standby.stackId] : [], endpoint };
  }
  const ordered = [
    ...running.filter((s) => s.stackId !== environment.liveStackId),
    ...running.filter((s) => s.stackId === environment.liveStackId),
  ];
  return { stackIds: ordered.map((s) => s.stackId), endpoint };
}

/** Removes the environment's endpoint once no stack is left behind it. */
export async function removeEndpoint(ports: TrafficPorts, input: WorkflowInput): Promise<void> {
  const context = await loadTask(ports, input);
  if (!context.acting) return;
  await ports.traffic.removeEndpoint(input.environment);
  if (context.environment.endpoint !== undefined || context.environment.weights !== undefined) {
    await ports.store.updateObservedState(input.environment, { endpoint: null, weights: null });
  }
  await recordStep(ports, context, { name: 'RemoveEndpoint' });
}

/** Keeps the endpoint of an environment put to sleep, parked: its next request wakes it. */
export async function parkEndpoint(ports: TrafficPorts, input: WorkflowInput): Promise<void> {
  const context = await loadTask(ports, input);
  if (!context.acting) return;
  await ports.traffic.parkEndpoint(input.environment);
  if (context.environment.weights !== undefined) {
    await ports.store.updateObservedState(input.environment, { weights: null });
  }
  await recordStep(ports, context, { name: 'ParkEndpoint' });
}
