import type { StorePorts, TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import { stacksStillRunning } from '../spec.ts';
import { loadTask, recordStep } from './context.ts';

/** The stacks a teardown removes, the live one last so it serves until the end. */
export async function planTeardown(ports: StorePorts, input: WorkflowInput): Promise<{ stackIds: string[] }> {
  const { environment, acting } = await loadTask(ports, input);
  if (!acting) return { stackIds: [] };
  const running = stacksStillRunning(await ports.store.listStacks(input.environment));
  const ordered = [
    ...running.filter((s) => s.stackId !== environment.liveStackId),
    ...running.filter((s) => s.stackId === environment.liveStackId),
  ];
  return { stackIds: ordered.map((s) => s.stackId) };
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
