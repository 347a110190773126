import { allTrafficTo } from '../blue-green.ts';
import { HookFailedError } from '../errors.ts';
import { type HookPorts, runHook } from '../hooks.ts';
import type { TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import type { HookName } from '../types.ts';
import { assertNotCancelled } from './cancel.ts';
import { findStack, loadTask, newStackIdOf, recordStep, transitionStack } from './context.ts';
import type { LeaseOutcome } from './lease.ts';

export type VerifyPorts = TrafficPorts & HookPorts;

/**
 * VerifyBeforeTraffic (after the health gate, before any traffic) and VerifyAfterTraffic (right after the
 * cutover, while the previous stack still runs): runs the spec's hook against the new stack through its
 * test route and records the verdict as a step. A Failed verdict (the function's, or its error, timeout
 * or malformed answer) throws HookFailedError with the hook's reason, which the workflow turns into a
 * rollback. A rerun invokes the hook again: hooks, like tasks, must bear being run twice.
 */
export async function verifyStack(
  ports: VerifyPorts,
  input: WorkflowInput & { hook: HookName },
): Promise<void> {
  const context = await loadTask(ports, input);
  const { deployment } = context;
  if (!context.acting) return;
  if (input.hook === 'beforeTraffic') assertNotCancelled(deployment);
  const stackId = newStackIdOf(deployment);
  const result = await runHook(ports, deployment, stackId, input.hook);
  if (!result) return;
  const detail = `${result.status}${result.reason ? `: ${result.reason}` : ''}`;
  await recordStep(ports, context, { name: `Verify ${input.hook}`, detail });
  if (result.status === 'Failed') {
    throw new HookFailedError(
      `${input.hook} hook ${deployment.spec?.hooks?.[input.hook]?.function} failed: ${result.reason ?? 'no reason given'}`,
    );
  }
}

/**
 * The compensation of a failed afterTraffic hook: the cutover is undone. All traffic and the live stack go
 * back to the stack that was live before (still running: it is drained only after the hook), in one write
 * of the environment, and the new stack starts draining; DecommissionNewStack then removes it. With no
 * previous stack (a first deployment), there is nothing to go back to: the new stack stays live, and the
 * hook's failure stays in the record as a warning.
 */
export async function revertCutover(
  ports: TrafficPorts,
  input: WorkflowInput & { lease: LeaseOutcome },
): Promise<{ reverted: boolean }> {
  const { store, traffic } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  if (!context.acting) return { reverted: false };
  const previous = input.lease.fromStackId
    ? await findStack(ports, input.environment, input.lease.fromStackId)
    : undefined;
  const newStackId = newStackIdOf(deployment);
  if (previous?.status !== 'live') {
    await recordStep(ports, context, { name: 'RevertCutover', detail: 'no previous stack to go back to' });
    return { reverted: false };
  }
  const weights = allTrafficTo(previous.stackId, Object.keys(await traffic.getWeights(input.environment)));
  await traffic.setWeights(input.environment, weights);
  if (environment.liveStackId !== previous.stackId) {
    await store.updateObservedState(input.environment, {
      weights,
      liveStackId: previous.stackId,
      liveGeneration: previous.generation,
      liveSpec: previous.spec,
    });
  }
  const reverted = await findStack(ports, input.environment, newStackId);
  if (reverted?.status === 'live') await transitionStack(ports, reverted, 'draining');
  await recordStep(ports, context, {
    name: 'RevertCutover',
    detail: `all traffic back on ${previous.stackId}`,
  });
  return { reverted: true };
}
