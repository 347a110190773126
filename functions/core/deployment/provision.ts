import { InvalidTransitionError, LaunchFailedError } from '../errors.ts';
import { deadlinePassed, type HealthProgress, healthDeadline } from '../health.ts';
import type { StackPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import type { Deployment, HookName, Instance, Spec, Stack, Strategy } from '../types.ts';
import { doneWaiting, keepWaiting, startWaiting, type WaitProgress } from '../waits.ts';
import { assertNotCancelled } from './cancel.ts';
import { findStack, loadTask, newStackIdOf, recordStep } from './context.ts';

/** What ProvisionStack hands to the health wait. */
export interface ProvisionOutcome {
  stackId: string;
  /** The wait until the stack's instances run: the workflow checks again (ProvisionStack with it) until done. */
  launch: WaitProgress;
  health: HealthProgress;
  /** How the healthy stack is given traffic: the workflow branches on it. */
  strategy: Strategy['type'];
  /** Which verification hooks the spec has: the workflow runs (and pays for) only those. */
  verify: Record<HookName, boolean>;
}

/**
 * Creates the new stack: its instances, its record with them, and, once they run, its targets behind the
 * environment's endpoint at weight 0. Nothing serves from it yet. The act (no `launch`) launches: compute
 * reconciles to capacity, counting what an earlier run launched. Until the instances run (EC2 takes half a
 * minute; embedded processes run at once) the workflow waits and checks again with the progress returned
 * (`launch`): a check launches nothing, fails with LaunchFailedError when an instance ended while starting,
 * or when they do not all run by the health deadline (counted from the first launch). Launching before
 * recording is safe: instances carry the stack's tags, and a stack id that a running deployment names is
 * one Kiln wants (see `stackShouldRun`). Once the stack has moved past `provisioning`, a rerun launches
 * nothing.
 */
export async function provisionStack(
  ports: StackPorts,
  input: WorkflowInput & { launch?: WaitProgress },
): Promise<ProvisionOutcome> {
  const { store, compute, traffic, clock } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  const spec = requireSpec(deployment);
  const stackId = newStackIdOf(deployment);
  const recorded = context.acting ? await findStack(ports, input.environment, stackId) : undefined;
  // The deadlines count from the first launch, also when a rerun continues it.
  const launchedAt = new Date(recorded?.createdAt ?? context.startedAt);
  const progress = input.launch ?? startWaiting(launchedAt, spec.healthCheck.deadlineSeconds);
  const outcome = (launch: WaitProgress, since: Date) => ({
    stackId,
    launch,
    health: healthWait(launchedAt, since, spec),
    strategy: spec.strategy.type,
    verify: hooksOf(spec),
  });
  if (!context.acting || (recorded && recorded.status !== 'provisioning')) {
    return outcome(doneWaiting(progress), new Date(context.startedAt));
  }
  assertNotCancelled(deployment);

  const instances =
    input.launch && recorded
      ? await startingInstances(ports, recorded)
      : await compute.launchStack(
          { environment: input.environment, stackId, deploymentId: deployment.id },
          spec,
        );
  const stack = await recordInstances(ports, recorded, {
    environment: input.environment,
    stackId,
    generation: deployment.generation,
    deploymentId: deployment.id,
    spec,
    status: 'provisioning',
    instances,
    createdAt: launchedAt.toISOString(),
    updatedAt: clock.now().toISOString(),
  });
  const notRunning = stack.instances.filter((instance) => instance.state !== 'running');
  if (notRunning.length > 0) {
    if (deadlinePassed(progress, clock.now())) {
      throw new LaunchFailedError(
        `instances of stack ${stackId} were not running within ${spec.healthCheck.deadlineSeconds}s: ${notRunning.map((i) => i.id).join(', ')}`,
      );
    }
    return outcome(input.launch ? keepWaiting(progress, clock.now()) : progress, clock.now());
  }
  const endpoint = await traffic.ensureEndpoint(input.environment);
  if (environment.endpoint !== endpoint) await store.updateObservedState(input.environment, { endpoint });
  await traffic.registerStack(input.environment, stackId, stack.instances, spec.healthCheck);
  await recordStep(ports, context, {
    name: 'ProvisionStack',
    startedAt: progress.since,
    detail: `${instances.length} instance(s) of ${spec.artifact} ${spec.version}`,
  });
  return outcome(doneWaiting(progress), clock.now());
}

/**
 * The recorded instances as compute reports them now, those it does not report yet (EC2 is eventually
 * consistent) as recorded. LaunchFailedError when one ended while starting (a volume or capacity problem
 * after the launch): relaunching it would most likely end the same way.
 */
async function startingInstances(ports: StackPorts, recorded: Stack): Promise<Instance[]> {
  const reported = new Map((await ports.compute.describeStack(recorded.stackId)).map((i) => [i.id, i]));
  const instances = recorded.instances.map((instance) => reported.get(instance.id) ?? instance);
  const ended = instances.find(
    (instance) => instance.state === 'stopping' || instance.state === 'terminated',
  );
  if (ended) {
    throw new LaunchFailedError(`instance ${ended.id} of stack ${recorded.stackId} ended while starting`);
  }
  return instances;
}

/** Creates the stack record with its instances, or brings an existing one's instance list up to date. */
async function recordInstances(ports: StackPorts, recorded: Stack | undefined, stack: Stack): Promise<Stack> {
  const stored = recorded ?? (await ports.store.putStackIfAbsent(stack));
  if (JSON.stringify(stored.instances) === JSON.stringify(stack.instances)) return stored;
  return ports.store.updateStack(stack.environment, stack.generation, {
    instances: stack.instances,
    updatedAt: stack.updatedAt,
  });
}

/** A health wait beginning at `since`, its deadline counted from the launch. */
function healthWait(launchedAt: Date, since: Date, spec: Spec): HealthProgress {
  return {
    consecutive: 0,
    healthy: false,
    deadline: healthDeadline(launchedAt, spec.healthCheck),
    waitSeconds: 0,
    since: since.toISOString(),
  };
}

export function requireSpec(deployment: Deployment): Spec {
  if (!deployment.spec) throw new InvalidTransitionError(`deployment ${deployment.id} has no spec to deploy`);
  return deployment.spec;
}

function hooksOf(spec: Spec): Record<HookName, boolean> {
  return {
    beforeTraffic: spec.hooks?.beforeTraffic !== undefined,
    afterTraffic: spec.hooks?.afterTraffic !== undefined,
  };
}
