import type { StorePorts, TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import { stacksStillRunning } from '../spec.ts';
import { loadTask, recordStep } from './context.ts';

/** What a teardown (or a sleep) removes, the live stack last so it serves until the end. */
export interface TeardownPlan {
  stackIds: string[];
  /** A sleep keeps the endpoint (parked: a request wakes the environment); a teardown removes it. */
  keepEndpoint: boolean;
}

export async function planTeardown(ports: StorePorts, input: WorkflowInput): Promise<TeardownPlan> {
  const { deployment, environment, acting } = await loadTask(ports, input);
  const keepEndpoint = deployment.action === 'sleep';
  if (!acting) return { stackIds: [], keepEndpoint };
  const running = stacksStillRunning(await ports.store.listStacks(input.environment));
  const ordered = [
    ...running.filter((s) => s.stackId !== environment.liveStackId),
    ...running.filter((s) => s.stackId === environment.liveStackId),
  ];
  return { stackIds: ordered.map((s) => s.stackId), keepEndpoint };
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
