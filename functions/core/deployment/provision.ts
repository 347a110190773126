import { InvalidTransitionError } from '../errors.ts';
import { type HealthProgress, healthDeadline } from '../health.ts';
import type { StackPorts } from '../ports/index.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import type { Deployment, HookName, Spec, Stack, Strategy } from '../types.ts';
import { assertNotCancelled } from './cancel.ts';
import { findStack, loadTask, newStackIdOf, recordStep } from './context.ts';

/** What ProvisionStack hands to the health wait. */
export interface ProvisionOutcome {
  stackId: string;
  health: HealthProgress;
  /** How the healthy stack is given traffic: the workflow branches on it. */
  strategy: Strategy['type'];
  /** Which verification hooks the spec has: the workflow runs (and pays for) only those. */
  verify: Record<HookName, boolean>;
}

/**
 * Creates the new stack: its instances (compute reconciles to capacity, counting what an earlier run
 * launched), its record with them, and its targets behind the environment's endpoint at weight 0.
 * Nothing serves from it yet. Launching before recording is safe: instances carry the stack's tags, and
 * a stack id that a running deployment names is one Kiln wants (see `stackShouldRun`). Once the stack
 * has moved past `provisioning`, a rerun launches nothing.
 */
export async function provisionStack(ports: StackPorts, input: WorkflowInput): Promise<ProvisionOutcome> {
  const { store, compute, traffic, clock } = ports;
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  const spec = requireSpec(deployment);
  const stackId = newStackIdOf(deployment);
  const recorded = context.acting ? await findStack(ports, input.environment, stackId) : undefined;
  // The health deadline counts from the first launch, also when a rerun continues it.
  const launchedAt = new Date(recorded?.createdAt ?? context.startedAt);
  const outcome = {
    stackId,
    health: healthWait(launchedAt, new Date(context.startedAt), spec),
    strategy: spec.strategy.type,
    verify: hooksOf(spec),
  };
  if (!context.acting || (recorded && recorded.status !== 'provisioning')) return outcome;
  assertNotCancelled(deployment);

  const instances = await compute.launchStack(
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
  const endpoint = await traffic.ensureEndpoint(input.environment);
  if (environment.endpoint !== endpoint) await store.updateObservedState(input.environment, { endpoint });
  await traffic.registerStack(input.environment, stackId, stack.instances, spec.healthCheck);
  await recordStep(ports, context, {
    name: 'ProvisionStack',
    detail: `${instances.length} instance(s) of ${spec.artifact} ${spec.version}`,
  });
  return {
    stackId,
    health: healthWait(launchedAt, clock.now(), spec),
    strategy: spec.strategy.type,
    verify: hooksOf(spec),
  };
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
