import { type Action, type Actor, authorize } from './actors.ts';
import { answerOf } from './deployment/approval.ts';
import { isTerminal } from './deployment-lifecycle.ts';
import {
  ConflictError,
  ForbiddenError,
  FrozenError,
  NotFoundError,
  ValidationError,
  VersionConflictError,
} from './errors.ts';
import {
  type ActiveFreeze,
  activeFreezes,
  type FreezeVerdict,
  frozenError,
  isFreezable,
  nothingToBreak,
  verdictOf,
} from './freezes.ts';
import { isActivity, upkeepDue } from './idle.ts';
import { newDeploymentId } from './ids.ts';
import {
  breakGlassUsed,
  deploymentApproved,
  deploymentStatusChanged,
  environmentStatusChanged,
  type LifecycleEvent,
} from './lifecycle-events.ts';
import type { Ports, RequestPorts } from './ports/index.ts';
import type { DesiredStateChange } from './ports/state-store.ts';
import { type TaskAnswer, workflowOf } from './ports/workflows.ts';
import type { Push, PushOutcome, SourceBinding, SourceHead } from './pushes.ts';
import { assessRisk, RISK_POLICY } from './risk.ts';
import { openStandby } from './rollback-window.ts';
import { generationOf, specsEqual } from './spec.ts';
import type {
  Deployment,
  DeploymentAction,
  Environment,
  IdlePolicy,
  Resource,
  Spec,
  Tier,
  UpkeepDue,
} from './types.ts';

/**
 * What people (through the REST API), Git pushes and schedules ask of Kiln. Every command takes the
 * Actor that causes it, authorises it, and records it on what it writes. Each request is one
 * conditional write of the environment's desired state (optimistic lock on `version`), then the
 * deployment record, its lifecycle event, then the workflow start: a client retrying after a failure in
 * between re-creates what is missing (see `deploymentNeeded`).
 */

export interface EnvironmentRequest {
  name: string;
  team: string;
  tier: Tier;
  spec: Spec;
  /** Its idle policy (absent: the tier's default; a PUT replaces it as it replaces the rest). */
  idle?: IdlePolicy;
  /** Its rollback window in seconds (absent: the tier's default). */
  rollbackWindowSeconds?: number;
  /** What it depends on, for the risk policy. */
  resources?: Resource[];
  /** The branch it follows (absent: none; a PUT replaces the binding as it replaces the rest). */
  source?: SourceBinding;
  /** Set when a push creates a preview environment: its template and the push it follows. */
  preview?: { template: string; sourceHead: SourceHead };
  /** Passes the freezes covering the environment now, with why (see freezes.ts). */
  breakGlass?: { reason: string };
}

export interface Accepted {
  environment: Environment;
  /** The deployment moving the environment toward its desired state, if one is queued or running. */
  deploymentId?: string;
  created: boolean;
}

/**
 * How a request without If-Match waits before it re-reads and tries again after a concurrent writer
 * won: exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and
 * Jitter"). Before retry n (1, 2, ...) it sleeps a uniformly random time in
 * [0, min(capMs, baseMs * 2^(n-1))).
 *
 * - baseMs 10: an attempt is two reads and a conditional write, a few milliseconds on DynamoDB; a
 *   writer that lost to one other writer is usually through on its first or second retry.
 * - capMs 1000: the windows double until they can hold the contention. Writers collide only when
 *   their read-to-write spans overlap, so n writers need windows of about n spans: 50 writers at
 *   10-20 ms each need 0.5-1 s. A longer cap only makes the unlucky wait longer.
 * - budgetMs 20000: no retry starts later than 20 s after the first attempt, leaving 9 s of API
 *   Gateway's 29 s integration timeout for that last attempt (write the deployment, start the
 *   workflow). maxAttempts 40 bounds the retries independently of the clock (40 capped sleeps
 *   average 20 s). A request that still loses is answered 409 and asked to send the request again.
 *
 * Measured embedded on a shared, busy 2-core machine: 50 concurrent PUTs of one environment all
 * succeed within 6-12 s (~8 attempts each on average, 13 at most), against 4.5 s for the same 50
 * PUTs one after another: the store's throughput is the limit more than the backoff. 20 concurrent
 * POSTs of deployments: 2-3 s.
 */
export const CONFLICT_BACKOFF: ConflictBackoff = {
  baseMs: 10,
  capMs: 1000,
  budgetMs: 20_000,
  maxAttempts: 40,
};

export interface ConflictBackoff {
  baseMs: number;
  capMs: number;
  budgetMs: number;
  maxAttempts: number;
}

/** Time and chance for retryOnConflict; tests pass their own. */
export interface BackoffEnvironment {
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1). */
  random(): number;
  /** Milliseconds on a monotonic clock. */
  now(): number;
}

const realTime: BackoffEnvironment = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  random: Math.random,
  now: () => performance.now(),
};

/** PUT /environments/{name}: create or replace the desired state, deploying when it differs from what is live. */
export async function putEnvironment(
  ports: RequestPorts,
  actor: Actor,
  request: EnvironmentRequest,
  ifMatch?: number,
): Promise<Accepted> {
  if (actor.team !== undefined && request.team !== actor.team) {
    throw new ForbiddenError(
      `cannot manage an environment for team ${request.team}: you act for ${actor.team}`,
    );
  }
  // Whoever creates the record answers 201, also when a concurrent writer made it retry after that.
  let created = false;
  const accepted = await retryOnConflict(ifMatch, async () => {
    let existing = await ports.store.getEnvironment(request.name);
    if (!existing) {
      // Refused by a freeze before the record is made: a refused request leaves nothing behind.
      await freezeVerdict(ports, actor, request, { action: 'deploy', ...request }, ports.clock.now());
      existing = await createEnvironment(ports, actor, request, ifMatch);
      created = true;
    }
    authorize(actor, 'environment:change', existing);
    assertVersion(existing, ifMatch);
    const inFlight = await inFlightDeployment(ports, existing);
    const revived = existing.status === 'deleted';
    if (!deploymentNeeded(existing, request.spec, inFlight) && !revived) {
      const unchanged =
        existing.tier === request.tier &&
        specsEqual(existing.spec, request.spec) &&
        sameSource(existing.source, request.source) &&
        sameIdlePolicy(existing.idle, request.idle) &&
        existing.rollbackWindowSeconds === request.rollbackWindowSeconds &&
        JSON.stringify(existing.resources ?? []) === JSON.stringify(request.resources ?? []);
      const now = ports.clock.now().toISOString();
      const environment = unchanged
        ? existing
        : await ports.store.updateDesiredState(existing.name, existing.version, {
            tier: request.tier,
            spec: request.spec,
            source: request.source ?? null,
            idle: request.idle ?? null,
            rollbackWindowSeconds: request.rollbackWindowSeconds ?? null,
            resources: request.resources ?? null,
            ...(await activity(existing, { tier: request.tier, idle: request.idle }, now)),
            updatedAt: now,
          });
      return { environment, deploymentId: inFlight?.id, created: false };
    }
    const firstDeployment = existing.generation === 0 && existing.latestDeploymentId === undefined;
    return startDeployment(ports, actor, existing, {
      action: 'deploy',
      spec: request.spec,
      tier: request.tier,
      idle: request.idle ?? null,
      rollbackWindowSeconds: request.rollbackWindowSeconds ?? null,
      resources: request.resources ?? null,
      source: request.source ?? null,
      ...(request.preview ? { sourceHead: request.preview.sourceHead } : {}),
      ...(request.breakGlass ? { breakGlass: request.breakGlass } : {}),
      reason: revived
        ? 'environment re-created'
        : firstDeployment
          ? 'environment created'
          : 'desired spec changed',
    });
  });
  return { ...accepted, created };
}

/** What a push did to an environment it is bound to (see ingestion.ts). */
export interface PushDecision {
  outcome: Extract<PushOutcome, 'deployed' | 'stale' | 'ignored'>;
  reason?: string;
  deploymentId?: string;
}

/**
 * A push to the branch an environment follows: deploys the pushed commit, unless the environment
 * already follows a newer push (by head commit time; a force-push may go back in time) or this very
 * commit. Decided and applied in one conditional write of the desired state, which also records the
 * push as the environment's source head, so concurrent writers cannot interleave. Applying the same
 * delivery again (a crash after the write) finds it applied and answers with its deployment.
 */
export async function deployPushedCommit(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  push: Push,
): Promise<PushDecision> {
  return retryOnConflict(undefined, async (): Promise<PushDecision> => {
    const environment = await ports.store.getEnvironment(name);
    if (!environment) return { outcome: 'ignored', reason: `environment ${name} no longer exists` };
    const head = environment.sourceHead;
    if (head?.deliveryId === push.deliveryId) {
      return {
        outcome: 'deployed',
        ...(environment.latestDeploymentId ? { deploymentId: environment.latestDeploymentId } : {}),
      };
    }
    if (environment.status === 'deleted' || environment.status === 'deleting') {
      return { outcome: 'ignored', reason: `environment ${name} is ${environment.status}` };
    }
    if (head && head.commit === push.commit)
      return { outcome: 'stale', reason: `it already follows ${push.commit}` };
    if (environment.liveSpec?.version === push.commit) {
      return { outcome: 'stale', reason: `${push.commit} is already live` };
    }
    if (head && !push.forced && Date.parse(push.committedAt) < Date.parse(head.committedAt)) {
      return {
        outcome: 'stale',
        reason: `it already follows ${head.commit}, committed ${head.committedAt}, after this one (${push.committedAt})`,
      };
    }
    let accepted: Accepted;
    try {
      accepted = await startDeployment(ports, actor, environment, {
        action: 'deploy',
        spec: { ...environment.spec, version: push.commit },
        sourceHead: { commit: push.commit, committedAt: push.committedAt, deliveryId: push.deliveryId },
        reason: `push of ${push.commit.slice(0, 12)} to ${push.branch} by ${push.pusher}`,
      });
    } catch (error) {
      // A refusing freeze: the push is recorded as ignored, with the freeze that refused it.
      if (error instanceof FrozenError) return { outcome: 'ignored', reason: error.message };
      throw error;
    }
    return { outcome: 'deployed', ...(accepted.deploymentId ? { deploymentId: accepted.deploymentId } : {}) };
  });
}

/** POST /environments/{name}/deployments: deploy a version (or redeploy the current spec). */
export async function requestDeployment(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  request: { version?: string; reason?: string; breakGlass?: { reason: string } },
  ifMatch?: number,
): Promise<Accepted> {
  return retryOnConflict(ifMatch, async () => {
    const existing = await ownedEnvironment(ports, actor, name);
    assertVersion(existing, ifMatch);
    if (existing.status === 'deleted' || existing.status === 'deleting') {
      throw new ConflictError(`environment ${name} is ${existing.status}: PUT it to create it again`);
    }
    const spec = request.version ? { ...existing.spec, version: request.version } : existing.spec;
    return startDeployment(ports, actor, existing, {
      action: 'deploy',
      spec,
      reason: request.reason ?? (request.version ? `deploy version ${request.version}` : 'redeploy'),
      ...(request.breakGlass ? { breakGlass: request.breakGlass } : {}),
    });
  });
}

/** DELETE /environments/{name}: tear everything down, keep the history. Repeating it is a no-op. */
export async function deleteEnvironment(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  ifMatch?: number,
): Promise<Accepted> {
  return retryOnConflict(ifMatch, async () => {
    const existing = await ownedEnvironment(ports, actor, name);
    assertVersion(existing, ifMatch);
    const inFlight = await inFlightDeployment(ports, existing);
    if (existing.status === 'deleted' || inFlight?.action === 'teardown') {
      return { environment: existing, deploymentId: inFlight?.id, created: false };
    }
    return startDeployment(ports, actor, existing, { action: 'teardown', reason: 'environment deleted' });
  });
}

/**
 * POST /environments/{name}/sleep, and the idle sweep: drains and decommissions every stack, keeps the
 * endpoint (a request to it wakes the environment) and the spec that was live. An environment already
 * asleep (or going to sleep) is left as it is; one with nothing live cannot sleep.
 */
export async function requestSleep(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  reason: string,
): Promise<Accepted> {
  return retryOnConflict(undefined, async () => {
    const environment = await ownedEnvironment(ports, actor, name);
    const inFlight = await inFlightDeployment(ports, environment);
    if (inFlight?.action === 'sleep' || (environment.status === 'sleeping' && !inFlight)) {
      return leftAsItIs(environment, inFlight);
    }
    if (!environment.liveStackId && inFlight?.action !== 'deploy') {
      throw new ConflictError(`environment ${name} is ${environment.status}: nothing runs that could sleep`);
    }
    if (inFlight?.action === 'teardown') {
      throw new ConflictError(`environment ${name} is being deleted`);
    }
    return startDeployment(ports, actor, environment, { action: 'sleep', reason });
  });
}

/**
 * POST /environments/{name}/wake, a request to its parked endpoint, a `wakeAt` time: deploys the exact
 * spec that was live when it went to sleep (same version, capacity, env) as a new stack. Idempotent:
 * concurrent wakes make one (whoever loses the conditional write finds the winner's deployment), and an
 * environment awake, or already being woken or deployed, is left as it is. A sleep asked for and not
 * started yet is cancelled instead; one under way is let finish, and the wake runs after it.
 */
export async function requestWake(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  reason: string,
): Promise<Accepted> {
  return retryOnConflict(undefined, async () => {
    const environment = await ownedEnvironment(ports, actor, name);
    const inFlight = await inFlightDeployment(ports, environment);
    if (inFlight?.action === 'sleep' && inFlight.status === 'queued') {
      // Not started yet: called off, rather than a stack torn down and built again. One conditional write
      // against AcquireLease's: if the sleep started meanwhile (VersionConflictError), the next attempt
      // finds it under way and the wake runs after it.
      const at = ports.clock.now().toISOString();
      const cancelled = await ports.store.updateDeployment(
        name,
        inFlight.id,
        {
          status: 'cancelled',
          endedAt: at,
          cancelRequest: { at, by: actor.principal },
          steps: [
            { name: 'Cancelled', startedAt: at, endedAt: at, detail: `called off by a wake: ${reason}` },
          ],
        },
        'queued',
      );
      await ports.store.updateObservedState(name, { upkeepDue: await upkeepDue(environment) });
      await ports.events.publish([deploymentStatusChanged(cancelled, environment)]);
      return leftAsItIs(environment, undefined);
    }
    const asleep = inFlight ? inFlight.action === 'sleep' : environment.status === 'sleeping';
    if (!asleep) return leftAsItIs(environment, inFlight);
    // Going to sleep right now: what it runs is what it will have slept with.
    const spec = environment.sleptSpec ?? environment.liveSpec ?? environment.spec;
    return startDeployment(ports, actor, environment, {
      action: 'deploy',
      spec,
      keepsDesiredSpec: true,
      reason,
    });
  });
}

/** The longest snooze: an environment kept awake longer wants an idle policy of its own. */
const MAX_SNOOZE_MS = 30 * 24 * 3600 * 1000;

/**
 * POST /environments/{name}/snooze: keeps the environment awake until `until` whatever its idle policy
 * says (an API write, so activity too); an environment asleep is woken.
 */
export async function snoozeEnvironment(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  until: string,
): Promise<Accepted> {
  const now = ports.clock.now().toISOString();
  const ahead = Date.parse(until) - Date.parse(now);
  if (!(ahead >= 60_000 && ahead <= MAX_SNOOZE_MS)) {
    const message = `must be from one minute to 30 days after now (${now})`;
    throw new ValidationError(`until ${message}`, [{ path: 'until', message }]);
  }
  until = new Date(until).toISOString();
  const snoozed = await retryOnConflict(undefined, async () => {
    const environment = await ownedEnvironment(ports, actor, name);
    if (environment.status === 'deleted' || environment.status === 'deleting') {
      throw new ConflictError(`environment ${name} is ${environment.status}`);
    }
    return ports.store.updateDesiredState(name, environment.version, {
      snoozedUntil: until,
      ...(await activity(environment, { snoozedUntil: until }, now)),
      updatedAt: now,
    });
  });
  await ports.store.appendAudit({
    id: `${name}:snoozed:${now}`,
    environment: name,
    at: now,
    actor: actor.principal,
    trigger: actor.trigger,
    action: 'environment.snoozed',
    detail: { until },
  });
  if (snoozed.status !== 'sleeping') return { environment: snoozed, created: false };
  return requestWake(ports, actor, name, `snoozed until ${until}`);
}

/** What the idle sweep did with one environment the upkeep index said was due. */
export type UpkeepOutcome =
  /** A sleep (or a wake) was requested: its deployment. */
  | { outcome: 'started'; deploymentId: string }
  /** Requests reached its endpoint since its recorded activity: recorded, and it stays awake. */
  | { outcome: 'active'; lastActivityAt: string }
  /** Not due after all (snoozed, changed, being deployed since the index was read): re-indexed. */
  | { outcome: 'not-due' }
  | { outcome: 'gone' };

/**
 * The idle sweep's step for one environment the upkeep index lists as due (`candidate`, the index's copy).
 * The first attempt trusts that copy: the conditional write on `version` refuses it if the environment has
 * changed since, and only then is it read again. So finding and putting to sleep an idle environment costs
 * one item read, the index's. Before sleeping, the traffic layer is asked whether requests came since its
 * last recorded activity: those count (and are recorded) without a table write per request.
 */
export async function upkeepDueEnvironment(
  ports: RequestPorts & Pick<Ports, 'traffic'>,
  actor: Actor,
  candidate: Environment,
): Promise<UpkeepOutcome> {
  const now = ports.clock.now();
  let known: Environment | undefined = candidate;
  return retryOnConflict(undefined, async (): Promise<UpkeepOutcome> => {
    const environment = known ?? (await ports.store.getEnvironment(candidate.name));
    known = undefined;
    if (!environment || environment.status === 'deleted') return { outcome: 'gone' };
    // The index lists only settled environments; one changed since may have a request queued, which
    // settles it (and its upkeep) when it ends.
    if (environment !== candidate && (await inFlightDeployment(ports, environment))) {
      return { outcome: 'not-due' };
    }
    const due = await upkeepDue(environment);
    if (!due || Date.parse(due.at) > now.getTime()) {
      // The index's copy may be stale: only the environment itself says it is not due (and re-indexes it).
      if (environment === candidate) throw new VersionConflictError('the index copy is not due: read again');
      await ports.store.updateObservedState(environment.name, { upkeepDue: due });
      return { outcome: 'not-due' };
    }
    if (due.action === 'sleep') {
      const since = environment.lastActivityAt ?? environment.createdAt;
      const lastRequestAt = await ports.traffic.lastRequestAt(environment.name, since);
      if (lastRequestAt) {
        const active = { ...environment, lastActivityAt: lastRequestAt };
        const stillDue = await upkeepDue(active);
        await ports.store.updateObservedState(environment.name, {
          lastActivityAt: lastRequestAt,
          upkeepDue: stillDue,
        });
        if (!stillDue || Date.parse(stillDue.at) > now.getTime())
          return { outcome: 'active', lastActivityAt: lastRequestAt };
      }
    }
    const accepted = await startDeployment(
      ports,
      upkeepActor(actor, due),
      environment,
      upkeepPlan(environment, due),
    );
    return { outcome: 'started', deploymentId: accepted.deploymentId as string };
  });
}

function upkeepActor(actor: Actor, due: UpkeepDue): Actor {
  return due.action === 'wake' ? { ...actor, trigger: 'wake' } : actor;
}

/** The deployment an upkeep that is due starts. */
function upkeepPlan(environment: Environment, due: UpkeepDue): DeploymentPlan {
  switch (due.action) {
    case 'sleep':
      return { action: 'sleep', reason: `sleep due at ${due.at} by its idle policy` };
    case 'wake':
      return {
        action: 'deploy',
        spec: environment.sleptSpec ?? environment.spec,
        keepsDesiredSpec: true,
        reason: `wake due at ${due.at} by its wakeAt schedule`,
      };
    case 'retire':
      return {
        action: 'retire',
        reason: `the rollback window of ${environment.standby?.stackId} ended at ${due.at}`,
      };
  }
}

/**
 * POST /environments/{name}/rollback: back to the spec that was live before the live one. Inside the
 * rollback window the previous stack still runs (standby): the rollback is a deployment that only moves
 * traffic and the live stack back to it, then decommissions the stack rolled back from; no
 * provisioning. After the window it is a normal deployment of the previous spec. Either way the
 * desired spec becomes the previous spec (a push or a redeploy then starts from it), and the
 * deployment's trigger is `rollback`. ConflictError, starting nothing, while another deployment is
 * queued or running (cancel it first: a cancelled deployment rolls back by itself), and when there is
 * nothing to return to. Asked again while it runs, it answers the same deployment.
 */
export async function requestRollback(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  reason: string | undefined,
): Promise<Accepted> {
  return retryOnConflict(undefined, async () => {
    const environment = await ownedEnvironment(ports, actor, name);
    const inFlight = await inFlightDeployment(ports, environment);
    if (inFlight?.trigger === 'rollback') return leftAsItIs(environment, inFlight);
    if (inFlight) {
      throw new ConflictError(
        `environment ${name} has ${inFlight.action} ${inFlight.id} ${inFlight.status}: cancel it (a deployment cancelled before its cutover rolls back by itself) or wait for it to end`,
      );
    }
    if (environment.status !== 'live' || !environment.previousSpec) {
      throw new ConflictError(
        `environment ${name} is ${environment.status} with no previous spec: there is nothing to roll back to`,
      );
    }
    const standby = openStandby(environment, ports.clock.now());
    const target = standby
      ? await ports.store.getStack(name, generationOf(standby.stackId) ?? -1)
      : undefined;
    const warm = target?.status === 'standby' ? target : undefined;
    const spec = warm?.spec ?? environment.previousSpec;
    return startDeployment(ports, actor, environment, {
      action: 'deploy',
      spec,
      ...(warm ? { toStackId: warm.stackId } : {}),
      reason:
        reason ??
        (warm
          ? `rollback to version ${spec.version}: back to its warm stack ${warm.stackId}`
          : `rollback to version ${spec.version}: a new stack (the rollback window has ended)`),
    });
  });
}

/**
 * POST /environments/{name}/deployments/{id}/approve and /reject: an approver of the owning team answers
 * a deployment waiting for approval; for prod, not the person who asked for it (two people). The answer
 * is recorded first (one write, conditional on the deployment still waiting: of two approvers answering
 * at once one counts, the other gets 409), then sent to the waiting workflow. Repeating the same answer
 * is a no-op; the workflow goes on (approved) or ends `rejected`.
 */
export async function answerApproval(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  id: string,
  answer: { decision: 'approved' | 'rejected'; comment?: string },
): Promise<Deployment> {
  const environment = await ownedEnvironment(ports, actor, name, 'deployment:approve');
  const deployment = await ports.store.getDeployment(name, id);
  if (!deployment) throw new NotFoundError(`deployment ${id} of ${name} does not exist`);
  const { approval } = deployment;
  if (approval?.decision === answer.decision && approval.by === actor.principal) return deployment;
  if (deployment.status !== 'awaiting_approval' || !approval?.taskToken) {
    throw new ConflictError(
      `deployment ${id} is ${deployment.status}${approval?.decision ? `, ${approval.decision} by ${approval.by}` : ''}: it does not wait for an approval`,
    );
  }
  if (environment.tier === 'prod' && deployment.actor === actor.principal) {
    throw new ForbiddenError(
      `${actor.principal} asked for deployment ${id}: in prod another approver must answer it (two people)`,
    );
  }
  const at = ports.clock.now().toISOString();
  const comment = answer.comment ? { comment: answer.comment } : {};
  const answered = await ports.store.updateDeployment(
    name,
    id,
    {
      approval: { ...approval, decision: answer.decision, by: actor.principal, at, ...comment },
      steps: [
        {
          name: 'Approval',
          startedAt: approval.requestedAt,
          endedAt: at,
          detail: `${answer.decision} by ${actor.principal}${answer.comment ? `: ${answer.comment}` : ''}`,
        },
      ],
    },
    'awaiting_approval',
  );
  await ports.store.appendAudit({
    id: `${id}:approval.${answer.decision}`,
    environment: name,
    at,
    actor: actor.principal,
    trigger: actor.trigger,
    action: `deployment.${answer.decision}`,
    ...(answer.comment ? { reason: answer.comment } : {}),
    detail: { deploymentId: id, score: deployment.risk?.score ?? null },
  });
  // A rejection is announced as the deployment's status (`rejected`, by FinishDeployment); a yes has no status of its own.
  if (answer.decision === 'approved') await ports.events.publish([deploymentApproved(answered, environment)]);
  await ports.workflows.answerTask(approval.taskToken, answerOf(answered) as TaskAnswer);
  return answered;
}

/**
 * POST /environments/{name}/deployments/{id}/cancel: records the request; the workflow acts on it at its
 * next phase boundary (see Deployment.cancelRequest). Repeating it is a no-op.
 */
export async function cancelDeployment(
  ports: Pick<Ports, 'store' | 'workflows' | 'clock'>,
  actor: Actor,
  name: string,
  id: string,
): Promise<Deployment> {
  const environment = await ownedEnvironment(ports, actor, name);
  const deployment = await ports.store.getDeployment(environment.name, id);
  if (!deployment) throw new NotFoundError(`deployment ${id} of ${name} does not exist`);
  if (isTerminal(deployment.status)) {
    throw new ConflictError(
      `deployment ${id} already ended ${deployment.status}: there is nothing to cancel`,
    );
  }
  if (deployment.action !== 'deploy' && deployment.status === 'running') {
    throw new ConflictError(
      `${deployment.action} ${id} is running: stopping it half-way would leave stacks behind`,
    );
  }
  if (deployment.cancelRequest) return deployment;
  const at = ports.clock.now().toISOString();
  const updated = await ports.store.updateDeployment(name, id, {
    cancelRequest: { at, by: actor.principal },
  });
  await ports.store.appendAudit({
    id: `${id}:cancel-requested`,
    environment: name,
    at,
    actor: actor.principal,
    trigger: actor.trigger,
    action: 'deployment.cancel-requested',
    detail: { deploymentId: id, status: deployment.status },
  });
  // Waiting for an approval, the workflow hears it now (its callback fails), not when someone answers.
  const token = deployment.status === 'awaiting_approval' ? deployment.approval?.taskToken : undefined;
  if (token) await ports.workflows.answerTask(token, answerOf(updated) as TaskAnswer);
  return updated;
}

/**
 * The environment, if the actor may do `action` on it: NotFoundError / ForbiddenError otherwise. The
 * commands of this module change it (the default); read routes ask for `environment:read`.
 */
export async function ownedEnvironment(
  ports: Pick<Ports, 'store'>,
  actor: Pick<Actor, 'team' | 'principal' | 'roles'>,
  name: string,
  action: Extract<
    Action,
    'environment:read' | 'environment:change' | 'deployment:approve'
  > = 'environment:change',
): Promise<Environment> {
  const environment = await ports.store.getEnvironment(name);
  if (!environment) throw new NotFoundError(`environment ${name} does not exist`);
  authorize(actor, action, environment);
  return environment;
}

/**
 * Desired state drives deployments: deploy unless the spec is already live with nothing in flight,
 * or a deployment toward this very spec is already queued or running.
 */
export function deploymentNeeded(
  environment: Environment,
  spec: Spec,
  inFlight: Deployment | undefined,
): boolean {
  if (!inFlight) return !specsEqual(spec, environment.liveSpec);
  return !(inFlight.action === 'deploy' && specsEqual(spec, inFlight.spec));
}

/** Records a new environment (no deployment yet); VersionConflictError if someone created it first. */
async function createEnvironment(
  ports: RequestPorts,
  actor: Actor,
  request: EnvironmentRequest,
  ifMatch: number | undefined,
): Promise<Environment> {
  if (ifMatch !== undefined) {
    throw new VersionConflictError(
      `environment ${request.name} does not exist, so If-Match ${ifMatch} cannot match`,
    );
  }
  const now = ports.clock.now().toISOString();
  const environment: Environment = {
    name: request.name,
    team: request.team,
    tier: request.tier,
    spec: request.spec,
    ...(request.idle ? { idle: request.idle } : {}),
    ...(request.rollbackWindowSeconds !== undefined
      ? { rollbackWindowSeconds: request.rollbackWindowSeconds }
      : {}),
    ...(request.resources ? { resources: request.resources } : {}),
    ...(request.source ? { source: request.source } : {}),
    ...(request.preview
      ? { template: request.preview.template, sourceHead: request.preview.sourceHead }
      : {}),
    version: 1,
    generation: 0,
    status: 'pending',
    lastActivityAt: now,
    createdAt: now,
    updatedAt: now,
  };
  await ports.store.createEnvironment(environment);
  await ports.store.appendAudit({
    id: `${environment.name}:created`,
    environment: environment.name,
    at: now,
    actor: actor.principal,
    trigger: actor.trigger,
    action: 'environment.created',
    detail: { team: environment.team, tier: environment.tier },
  });
  return environment;
}

interface DeploymentPlan {
  action: DeploymentAction;
  spec?: Spec;
  /** The spec is what this deployment runs, not a new desired state (a wake runs the spec that was live). */
  keepsDesiredSpec?: boolean;
  tier?: Tier;
  /** A new idle policy (`null`: the tier's default), written with the rest of the desired state. */
  idle?: IdlePolicy | null;
  /** A new rollback window (`null`: the tier's default), written with the rest of the desired state. */
  rollbackWindowSeconds?: number | null;
  /** New declared resources (`null`: none), written with the rest of the desired state. */
  resources?: Resource[] | null;
  /** A warm rollback: the standby stack it makes live again, instead of a new one. */
  toStackId?: string;
  /** A new binding (`null`: none), written with the rest of the desired state. */
  source?: SourceBinding | null;
  /** The push this deployment follows, written in the same write: later pushes are ordered against it. */
  sourceHead?: SourceHead;
  reason: string;
  /** Passes the freezes covering the environment now (a person's emergency change), with why. */
  breakGlass?: { reason: string };
}

/**
 * Claims the next generation for a new deployment (conditional on `version`), records the deployment
 * as queued, announces it and starts its workflow. The workflow waits for the environment's lease, so
 * requests never run at the same time; a queued one that a newer request overtakes ends `superseded`.
 */
async function startDeployment(
  ports: RequestPorts,
  actor: Actor,
  environment: Environment,
  plan: DeploymentPlan,
): Promise<Accepted> {
  const now = ports.clock.now();
  const freezes = await freezeVerdict(ports, actor, environment, plan, now);
  const id = newDeploymentId(now);
  const generation = environment.generation + 1;
  const updated = await ports.store.updateDesiredState(environment.name, environment.version, {
    generation,
    latestDeploymentId: id,
    updatedAt: now.toISOString(),
    ...(plan.spec && !plan.keepsDesiredSpec ? { spec: plan.spec } : {}),
    ...(plan.tier ? { tier: plan.tier } : {}),
    ...(plan.idle !== undefined ? { idle: plan.idle } : {}),
    ...(plan.rollbackWindowSeconds !== undefined
      ? { rollbackWindowSeconds: plan.rollbackWindowSeconds }
      : {}),
    ...(plan.resources !== undefined ? { resources: plan.resources } : {}),
    // Being changed, nothing is due (the upkeep index drops it); see isActivity for what counts.
    upkeepDue: null,
    ...(isActivity(plan.action, actor.trigger) ? { lastActivityAt: now.toISOString() } : {}),
    ...(plan.source !== undefined ? { source: plan.source } : {}),
    ...(plan.sourceHead ? { sourceHead: plan.sourceHead } : {}),
    ...(plan.action === 'teardown' ? { status: 'deleting' as const } : {}),
    ...(plan.action === 'deploy' && environment.status === 'deleted' ? { status: 'pending' as const } : {}),
  });
  const deployment: Deployment = {
    id,
    environment: environment.name,
    action: plan.action,
    generation,
    trigger: actor.trigger,
    actor: actor.principal,
    ...(actor.push ? { push: actor.push } : {}),
    ...(actor.schedule ? { schedule: actor.schedule } : {}),
    reason: plan.reason,
    status: 'queued',
    requestedAt: now.toISOString(),
    ...(plan.spec ? { spec: plan.spec } : {}),
    ...(plan.toStackId ? { toStackId: plan.toStackId } : {}),
    ...(plan.action === 'deploy' && plan.spec
      ? {
          risk: assessRisk(RISK_POLICY, {
            environment: updated,
            spec: plan.spec,
            trigger: actor.trigger,
            launches: plan.toStackId ? 0 : plan.spec.capacity,
            breakGlass: freezes.kind === 'broken',
          }),
        }
      : {}),
    ...(freezes.kind === 'broken' && plan.breakGlass
      ? {
          breakGlass: {
            reason: plan.breakGlass.reason,
            freezes: freezes.by.map(({ freeze, window }) => ({
              id: freeze.id,
              reason: freeze.reason,
              end: window.end,
            })),
          },
        }
      : {}),
  };
  await ports.store.createDeployment(deployment);
  await ports.store.appendAudit({
    id: `${id}:requested`,
    environment: environment.name,
    at: now.toISOString(),
    actor: actor.principal,
    trigger: actor.trigger,
    action: plan.action === 'deploy' ? 'deployment.requested' : `${plan.action}.requested`,
    reason: plan.reason,
    detail: {
      deploymentId: id,
      generation,
      ...(plan.spec ? { version: plan.spec.version } : {}),
    },
  });
  if (deployment.breakGlass) {
    await ports.store.appendAudit({
      id: `${id}:break-glass`,
      environment: environment.name,
      at: now.toISOString(),
      actor: actor.principal,
      trigger: actor.trigger,
      action: 'deployment.break-glass',
      reason: deployment.breakGlass.reason,
      detail: { deploymentId: id, freezes: deployment.breakGlass.freezes.map((freeze) => freeze.id) },
    });
  }
  const events: LifecycleEvent[] = [deploymentStatusChanged(deployment, updated)];
  if (deployment.breakGlass) events.push(breakGlassUsed(deployment, updated));
  // A new environment is `pending` from here; a teardown makes it `deleting`, a re-creation `pending`.
  if (updated.status !== environment.status || environment.generation === 0) {
    events.unshift(environmentStatusChanged(updated, updated.status, deployment));
  }
  await ports.events.publish(events);
  await ports.workflows.start(workflowOf(plan.action), {
    environment: environment.name,
    deploymentId: id,
    ...(deployment.risk?.needsApproval ? { approval: true as const } : {}),
  });
  return { environment: updated, deploymentId: id, created: false };
}

/**
 * What the freezes covering the environment now do to the change planned, before anything is written: a
 * person's or a push's deployment is refused (FrozenError) by a refusing freeze, passes one by breaking
 * the glass, and is held by the workflow (CheckFreeze) under a holding one; a person's teardown is
 * refused under any. A break-glass request with no freeze to break is refused too.
 */
async function freezeVerdict(
  ports: RequestPorts,
  actor: Actor,
  environment: Pick<Environment, 'name' | 'team' | 'tier'>,
  plan: Pick<DeploymentPlan, 'action' | 'tier' | 'breakGlass'>,
  now: Date,
): Promise<FreezeVerdict> {
  const deleting = plan.action === 'teardown' && actor.trigger === 'api';
  if (!isFreezable(plan.action, actor.trigger) && !deleting) return { kind: 'open' };
  const covered = { name: environment.name, team: environment.team, tier: plan.tier ?? environment.tier };
  const verdict = verdictOf(await activeFreezes(ports, covered, now), plan.breakGlass !== undefined);
  if (plan.breakGlass && verdict.kind === 'open') throw nothingToBreak(environment.name);
  if (verdict.kind === 'refused') throw frozenError(environment.name, verdict.by);
  if (deleting && verdict.kind === 'held') throw frozenError(environment.name, verdict.by[0] as ActiveFreeze);
  return verdict;
}

/** The answer to a request that changes nothing: the environment, and the deployment already moving it. */
function leftAsItIs(environment: Environment, inFlight: Deployment | undefined): Accepted {
  return { environment, ...(inFlight ? { deploymentId: inFlight.id } : {}), created: false };
}

function sameIdlePolicy(a: IdlePolicy | undefined, b: IdlePolicy | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/**
 * An API write is activity: the fields that record it, with the upkeep then due (for an environment that
 * is live and settled; one being changed gets its upkeep when the change settles).
 */
async function activity(
  environment: Environment,
  change: Partial<Pick<Environment, 'tier' | 'idle' | 'snoozedUntil'>>,
  now: string,
): Promise<Pick<DesiredStateChange, 'lastActivityAt' | 'upkeepDue'>> {
  const after = { ...environment, ...change, lastActivityAt: now };
  return { lastActivityAt: now, upkeepDue: await upkeepDue(after) };
}

function sameSource(a: SourceBinding | undefined, b: SourceBinding | undefined): boolean {
  return a?.provider === b?.provider && a?.repository === b?.repository && a?.branch === b?.branch;
}

async function inFlightDeployment(
  ports: Pick<Ports, 'store'>,
  environment: Environment,
): Promise<Deployment | undefined> {
  if (!environment.latestDeploymentId) return undefined;
  const latest = await ports.store.getDeployment(environment.name, environment.latestDeploymentId);
  return latest && !isTerminal(latest.status) ? latest : undefined;
}

function assertVersion(environment: Environment, ifMatch: number | undefined): void {
  if (ifMatch !== undefined && ifMatch !== environment.version) {
    throw new VersionConflictError(
      `environment ${environment.name} is at version ${environment.version}, not ${ifMatch}: read it again and retry`,
    );
  }
}

/**
 * Runs `attempt`, which reads what it needs and makes one conditional write. With If-Match the caller
 * owns the conflict: a VersionConflictError goes straight back (409). Without it, Kiln re-reads and
 * tries again after a jittered, growing pause (see CONFLICT_BACKOFF), so concurrent writers are
 * serialized instead of refused. Each attempt starts from a fresh read, so no write rests on what
 * another writer has since changed.
 */
export async function retryOnConflict<T>(
  ifMatch: number | undefined,
  attempt: () => Promise<T>,
  backoff: ConflictBackoff = CONFLICT_BACKOFF,
  time: BackoffEnvironment = realTime,
): Promise<T> {
  const started = time.now();
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof VersionConflictError) || ifMatch !== undefined) throw error;
      const elapsed = time.now() - started;
      if (tries >= backoff.maxAttempts || elapsed >= backoff.budgetMs) {
        throw new VersionConflictError(
          `other requests kept changing the environment (${tries} attempts in ${Math.round(elapsed / 1000)} s): send the request again`,
          { cause: error },
        );
      }
      const window = Math.min(backoff.capMs, backoff.baseMs * 2 ** (tries - 1));
      await time.sleep(Math.floor(time.random() * window));
    }
  }
}

/**
 * Kiln's own redeploy of what is live (a drift repair): a new stack of the environment's live spec, its
 * desired spec left as it is. ConflictError, starting nothing, when nothing is live or a deployment is
 * already queued or running (that one replaces the live stack anyway).
 */
export async function redeployLiveSpec(
  ports: RequestPorts,
  actor: Actor,
  name: string,
  reason: string,
): Promise<Accepted> {
  return retryOnConflict(undefined, async () => {
    const environment = await ownedEnvironment(ports, actor, name);
    const inFlight = await inFlightDeployment(ports, environment);
    if (inFlight) throw new ConflictError(`environment ${name} has deployment ${inFlight.id} in flight`);
    if (environment.status !== 'live' || !environment.liveSpec) {
      throw new ConflictError(`environment ${name} is ${environment.status}: nothing live to redeploy`);
    }
    return startDeployment(ports, actor, environment, {
      action: 'deploy',
      spec: environment.liveSpec,
      keepsDesiredSpec: true,
      reason,
    });
  });
}
