import { isTerminal } from '../deployment-lifecycle.ts';
import { LeaseHeldError, VersionConflictError } from '../errors.ts';
import { deploymentStatusChanged, environmentStatusChanged } from '../lifecycle-events.ts';
import type { RequestPorts } from '../ports/index.ts';
import type { DeploymentChange } from '../ports/state-store.ts';
import { type WorkflowInput, workflowOf } from '../ports/workflows.ts';
import { rollbackWindowOf } from '../rollback-window.ts';
import { stackIdFor } from '../spec.ts';
import type { Deployment, Environment } from '../types.ts';
import { loadTask, recordStep, type TaskContext } from './context.ts';

/** What AcquireLease tells the workflow. */
export interface LeaseOutcome {
  /** False when the deployment must not run (superseded by a newer request, cancelled, or already finished). */
  proceed: boolean;
  /** Live stack when the lease was taken: traffic's way back on failure, drained on success. */
  fromStackId?: string;
  /** Stack this deployment creates, or (a warm rollback) the standby stack it makes live again. */
  toStackId?: string;
  /** A warm rollback: the new stack is the environment's standby, already running; nothing is provisioned. */
  warm?: boolean;
  /** After the cutover the replaced stack stays warm (standby) for the environment's rollback window. */
  keepWarm?: boolean;
  /**
   * Drained and decommissioned once the new stack is live: the replaced stack, or, when that one is kept
   * warm, the standby it replaces as such.
   */
  retireStackId?: string;
}

/**
 * Takes the environment's lease for this deployment. A queued deployment that a newer request has
 * overtaken ends `superseded` instead (newest wins); one asked to cancel ends `cancelled`. A lease whose
 * holder's workflow is no longer running is reclaimed; a live holder makes this throw LeaseHeldError,
 * which the workflow retries. Two writes: the lease (with the environment's status), then the
 * deployment (running, with its step).
 */
export async function acquireLease(ports: RequestPorts, input: WorkflowInput): Promise<LeaseOutcome> {
  const context = await loadTask(ports, input);
  const { deployment, environment } = context;
  if (isTerminal(deployment.status)) return { proceed: false };
  // Not started yet: queued, or approved after waiting for approval.
  const waiting = deployment.status === 'queued' || deployment.status === 'awaiting_approval';
  if (waiting && deployment.cancelRequest) {
    const cancelled = await recordStep(
      ports,
      context,
      { name: 'Cancelled', detail: `cancelled by ${deployment.cancelRequest.by} before it started` },
      { status: 'cancelled', endedAt: context.startedAt },
    );
    await ports.events.publish([deploymentStatusChanged(cancelled, environment)]);
    return { proceed: false };
  }
  if (waiting && environment.generation > deployment.generation) {
    const superseded = await recordStep(
      ports,
      context,
      {
        name: 'Superseded',
        detail: `a newer request (generation ${environment.generation}) replaced it before it started`,
      },
      { status: 'superseded', endedAt: context.startedAt },
    );
    await ports.events.publish([deploymentStatusChanged(superseded, environment)]);
    return { proceed: false };
  }
  await takeLease(ports, environment, deployment);
  const fromStackId = deployment.fromStackId ?? environment.liveStackId;
  const toStackId =
    deployment.action === 'deploy'
      ? (deployment.toStackId ?? stackIdFor(environment.name, deployment.generation))
      : undefined;
  const stacks = { ...(fromStackId ? { fromStackId } : {}), ...(toStackId ? { toStackId } : {}) };
  const running =
    deployment.status === 'running'
      ? deployment
      : await startRunning(ports, context, { status: 'running', startedAt: context.startedAt, ...stacks });
  if (!running) return { proceed: false };
  // Also on a rerun: the same events again (same ids), in case the run before stopped before announcing.
  await ports.events.publish([
    environmentStatusChanged(environment, leasedStatus(deployment, environment), running),
    deploymentStatusChanged(running, environment),
  ]);
  return { proceed: true, ...stacks, ...afterCutover(deployment, environment, fromStackId, toStackId) };
}

/**
 * Marks the deployment running, only while it still waits to start (one conditional write): a wake may
 * have called off a queued sleep meanwhile (requests.ts requestWake). Then the lease just taken goes back
 * as it was, and undefined says the deployment must not run. A concurrent run of this same task that got
 * there first is not a call-off: its record is the one to go on with.
 */
async function startRunning(
  ports: RequestPorts,
  context: TaskContext,
  change: DeploymentChange,
): Promise<Deployment | undefined> {
  const { deployment, environment } = context;
  try {
    return await recordStep(ports, context, { name: 'AcquireLease' }, change, deployment.status);
  } catch (error) {
    if (!(error instanceof VersionConflictError)) throw error;
    const now = await ports.store.getDeployment(environment.name, deployment.id);
    if (now?.status === 'running') return now;
    await ports.store.releaseLease(environment.name, deployment.id, {
      status: environment.status,
      upkeepDue: environment.upkeepDue ?? null,
    });
    return undefined;
  }
}

/**
 * What becomes of the replaced stack once the new one is live. With a rollback window (and not for a
 * rollback or a drift repair, which replace a stack known bad) it stays warm, and the standby it
 * replaces as such is retired; otherwise it is retired itself (an older standby keeps its own window).
 */
function afterCutover(
  deployment: Deployment,
  environment: Environment,
  fromStackId: string | undefined,
  toStackId: string | undefined,
): Pick<LeaseOutcome, 'warm' | 'keepWarm' | 'retireStackId'> {
  if (deployment.action !== 'deploy' || !toStackId) return {};
  const warm = toStackId !== stackIdFor(environment.name, deployment.generation);
  const keepWarm =
    fromStackId !== undefined &&
    rollbackWindowOf(environment) > 0 &&
    deployment.trigger !== 'rollback' &&
    deployment.trigger !== 'drift-repair';
  const earlierStandby = environment.standby?.stackId;
  const retireStackId = keepWarm ? (earlierStandby !== toStackId ? earlierStandby : undefined) : fromStackId;
  return { ...(warm ? { warm } : {}), keepWarm, ...(retireStackId ? { retireStackId } : {}) };
}

/** What the environment is while a deployment holds its lease. */
function leasedStatus(deployment: Deployment, environment: Environment): Environment['status'] {
  if (deployment.action === 'teardown') return 'deleting';
  if (deployment.action === 'sleep') return 'sleeping';
  // Retiring a standby changes nothing that serves.
  if (deployment.action === 'retire') return environment.status;
  // Any deployment of an environment asleep wakes it (a wake, a push, a new version).
  const asleep = environment.status === 'sleeping' || environment.status === 'waking';
  return deployment.trigger === 'wake' || asleep ? 'waking' : 'deploying';
}

async function takeLease(
  ports: RequestPorts,
  environment: Environment,
  deployment: Deployment,
): Promise<void> {
  const lease = { holder: deployment.id, acquiredAt: ports.clock.now().toISOString() };
  // While changed, nothing is due: the upkeep index drops it until the change settles.
  const change = { status: leasedStatus(deployment, environment), upkeepDue: null };
  const holder = environment.lease?.holder;
  if (!holder || holder === deployment.id) {
    return ports.store.acquireLease(environment.name, lease, undefined, change);
  }
  const holding = await ports.store.getDeployment(environment.name, holder);
  if (holding && (await ports.workflows.isRunning(workflowOf(holding.action), holder))) {
    throw new LeaseHeldError(`environment ${environment.name} is being changed by deployment ${holder}`);
  }
  await ports.store.acquireLease(environment.name, lease, holder, change);
  if (holding && !isTerminal(holding.status)) {
    const lost = await ports.store.updateDeployment(environment.name, holder, {
      status: 'failed',
      endedAt: ports.clock.now().toISOString(),
      error: {
        name: 'WorkflowLostError',
        message: 'its workflow stopped without finishing; lease reclaimed',
      },
    });
    await ports.events.publish([deploymentStatusChanged(lost, environment)]);
  }
}
