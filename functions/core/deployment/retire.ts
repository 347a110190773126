import { InvalidTransitionError, StackNotTerminatedError } from '../errors.ts';
import { deadlinePassed } from '../health.ts';
import type { StackPorts, StorePorts, TrafficPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import { rollbackWindowOf } from '../rollback-window.ts';
import { assertStackTransition } from '../stack-lifecycle.ts';
import type { DeploymentAction, Spec, StackStatus } from '../types.ts';
import { doneWaiting, keepWaiting, startWaiting, type WaitProgress } from '../waits.ts';
import { findStack, loadTask, newStackIdOf, recordStep, requireStack, transitionStack } from './context.ts';

/** Input of the tasks that act on one named stack (the old one, the new one, or each one on teardown). */
export interface StackTaskInput extends WorkflowInput {
  stackId: string;
}

const ENDED: readonly StackStatus[] = ['decommissioned', 'failed'];

/**
 * Keeps the stack this deployment replaced running at weight 0 as the environment's standby, until its
 * rollback window ends (the upkeep sweep then retires it): until then a rollback is a switch back to it.
 * The stack first, then the environment naming it: a rerun completes either.
 */
export async function standByStack(ports: StorePorts, input: StackTaskInput): Promise<void> {
  const context = await loadTask(ports, input);
  const { environment } = context;
  if (!context.acting) return;
  if (environment.standby?.stackId === input.stackId) return;
  const stack = await requireStack(ports, input.environment, input.stackId);
  if (stack.stackId === environment.liveStackId) {
    throw new InvalidTransitionError(
      `stack ${stack.stackId} is the live stack of ${environment.name}: it serves`,
    );
  }
  await transitionStack(ports, stack, 'standby');
  const seconds = rollbackWindowOf(environment);
  const until = new Date(ports.clock.now().getTime() + seconds * 1000).toISOString();
  await ports.store.updateObservedState(input.environment, { standby: { stackId: stack.stackId, until } });
  await recordStep(ports, context, { name: `StandBy ${stack.stackId}`, detail: `warm until ${until}` });
}

/**
 * How long the instances of a stack may take to terminate: EC2's usually take under two minutes, embedded
 * processes a moment (or the grace period before SIGKILL).
 */
const TERMINATION_SECONDS = 240;

/**
 * Each of these tasks is a loop's act (without `progress`) and its check (with the progress the run
 * before it returned, after the workflow's Wait state): see core/waits.ts.
 */
interface Checking {
  progress?: WaitProgress;
}

/**
 * Drains a stack: stops new traffic to it and lets its in-flight requests finish, for at most the spec's
 * drainSeconds. The act starts the drain; a check deregisters the stack once nothing is in flight, or
 * cuts off what is left once drainSeconds have passed (as the ALB does with its deregistration delay).
 * Never the environment's live stack, except when the environment is torn down or put to sleep.
 */
export async function drainStack(
  ports: TrafficPorts,
  input: StackTaskInput & Checking,
): Promise<WaitProgress> {
  const { traffic, clock } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  const finished = doneWaiting(input.progress ?? startWaiting(new Date(context.startedAt), 0));
  if (!context.acting) return finished;
  const stack = await findStack(ports, input.environment, input.stackId);
  if (!stack || ENDED.includes(stack.status)) return finished;
  if (stack.stackId === environment.liveStackId && !removesEverything(deployment.action)) {
    throw new InvalidTransitionError(
      `stack ${stack.stackId} is the live stack of ${environment.name}: not draining it`,
    );
  }
  let progress = input.progress;
  if (!progress) {
    // Counted from the stack's move to draining: a rerun of the act goes on with the same drain.
    const draining = await transitionStack(ports, stack, 'draining');
    await traffic.startDrain(input.environment, stack.stackId, stack.spec.drainSeconds);
    progress = startWaiting(new Date(draining.updatedAt), stack.spec.drainSeconds);
  }
  const cutOff = deadlinePassed(progress, clock.now());
  if (!(await traffic.finishDrain(input.environment, stack.stackId, { cutOff }))) {
    return input.progress ? keepWaiting(progress, clock.now()) : progress;
  }
  await recordStep(ports, context, { name: `Drain ${stack.stackId}`, startedAt: progress.since });
  return doneWaiting(progress);
}

/** A teardown or a sleep removes every stack, the live one last; anything else never removes the live one. */
function removesEverything(action: DeploymentAction): boolean {
  return action === 'teardown' || action === 'sleep';
}

/**
 * Terminates a stack's instances and records its end: `decommissioned` for a replaced or torn-down
 * stack, `failed` for a new stack that never went live. The act removes the stack's targets and starts the
 * termination; the checks carry it on until every instance is terminated (StackNotTerminatedError after
 * TERMINATION_SECONDS). Refuses to remove the environment's live stack unless the environment itself is
 * being torn down or put to sleep (rule: never decommission the last healthy stack). This deployment's own
 * new stack is terminated even when it was never recorded (its launch was cut short), and recorded
 * `failed` then so that the API shows it.
 */
export async function decommissionStack(
  ports: StackPorts,
  input: StackTaskInput &
    Checking & { outcome?: Extract<StackStatus, 'decommissioned' | 'failed'>; reason?: string },
): Promise<WaitProgress> {
  const { store, compute, traffic, clock } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  const finished = doneWaiting(input.progress ?? startWaiting(new Date(context.startedAt), 0));
  if (!context.acting) return finished;
  const outcome = input.outcome ?? 'decommissioned';
  const reason = input.reason ? { statusReason: input.reason } : {};
  const stack = await findStack(ports, input.environment, input.stackId);
  if (stack && ENDED.includes(stack.status)) return finished;
  if (input.stackId === environment.liveStackId && !removesEverything(deployment.action)) {
    throw new InvalidTransitionError(
      `stack ${input.stackId} is the live stack of ${environment.name}: not removing it`,
    );
  }
  const ownNewStack = input.stackId === newStackIdOf(deployment) && deployment.spec !== undefined;
  if (!stack && !ownNewStack) return finished;
  // Refused before anything is stopped, so a forbidden move changes nothing.
  if (stack) assertStackTransition(stack.stackId, stack.status, outcome);
  let progress = input.progress;
  if (!progress) {
    await traffic.finishDrain(input.environment, input.stackId, { cutOff: true });
    progress = startWaiting(new Date(context.startedAt), TERMINATION_SECONDS);
  }
  await compute.terminateStack(input.stackId);
  const instances = await compute.describeStack(input.stackId);
  const remaining = instances.filter((instance) => instance.state !== 'terminated');
  if (remaining.length > 0) {
    if (deadlinePassed(progress, clock.now())) {
      throw new StackNotTerminatedError(
        `instances of stack ${input.stackId} were not terminated within ${TERMINATION_SECONDS}s: ${remaining.map((i) => i.id).join(', ')}`,
      );
    }
    return input.progress ? keepWaiting(progress, clock.now()) : progress;
  }
  if (stack) {
    await transitionStack(ports, stack, outcome, {
      instances:
        instances.length > 0
          ? instances
          : stack.instances.map((i) => ({ ...i, state: 'terminated' as const })),
      ...reason,
    });
  } else {
    await store.putStackIfAbsent({
      environment: input.environment,
      stackId: input.stackId,
      generation: deployment.generation,
      deploymentId: deployment.id,
      spec: deployment.spec as Spec,
      status: outcome,
      instances,
      ...reason,
      createdAt: context.startedAt,
      updatedAt: context.startedAt,
    });
  }
  await recordStep(ports, context, {
    name: `Decommission ${input.stackId}`,
    detail: outcome,
    startedAt: progress.since,
  });
  return doneWaiting(progress);
}
