import { InvalidTransitionError, StackNotHealthyError } from '../errors.ts';
import { deadlinePassed, foldProbeRound, type HealthProgress } from '../health.ts';
import type { TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import { assertNotCancelled } from './cancel.ts';
import { hasStep, loadTask, newStackIdOf, recordStep, requireStack, transitionStack } from './context.ts';
import { requireSpec } from './provision.ts';

const HEALTH_STEP = 'WaitUntilHealthy';

/**
 * One round of the health wait (the workflow's Wait state paces the rounds): probes every target of the
 * new stack and folds the result into the consecutive count. Healthy after `healthyThreshold` good
 * rounds in a row, recorded with the stack's move to `healthy` and the step, in two writes; rounds in
 * between write nothing. StackNotHealthyError once the deadline passes without that. A stack already
 * past the wait (a rerun) is reported healthy without probing.
 */
export async function checkHealth(
  ports: TrafficPorts,
  input: WorkflowInput & { health: HealthProgress },
): Promise<HealthProgress> {
  const { traffic, clock } = ports;
  const context = await loadTask(ports, input);
  const { deployment } = context;
  const passed = { ...input.health, healthy: true };
  if (!context.acting) return passed;
  const stack = await requireStack(ports, input.environment, newStackIdOf(deployment));
  if (stack.status === 'failed') {
    throw new InvalidTransitionError(`stack ${stack.stackId} failed: it cannot become healthy`);
  }
  let progress = passed;
  if (stack.status === 'provisioning') {
    assertNotCancelled(deployment);
    const spec = requireSpec(deployment);
    const round = await traffic.probeHealth(input.environment, stack.stackId);
    progress = foldProbeRound(input.health, round, spec.capacity, spec.healthCheck);
    if (!progress.healthy) {
      if (deadlinePassed(progress, clock.now())) {
        throw new StackNotHealthyError(
          `stack ${stack.stackId} was not healthy within ${spec.healthCheck.deadlineSeconds}s: ${progress.lastFailure ?? 'no healthy rounds'}`,
        );
      }
      return progress;
    }
    await transitionStack(ports, stack, 'healthy');
  }
  // Also on a rerun that finds the stack healthy but the step unrecorded (stopped between the two writes).
  if (!hasStep(deployment, HEALTH_STEP)) {
    await recordStep(ports, context, {
      name: HEALTH_STEP,
      startedAt: input.health.since,
      ...(progress === passed ? {} : { detail: `${progress.consecutive} consecutive healthy rounds` }),
    });
  }
  return progress;
}
