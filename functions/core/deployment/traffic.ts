import { allTrafficTo } from '../blue-green.ts';
import { InvalidTransitionError, StackNotHealthyError } from '../errors.ts';
import type { TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import type { Environment, Stack, StackStatus } from '../types.ts';
import { assertNotCancelled } from './cancel.ts';
import { loadTask, newStackIdOf, recordStep, requireStack, transitionStack } from './context.ts';
import type { LeaseOutcome } from './lease.ts';

/**
 * Blue/green cutover: one switch of all traffic to the new stack, which must be healthy, and with it the
 * stack becomes the environment's live stack. The split and the live stack are recorded in one write of
 * the environment, so no crash can leave traffic on one stack and the record naming another. Then the
 * stack is marked live and the step recorded (three writes in all). Once the environment names the new
 * stack live, the cancel signal comes too late and a rerun only completes the records.
 */
export async function cutOver(ports: TrafficPorts, input: WorkflowInput): Promise<void> {
  const { store, traffic } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  if (!context.acting) return;
  const stack = await requireStack(ports, input.environment, newStackIdOf(deployment));
  const switched = environment.liveStackId === stack.stackId;
  if (!switched) assertNotCancelled(deployment);
  if (!TAKES_TRAFFIC.includes(stack.status)) {
    throw new InvalidTransitionError(
      `stack ${stack.stackId} is ${stack.status}: only a healthy stack takes traffic`,
    );
  }
  if (stack.status === 'standby') await assertStandbyHealthy(ports, stack);
  const weights = allTrafficTo(stack.stackId, Object.keys(await traffic.getWeights(input.environment)));
  await traffic.setWeights(input.environment, weights);
  if (!switched || !sameWeights(environment, weights)) {
    await store.updateObservedState(input.environment, {
      weights,
      liveStackId: stack.stackId,
      liveGeneration: stack.generation,
      liveSpec: stack.spec,
      // What a rollback returns to (a rerun after the switch keeps what the first run recorded). A
      // rollback leaves none: rolling back twice must not bring back the version rolled back from.
      ...(switched
        ? {}
        : { previousSpec: deployment.trigger === 'rollback' ? null : (environment.liveSpec ?? null) }),
      ...(environment.standby?.stackId === stack.stackId ? { standby: null } : {}),
    });
  }
  await transitionStack(ports, stack, 'live');
  await recordStep(ports, context, { name: 'CutOver', detail: describeWeights(weights) });
}

/**
 * Compensation: every request goes back to the stack that was live when the deployment began (or, with
 * none, nowhere), before the new stack is removed. Once the new stack is the live one it is too late to
 * go back: the task then leaves traffic where it is and says so.
 */
export async function restoreTraffic(
  ports: TrafficPorts,
  input: WorkflowInput & { lease: LeaseOutcome },
): Promise<void> {
  const { store, traffic } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  if (!context.acting) return;
  const fromStackId = input.lease.fromStackId;
  if (environment.liveStackId === newStackIdOf(deployment)) {
    await recordStep(ports, context, {
      name: 'RestoreTraffic',
      detail: `${environment.liveStackId} is already live: traffic stays on it`,
    });
    return;
  }
  const registered = Object.keys(await traffic.getWeights(input.environment));
  const back = fromStackId !== undefined && registered.includes(fromStackId) ? fromStackId : undefined;
  const weights = allTrafficTo(back, registered);
  if (registered.length > 0) await traffic.setWeights(input.environment, weights);
  if (!sameWeights(environment, weights)) await store.updateObservedState(input.environment, { weights });
  await recordStep(ports, context, {
    name: 'RestoreTraffic',
    detail: back ? `all traffic back on ${back}` : 'no previous stack to return to',
  });
}

/** A healthy new stack, one already live (a rerun), or the standby a warm rollback returns to. */
const TAKES_TRAFFIC: readonly StackStatus[] = ['healthy', 'live', 'standby'];

/**
 * A standby stack has run at weight 0 since it was replaced: before it takes traffic back, one probe
 * round must find every instance healthy (StackNotHealthyError otherwise, and traffic stays where it is).
 */
async function assertStandbyHealthy(ports: TrafficPorts, stack: Stack): Promise<void> {
  const targets = await ports.traffic.probeHealth(stack.environment, stack.stackId);
  const healthy = targets.filter((target) => target.healthy).length;
  if (targets.length === 0 || healthy < stack.spec.capacity) {
    throw new StackNotHealthyError(
      `standby stack ${stack.stackId} answers healthy on ${healthy} of ${stack.spec.capacity} instances: not switching back to it`,
    );
  }
}

function sameWeights(environment: Environment, weights: Record<string, number>): boolean {
  const recorded = environment.weights ?? {};
  const ids = Object.keys(weights);
  return ids.length === Object.keys(recorded).length && ids.every((id) => recorded[id] === weights[id]);
}

function describeWeights(weights: Record<string, number>): string {
  return Object.entries(weights)
    .sort(([, a], [, b]) => b - a)
    .map(([id, weight]) => `${id}=${weight}`)
    .join(', ');
}
