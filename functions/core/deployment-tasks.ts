import { blueGreenCutover, restoreWeights } from './blue-green.ts';
import { failureOutcome, isTerminal } from './deployment-lifecycle.ts';
import {
  DeploymentCancelledError,
  InvalidTransitionError,
  LeaseHeldError,
  NotFoundError,
  StackNotHealthyError,
} from './errors.ts';
import { deadlinePassed, foldProbeRound, type HealthProgress, healthDeadline } from './health.ts';
import type { Ports, RequestPorts, TrafficPorts } from './ports/index.ts';
import type { WorkflowInput } from './ports/workflows.ts';
import { generationOf, stackIdFor, stacksStillRunning } from './spec.ts';
import { assertStackTransition } from './stack-lifecycle.ts';
import type { Deployment, DeploymentError, Environment, Spec, Stack, StackStatus } from './types.ts';

/**
 * The work behind each Task state of the deploy and teardown workflows. Every function is
 * idempotent (at-least-once delivery): it reconciles recorded and actual state toward the goal
 * and does only the difference, so a retried or resumed task changes nothing the second time.
 */

/** What AcquireLease tells the workflow. */
export interface LeaseOutcome {
  /** False when the deployment must not run (superseded by a newer request, or already finished). */
  proceed: boolean;
  /** Live stack when the lease was taken: traffic's way back on failure, drained on success. */
  fromStackId?: string;
  /** Stack this deployment creates. */
  toStackId?: string;
}

/**
 * Takes the environment's lease for this deployment. A queued deployment that a newer request has
 * overtaken ends `superseded` instead (newest wins). A lease whose holder's workflow is no longer
 * running is reclaimed; a live holder makes this throw LeaseHeldError, which the workflow retries.
 */
export async function acquireLease(ports: RequestPorts, input: WorkflowInput): Promise<LeaseOutcome> {
  const { store, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  if (isTerminal(deployment.status)) return { proceed: false };
  const environment = await requireEnvironment(ports, input.environment);
  const now = clock.now().toISOString();
  if (deployment.status === 'queued' && deployment.cancelRequest) {
    await store.updateDeployment(input.environment, deployment.id, { status: 'cancelled', endedAt: now });
    await store.recordStep(input.environment, deployment.id, {
      name: 'Cancelled',
      startedAt: now,
      endedAt: now,
      detail: `cancelled by ${deployment.cancelRequest.by} before it started`,
    });
    return { proceed: false };
  }
  if (deployment.status === 'queued' && environment.generation > deployment.generation) {
    await store.updateDeployment(input.environment, deployment.id, { status: 'superseded', endedAt: now });
    await store.recordStep(input.environment, deployment.id, {
      name: 'Superseded',
      startedAt: now,
      endedAt: now,
      detail: `a newer request (generation ${environment.generation}) replaced it before it started`,
    });
    return { proceed: false };
  }
  await store.recordStep(input.environment, deployment.id, { name: 'AcquireLease', startedAt: now });
  await takeLease(ports, environment, deployment);
  const fromStackId = deployment.fromStackId ?? environment.liveStackId;
  const toStackId =
    deployment.action === 'deploy' ? stackIdFor(environment.name, deployment.generation) : undefined;
  await store.updateDeployment(input.environment, deployment.id, {
    status: 'running',
    startedAt: deployment.startedAt ?? now,
    ...(fromStackId ? { fromStackId } : {}),
    ...(toStackId ? { toStackId } : {}),
  });
  await store.updateObservedState(input.environment, {
    status: deployment.action === 'deploy' ? 'deploying' : 'deleting',
  });
  await store.recordStep(input.environment, deployment.id, {
    name: 'AcquireLease',
    startedAt: now,
    endedAt: clock.now().toISOString(),
  });
  return { proceed: true, ...(fromStackId ? { fromStackId } : {}), ...(toStackId ? { toStackId } : {}) };
}

async function takeLease(
  ports: RequestPorts,
  environment: Environment,
  deployment: Deployment,
): Promise<void> {
  const lease = { holder: deployment.id, acquiredAt: ports.clock.now().toISOString() };
  const holder = environment.lease?.holder;
  if (!holder || holder === deployment.id) return ports.store.acquireLease(environment.name, lease);
  const holding = await ports.store.getDeployment(environment.name, holder);
  if (holding && (await ports.workflows.isRunning(holding.action, holder))) {
    throw new LeaseHeldError(`environment ${environment.name} is being changed by deployment ${holder}`);
  }
  await ports.store.acquireLease(environment.name, lease, holder);
  if (holding && !isTerminal(holding.status)) {
    await ports.store.updateDeployment(environment.name, holder, {
      status: 'failed',
      endedAt: ports.clock.now().toISOString(),
      error: {
        name: 'WorkflowLostError',
        message: 'its workflow stopped without finishing; lease reclaimed',
      },
    });
  }
}

/** What ProvisionStack hands to the health wait. */
export interface ProvisionOutcome {
  stackId: string;
  health: HealthProgress;
}

/**
 * Creates the new stack: its record (provisioning), its instances (compute reconciles to capacity)
 * and its targets behind the environment's endpoint at weight 0. Nothing serves from it yet.
 */
export async function provisionStack(ports: Ports, input: WorkflowInput): Promise<ProvisionOutcome> {
  const { store, compute, traffic, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  assertNotCancelled(deployment);
  const spec = requireSpec(deployment);
  const started = clock.now();
  await store.recordStep(input.environment, deployment.id, {
    name: 'ProvisionStack',
    startedAt: started.toISOString(),
  });
  const stack = await store.putStackIfAbsent({
    environment: input.environment,
    stackId: stackIdFor(input.environment, deployment.generation),
    generation: deployment.generation,
    deploymentId: deployment.id,
    spec,
    status: 'provisioning',
    weight: 0,
    instances: [],
    createdAt: started.toISOString(),
    updatedAt: started.toISOString(),
  });
  const instances = await compute.launchStack(
    { environment: input.environment, stackId: stack.stackId, deploymentId: deployment.id },
    spec,
  );
  const endpoint = await traffic.ensureEndpoint(input.environment);
  await store.updateObservedState(input.environment, { endpoint });
  await traffic.registerStack(input.environment, stack.stackId, instances, spec.healthCheck);
  if (JSON.stringify(instances) !== JSON.stringify(stack.instances)) {
    await store.updateStack(input.environment, stack.generation, {
      instances,
      updatedAt: clock.now().toISOString(),
    });
  }
  await store.recordStep(input.environment, deployment.id, {
    name: 'ProvisionStack',
    startedAt: started.toISOString(),
    endedAt: clock.now().toISOString(),
    detail: `${instances.length} instance(s) of ${spec.artifact} ${spec.version}`,
  });
  return {
    stackId: stack.stackId,
    health: {
      consecutive: 0,
      healthy: false,
      deadline: healthDeadline(started, spec.healthCheck),
      waitSeconds: 0,
    },
  };
}

/**
 * One round of the health wait: probes every target of the new stack and folds the result into the
 * consecutive count. Healthy after `healthyThreshold` good rounds in a row; StackNotHealthyError
 * once the deadline passes without that.
 */
export async function checkHealth(
  ports: TrafficPorts,
  input: WorkflowInput & { health: HealthProgress },
): Promise<HealthProgress> {
  const { store, traffic, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  assertNotCancelled(deployment);
  const spec = requireSpec(deployment);
  const stack = await requireStack(ports, input.environment, deployment.generation);
  const now = clock.now();
  await store.recordStep(input.environment, deployment.id, {
    name: 'WaitUntilHealthy',
    startedAt: now.toISOString(),
  });
  const round = await traffic.probeHealth(input.environment, stack.stackId);
  const progress = foldProbeRound(input.health, round, spec.capacity, spec.healthCheck);
  if (progress.healthy) {
    await transitionStack(ports, stack, 'healthy');
    await store.recordStep(input.environment, deployment.id, {
      name: 'WaitUntilHealthy',
      startedAt: now.toISOString(),
      endedAt: clock.now().toISOString(),
      detail: `${progress.consecutive} consecutive healthy rounds`,
    });
  } else if (deadlinePassed(progress, clock.now())) {
    throw new StackNotHealthyError(
      `stack ${stack.stackId} was not healthy within ${spec.healthCheck.deadlineSeconds}s: ${progress.lastFailure ?? 'no healthy rounds'}`,
    );
  }
  return progress;
}

/** Blue/green cutover: one switch of all traffic to the new stack, which must be healthy. */
export async function cutOver(
  ports: TrafficPorts,
  input: WorkflowInput & { lease: LeaseOutcome },
): Promise<void> {
  const { store, traffic, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  assertNotCancelled(deployment);
  const stack = await requireStack(ports, input.environment, deployment.generation);
  if (stack.status !== 'healthy' && stack.status !== 'live') {
    throw new InvalidTransitionError(
      `stack ${stack.stackId} is ${stack.status}: only a healthy stack takes traffic`,
    );
  }
  const started = clock.now().toISOString();
  const weights = blueGreenCutover(stack.stackId, input.lease.fromStackId);
  await traffic.setWeights(input.environment, weights);
  await recordWeights(ports, input.environment, weights);
  await store.recordStep(input.environment, deployment.id, {
    name: 'CutOver',
    startedAt: started,
    endedAt: clock.now().toISOString(),
    detail: Object.entries(weights)
      .map(([id, weight]) => `${id}=${weight}`)
      .join(', '),
  });
}

/** Records the new stack as the environment's live stack. */
export async function markLive(ports: RequestPorts, input: WorkflowInput): Promise<void> {
  const { store, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  const stack = await requireStack(ports, input.environment, deployment.generation);
  const started = clock.now().toISOString();
  await transitionStack(ports, stack, 'live');
  await store.updateObservedState(input.environment, {
    liveStackId: stack.stackId,
    liveGeneration: stack.generation,
    liveSpec: stack.spec,
    status: 'live',
  });
  await store.recordStep(input.environment, deployment.id, {
    name: 'MarkLive',
    startedAt: started,
    endedAt: clock.now().toISOString(),
  });
}

/** Input of the tasks that act on one named stack (the old one, the new one, or each one on teardown). */
export interface StackTaskInput extends WorkflowInput {
  stackId: string;
}

/** Stops new traffic to a stack and lets its in-flight requests finish (bounded by the spec's drainSeconds). */
export async function drainStack(ports: TrafficPorts, input: StackTaskInput): Promise<void> {
  const { store, traffic, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  const stack = await findStack(ports, input.environment, input.stackId);
  if (!stack || stack.status === 'decommissioned' || stack.status === 'failed') return;
  const stepName = `Drain ${stack.stackId}`;
  const started = clock.now().toISOString();
  await store.recordStep(input.environment, deployment.id, { name: stepName, startedAt: started });
  await transitionStack(ports, stack, 'draining', { weight: 0 });
  await traffic.drainStack(input.environment, stack.stackId, stack.spec.drainSeconds);
  await store.recordStep(input.environment, deployment.id, {
    name: stepName,
    startedAt: started,
    endedAt: clock.now().toISOString(),
  });
}

/**
 * Terminates a stack's instances and records its end: `decommissioned` for a replaced or torn-down
 * stack, `failed` for a new stack that never went live. Refuses to remove the environment's live
 * stack unless the environment itself is being torn down (rule: never decommission the last healthy stack).
 */
export async function decommissionStack(
  ports: Ports,
  input: StackTaskInput & { outcome?: Extract<StackStatus, 'decommissioned' | 'failed'>; reason?: string },
): Promise<void> {
  const { store, compute, traffic, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  const environment = await requireEnvironment(ports, input.environment);
  const stack = await findStack(ports, input.environment, input.stackId);
  if (!stack || stack.status === 'decommissioned' || stack.status === 'failed') return;
  if (stack.stackId === environment.liveStackId && deployment.action !== 'teardown') {
    throw new InvalidTransitionError(
      `stack ${stack.stackId} is the live stack of ${environment.name}: not removing it`,
    );
  }
  const stepName = `Decommission ${stack.stackId}`;
  const started = clock.now().toISOString();
  await store.recordStep(input.environment, deployment.id, { name: stepName, startedAt: started });
  await traffic.drainStack(input.environment, stack.stackId, 0);
  await compute.terminateStack(stack.stackId);
  const instances = await compute.describeStack(stack.stackId);
  const outcome = input.outcome ?? 'decommissioned';
  await transitionStack(ports, stack, outcome, {
    weight: 0,
    instances:
      instances.length > 0 ? instances : stack.instances.map((i) => ({ ...i, state: 'terminated' as const })),
    ...(input.reason ? { statusReason: input.reason } : {}),
  });
  await store.recordStep(input.environment, deployment.id, {
    name: stepName,
    startedAt: started,
    endedAt: clock.now().toISOString(),
    detail: outcome,
  });
}

/** Compensation: every request goes back to the old stack (if any) before the new one is removed. */
export async function restoreTraffic(
  ports: TrafficPorts,
  input: WorkflowInput & { lease: LeaseOutcome },
): Promise<void> {
  const { store, traffic, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  const started = clock.now().toISOString();
  const registered = await traffic.getWeights(input.environment);
  const toStackId = input.lease.toStackId ?? stackIdFor(input.environment, deployment.generation);
  const wanted = restoreWeights(toStackId, input.lease.fromStackId);
  const weights = Object.fromEntries(Object.entries(wanted).filter(([stackId]) => stackId in registered));
  if (Object.keys(weights).length > 0) {
    await traffic.setWeights(input.environment, weights);
    await recordWeights(ports, input.environment, weights);
  }
  await store.recordStep(input.environment, deployment.id, {
    name: 'RestoreTraffic',
    startedAt: started,
    endedAt: clock.now().toISOString(),
    detail: input.lease.fromStackId
      ? `all traffic back on ${input.lease.fromStackId}`
      : 'no previous stack to return to',
  });
}

/** The stacks a teardown removes, the live one last so it serves until the end. */
export async function planTeardown(
  ports: RequestPorts,
  input: WorkflowInput,
): Promise<{ stackIds: string[] }> {
  const environment = await requireEnvironment(ports, input.environment);
  const running = stacksStillRunning(await ports.store.listStacks(input.environment));
  const ordered = [
    ...running.filter((s) => s.stackId !== environment.liveStackId),
    ...running.filter((s) => s.stackId === environment.liveStackId),
  ];
  return { stackIds: ordered.map((s) => s.stackId) };
}

/** Removes the environment's endpoint once no stack is left behind it. */
export async function removeEndpoint(ports: TrafficPorts, input: WorkflowInput): Promise<void> {
  await ports.traffic.removeEndpoint(input.environment);
  await ports.store.updateObservedState(input.environment, { endpoint: null });
}

/** The error a Catch hands on: `{ Error, Cause }` as Step Functions records it. */
export interface CaughtError {
  Error: string;
  Cause?: string;
}

/**
 * Records the deployment's outcome, settles the environment's status and releases the lease.
 * `error` is the failure that sent the workflow down its compensation path; `cleanupError` a failure
 * of cleanup itself (removing the old stack after cutover, or compensating), recorded as a warning.
 */
export async function finishDeployment(
  ports: RequestPorts,
  input: WorkflowInput & { lease?: LeaseOutcome; error?: CaughtError; cleanupError?: CaughtError },
): Promise<{ status: Deployment['status'] }> {
  const { store, clock } = ports;
  const deployment = await requireDeployment(ports, input);
  const environment = await requireEnvironment(ports, input.environment);
  const now = clock.now().toISOString();
  const error = input.error ? describeCaught(input.error) : undefined;
  const status = isTerminal(deployment.status)
    ? deployment.status
    : outcomeOf(deployment, input.lease, error);
  const warnings = [
    ...(input.cleanupError ? [`cleanup failed: ${describeCaught(input.cleanupError).message}`] : []),
    ...(deployment.cancelRequest && status === 'succeeded'
      ? [
          `cancel requested at ${deployment.cancelRequest.at} came after the cutover: the deployment completed`,
        ]
      : []),
  ];
  // Only the lease holder settles the environment: a request that never started leaves it to the one running.
  if (deployment.status === 'running') {
    await store.updateObservedState(
      input.environment,
      settledEnvironment(deployment, environment, status, now),
    );
  }
  await store.releaseLease(input.environment, deployment.id);
  await store.appendAudit({
    environment: input.environment,
    at: now,
    actor: 'kiln',
    action: `${deployment.action}.${status}`,
    detail: {
      deploymentId: deployment.id,
      generation: deployment.generation,
      ...(error ? { error: error.message } : {}),
    },
  });
  await store.recordStep(input.environment, deployment.id, {
    name: 'FinishDeployment',
    startedAt: now,
    endedAt: clock.now().toISOString(),
    detail: status,
  });
  // Last: once the record says it is finished, everything about it is recorded.
  await store.updateDeployment(input.environment, deployment.id, {
    status,
    endedAt: deployment.endedAt ?? now,
    ...(error ? { error } : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  });
  return { status };
}

/** succeeded, or after an error: cancelled (the cancel signal), rolled_back or failed. */
function outcomeOf(
  deployment: Deployment,
  lease: LeaseOutcome | undefined,
  error: DeploymentError | undefined,
): Deployment['status'] {
  if (!error) return 'succeeded';
  if (deployment.action === 'teardown') return 'failed';
  if (error.name === DeploymentCancelledError.name) return 'cancelled';
  return failureOutcome(Boolean(lease?.fromStackId));
}

function settledEnvironment(
  deployment: Deployment,
  environment: Environment,
  status: Deployment['status'],
  now: string,
): Parameters<Ports['store']['updateObservedState']>[1] {
  if (deployment.action === 'teardown') {
    return status === 'succeeded'
      ? { status: 'deleted', deletedAt: now, liveStackId: null, liveGeneration: null, liveSpec: null }
      : { status: 'deleting' };
  }
  if (environment.liveStackId) return { status: 'live' };
  return { status: status === 'cancelled' ? 'pending' : 'failed' };
}

/** Turns a Catch's `{Error, Cause}` (Cause may be a Lambda error JSON) into a readable error. */
export function describeCaught(caught: CaughtError): DeploymentError {
  let message = caught.Cause ?? caught.Error;
  try {
    const parsed = JSON.parse(message) as { errorMessage?: string };
    if (typeof parsed.errorMessage === 'string') message = parsed.errorMessage;
  } catch {
    // Cause was plain text already.
  }
  return { name: caught.Error, message };
}

async function recordWeights(
  ports: Pick<Ports, 'store' | 'clock'>,
  environment: string,
  weights: Record<string, number>,
): Promise<void> {
  const stacks = await ports.store.listStacks(environment);
  for (const stack of stacks) {
    const weight = weights[stack.stackId];
    if (weight !== undefined && weight !== stack.weight) {
      await ports.store.updateStack(environment, stack.generation, {
        weight,
        updatedAt: ports.clock.now().toISOString(),
      });
    }
  }
}

async function transitionStack(
  ports: Pick<Ports, 'store' | 'clock'>,
  stack: Stack,
  to: StackStatus,
  change: Partial<Pick<Stack, 'weight' | 'instances' | 'statusReason'>> = {},
): Promise<void> {
  assertStackTransition(stack.stackId, stack.status, to);
  const unchanged =
    stack.status === to &&
    Object.entries(change).every(
      ([field, value]) => JSON.stringify(stack[field as keyof Stack]) === JSON.stringify(value),
    );
  if (unchanged) return;
  await ports.store.updateStack(stack.environment, stack.generation, {
    status: to,
    ...change,
    updatedAt: ports.clock.now().toISOString(),
  });
}

/** The cancel signal: checked at every phase boundary before the cutover, never after it. */
function assertNotCancelled(deployment: Deployment): void {
  if (deployment.cancelRequest) {
    throw new DeploymentCancelledError(
      `deployment ${deployment.id} was cancelled by ${deployment.cancelRequest.by} at ${deployment.cancelRequest.at}`,
    );
  }
}

async function requireDeployment(ports: Pick<Ports, 'store'>, input: WorkflowInput): Promise<Deployment> {
  const deployment = await ports.store.getDeployment(input.environment, input.deploymentId);
  if (!deployment)
    throw new NotFoundError(`deployment ${input.deploymentId} of ${input.environment} does not exist`);
  return deployment;
}

async function requireEnvironment(ports: Pick<Ports, 'store'>, name: string): Promise<Environment> {
  const environment = await ports.store.getEnvironment(name);
  if (!environment) throw new NotFoundError(`environment ${name} does not exist`);
  return environment;
}

async function requireStack(
  ports: Pick<Ports, 'store'>,
  environment: string,
  generation: number,
): Promise<Stack> {
  const stack = await ports.store.getStack(environment, generation);
  if (!stack) throw new NotFoundError(`stack ${stackIdFor(environment, generation)} does not exist`);
  return stack;
}

async function findStack(
  ports: Pick<Ports, 'store'>,
  environment: string,
  stackId: string,
): Promise<Stack | undefined> {
  const generation = generationOf(stackId);
  return generation === undefined ? undefined : ports.store.getStack(environment, generation);
}

function requireSpec(deployment: Deployment): Spec {
  if (!deployment.spec) throw new InvalidTransitionError(`deployment ${deployment.id} has no spec to deploy`);
  return deployment.spec;
}
