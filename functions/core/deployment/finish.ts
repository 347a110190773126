import { isTerminal } from '../deployment-lifecycle.ts';
import { ApprovalRejectedError, DeploymentCancelledError, FrozenError } from '../errors.ts';
import { isActivity, upkeepDue } from '../idle.ts';
import { deploymentStatusChanged, environmentStatusChanged } from '../lifecycle-events.ts';
import type { AnnouncePorts } from '../ports/index.ts';
import type { ObservedStateChange } from '../ports/state-store.ts';
import type { WorkflowInput } from '../ports/workflows.ts';
import type { Deployment, DeploymentError, DeploymentStatus, Environment } from '../types.ts';
import { loadTask, newStackIdOf, recordStep } from './context.ts';

/** The error a Catch hands on: `{ Error, Cause }` as Step Functions records it. */
export interface CaughtError {
  Error: string;
  Cause?: string;
}

/** What FinishDeployment tells the workflow, and so what the execution's output carries. */
export interface FinishOutcome {
  status: DeploymentStatus;
  /**
   * Something Kiln created may be left behind: a cleanup step failed, or a teardown did. Only then does
   * the execution end in its Fail state, so that the failed-executions alarm means "an operator is
   * needed", never "a deployment was rolled back as designed".
   */
  cleanupFailed: boolean;
}

/**
 * Records the deployment's outcome, settles the environment and releases the lease, then appends the
 * outcome to the audit trail. The outcome is reconciled with what is recorded, not assumed from the path
 * taken: a deployment whose new stack is live succeeded, whatever failed after. Three writes: the
 * environment (lease released, status settled, only if this deployment still holds the lease), the
 * deployment (last but one: once it says finished, the environment is settled) and the audit event
 * (keyed by the deployment and its outcome, so a rerun adds nothing).
 */
export async function finishDeployment(
  ports: AnnouncePorts,
  input: WorkflowInput & { error?: CaughtError; cleanupError?: CaughtError },
): Promise<FinishOutcome> {
  const { store, clock } = ports;
  const context = await loadTask(ports, input);
  const { environment } = context;
  let { deployment } = context;
  /** The environment's status as this deployment settled it, when it held the lease to do so. */
  let settledStatus: Environment['status'] | null | undefined;
  const error = input.error ? describeCaught(input.error) : undefined;
  const cleanupError = input.cleanupError ? describeCaught(input.cleanupError) : undefined;
  if (!isTerminal(deployment.status)) {
    const now = clock.now().toISOString();
    const status = outcomeOf(deployment, environment, error);
    const lateError = status === 'succeeded' && error;
    const warnings = [
      ...(deployment.warnings ?? []),
      ...(lateError ? [`${error.name} after the new stack went live: ${error.message}`] : []),
      ...(cleanupError ? [`cleanup failed: ${cleanupError.message}`] : []),
      ...(deployment.cancelRequest && status === 'succeeded'
        ? [
            `cancel requested at ${deployment.cancelRequest.at} came after the cutover: the deployment completed`,
          ]
        : []),
    ];
    if (deployment.status === 'running') {
      const settled = await settledEnvironment(deployment, environment, status, now);
      if (await store.releaseLease(input.environment, deployment.id, settled)) settledStatus = settled.status;
    } else if (!environment.lease) {
      // It never ran (rejected, expired while waiting for approval): the upkeep its request put off is due again.
      await store.updateObservedState(input.environment, { upkeepDue: await upkeepDue(environment) });
    }
    deployment = await recordStep(
      ports,
      context,
      { name: 'FinishDeployment', detail: status },
      {
        status,
        endedAt: deployment.endedAt ?? now,
        ...(error && !lateError ? { error } : {}),
        ...(warnings.length > 0 ? { warnings } : {}),
      },
    );
  }
  // A rerun announces the outcome again (same id); the environment's status only when it settled it now.
  await ports.events.publish([
    ...(settledStatus ? [environmentStatusChanged(environment, settledStatus, deployment)] : []),
    deploymentStatusChanged(deployment, environment),
  ]);
  await store.appendAudit({
    id: `${deployment.id}:${deployment.action}.${deployment.status}`,
    environment: input.environment,
    at: deployment.endedAt ?? context.startedAt,
    actor: 'kiln',
    trigger: deployment.trigger,
    action: `${deployment.action}.${deployment.status}`,
    detail: {
      deploymentId: deployment.id,
      generation: deployment.generation,
      ...(deployment.error ? { error: deployment.error.message } : {}),
    },
  });
  return {
    status: deployment.status,
    cleanupFailed:
      cleanupError !== undefined || (deployment.action !== 'deploy' && deployment.status === 'failed'),
  };
}

/**
 * Without an error, `succeeded`. After one: a deploy whose new stack is nonetheless the live one
 * succeeded (the error came after the point of no return); a cancelled one is `cancelled`; one that
 * returned traffic to a previous stack is `rolled_back`; with nothing to return to, `failed`.
 */
function outcomeOf(
  deployment: Deployment,
  environment: Environment,
  error: DeploymentError | undefined,
): DeploymentStatus {
  if (!error) return 'succeeded';
  if (deployment.status === 'awaiting_approval') {
    if (error.name === ApprovalRejectedError.name) return 'rejected';
    if (error.name === 'States.Timeout') return 'expired';
    if (error.name === DeploymentCancelledError.name) return 'cancelled';
  }
  if (deployment.action !== 'deploy') return 'failed';
  if (environment.liveStackId === newStackIdOf(deployment)) return 'succeeded';
  // Refused by a freeze that began after it was accepted: it never ran, as if cancelled.
  if (error.name === DeploymentCancelledError.name || error.name === FrozenError.name) return 'cancelled';
  return deployment.fromStackId ? 'rolled_back' : 'failed';
}

async function settledEnvironment(
  deployment: Deployment,
  environment: Environment,
  status: DeploymentStatus,
  now: string,
): Promise<ObservedStateChange> {
  if (deployment.action === 'teardown') {
    return status === 'succeeded'
      ? {
          status: 'deleted',
          deletedAt: now,
          liveStackId: null,
          liveGeneration: null,
          liveSpec: null,
          standby: null,
          previousSpec: null,
        }
      : { status: 'deleting' };
  }
  if (deployment.action === 'sleep' && status === 'succeeded') {
    return withUpkeep(environment, {
      status: 'sleeping',
      sleepingSince: now,
      sleptSpec: environment.liveSpec ?? environment.sleptSpec ?? null,
      liveStackId: null,
      liveGeneration: null,
      liveSpec: null,
      standby: null,
    });
  }
  if (environment.liveStackId) {
    // A deployment is activity; one that put a new stack live (a wake too) starts a new awake period.
    const woke = deployment.action === 'deploy' && environment.liveStackId === newStackIdOf(deployment);
    const retired = deployment.action === 'retire' && status === 'succeeded';
    return withUpkeep(environment, {
      status: 'live',
      ...(retired ? { standby: null } : {}),
      ...(isActivity(deployment.action, deployment.trigger) ? { lastActivityAt: now } : {}),
      ...(woke ? { awakeSince: now, sleptSpec: null, sleepingSince: null } : {}),
    });
  }
  // Nothing live: an environment that was asleep still is (a wake that failed can be tried again).
  if (environment.sleptSpec) return withUpkeep(environment, { status: 'sleeping' });
  return { status: status === 'cancelled' ? 'pending' : 'failed' };
}

/** `change` with the upkeep then due, computed from the environment as the change (lease released) leaves it. */
async function withUpkeep(
  environment: Environment,
  change: ObservedStateChange,
): Promise<ObservedStateChange> {
  const after: Environment = { ...environment };
  delete after.lease;
  for (const [field, value] of Object.entries(change)) {
    (after as unknown as Record<string, unknown>)[field] = value ?? undefined;
  }
  return { ...change, upkeepDue: await upkeepDue(after) };
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
