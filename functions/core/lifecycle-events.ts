import type { Freeze, FreezeMode, FreezeSelector, FreezeWindow } from './freezes.ts';
import type { Deployment, DeploymentStatus, Environment, EnvironmentStatus } from './types.ts';

/**
 * Kiln's lifecycle events, as published on its event bus: one per status change of a deployment or of
 * an environment. Each is built from the records alone (the times are the records' own), so the same
 * change always yields the same event: a task that runs again publishes an identical copy, and its
 * `eventId` says so. The schema and an example rule are in the README ("Lifecycle events").
 */

/** `source` of every Kiln event. */
export const EVENT_SOURCE = 'kiln';

export const DEPLOYMENT_STATUS_CHANGED = 'Deployment Status Changed';
export const ENVIRONMENT_STATUS_CHANGED = 'Environment Status Changed';
/** Governance (README "Governance events"): an approver's yes, a freeze's window, a freeze broken. */
export const DEPLOYMENT_APPROVED = 'Deployment Approved';
export const FREEZE_STARTED = 'Freeze Started';
export const FREEZE_ENDED = 'Freeze Ended';
export const BREAK_GLASS_USED = 'Break Glass Used';

/** Who or what caused a change (see DESIGN "Identity and trust"). */
export interface ActorRef {
  /** The principal (a person's IAM session), `kiln` for Kiln's own decisions. */
  actor: string;
  trigger: Deployment['trigger'];
}

export interface DeploymentStatusChangedDetail extends ActorRef {
  /** Stable for this change: `<deploymentId>:<status>`. */
  eventId: string;
  environment: string;
  team: string;
  tier: Environment['tier'];
  deploymentId: string;
  action: Deployment['action'];
  generation: number;
  status: DeploymentStatus;
  /** The artifact version deployed (absent for a teardown). */
  version?: string;
  fromStackId?: string;
  toStackId?: string;
  /** Why it failed, rolled back or was cancelled. */
  error?: Deployment['error'];
  /** When the status was reached, from the deployment's record. */
  at: string;
}

export interface EnvironmentStatusChangedDetail {
  /** Stable for this change: `<environment>:<deploymentId that caused it>:<status>`. */
  eventId: string;
  environment: string;
  team: string;
  tier: Environment['tier'];
  status: EnvironmentStatus;
  /** The deployment (or teardown) that brought it to this status. */
  deploymentId: string;
  liveStackId?: string;
  at: string;
}

export interface DeploymentApprovedDetail {
  /** `<deploymentId>:approved`. */
  eventId: string;
  environment: string;
  team: string;
  tier: Environment['tier'];
  deploymentId: string;
  version?: string;
  /** Who asked for the deployment, and who approved it. */
  requestedBy: string;
  approvedBy: string;
  comment?: string;
  /** Its risk score and the policy's threshold. */
  score: number;
  threshold: number;
  at: string;
}

/** `Freeze Started` and `Freeze Ended`: one of each per window of a freeze. */
export interface FreezeChangedDetail {
  /** `<freezeId>:<window start>:started` or `…:ended`. */
  eventId: string;
  freezeId: string;
  team: string;
  selector: FreezeSelector;
  mode: FreezeMode;
  reason: string;
  /** The window: when it starts and ends (a deleted freeze's window ends when it was deleted). */
  start: string;
  end: string;
  /** `Freeze Ended` only: `over` (its end came) or `deleted`. */
  endedBy?: 'over' | 'deleted';
  at: string;
}

export interface BreakGlassUsedDetail extends ActorRef {
  /** `<deploymentId>:break-glass`. */
  eventId: string;
  environment: string;
  team: string;
  tier: Environment['tier'];
  deploymentId: string;
  version?: string;
  reason: string;
  /** The freezes it passed, with the end of each one's window. */
  freezes: { id: string; reason: string; end: string }[];
  at: string;
}

export type LifecycleEvent =
  | { detailType: typeof DEPLOYMENT_STATUS_CHANGED; detail: DeploymentStatusChangedDetail }
  | { detailType: typeof ENVIRONMENT_STATUS_CHANGED; detail: EnvironmentStatusChangedDetail }
  | { detailType: typeof DEPLOYMENT_APPROVED; detail: DeploymentApprovedDetail }
  | { detailType: typeof FREEZE_STARTED | typeof FREEZE_ENDED; detail: FreezeChangedDetail }
  | { detailType: typeof BREAK_GLASS_USED; detail: BreakGlassUsedDetail };

/** Which deployment of which environment an event is about. */
function deploymentFacts(deployment: Deployment, environment: Pick<Environment, 'team' | 'tier'>) {
  return {
    environment: deployment.environment,
    team: environment.team,
    tier: environment.tier,
    deploymentId: deployment.id,
  };
}

/** The event announcing the deployment's current status, stamped with the time its record gives. */
export function deploymentStatusChanged(
  deployment: Deployment,
  environment: Pick<Environment, 'team' | 'tier'>,
): LifecycleEvent {
  return {
    detailType: DEPLOYMENT_STATUS_CHANGED,
    detail: {
      eventId: `${deployment.id}:${deployment.status}`,
      ...deploymentFacts(deployment, environment),
      action: deployment.action,
      generation: deployment.generation,
      status: deployment.status,
      trigger: deployment.trigger,
      actor: deployment.actor,
      ...(deployment.spec ? { version: deployment.spec.version } : {}),
      ...(deployment.fromStackId ? { fromStackId: deployment.fromStackId } : {}),
      ...(deployment.toStackId ? { toStackId: deployment.toStackId } : {}),
      ...(deployment.error ? { error: deployment.error } : {}),
      at: statusTime(deployment),
    },
  };
}

/** The event announcing that `deployment` brought the environment to `status`. */
export function environmentStatusChanged(
  environment: Pick<Environment, 'name' | 'team' | 'tier' | 'liveStackId'>,
  status: EnvironmentStatus,
  deployment: Deployment,
): LifecycleEvent {
  return {
    detailType: ENVIRONMENT_STATUS_CHANGED,
    detail: {
      eventId: `${environment.name}:${deployment.id}:${status}`,
      environment: environment.name,
      team: environment.team,
      tier: environment.tier,
      status,
      deploymentId: deployment.id,
      ...(environment.liveStackId ? { liveStackId: environment.liveStackId } : {}),
      at: statusTime(deployment),
    },
  };
}

/** An approver's yes, from the deployment's record once it holds the answer. */
export function deploymentApproved(
  deployment: Deployment,
  environment: Pick<Environment, 'team' | 'tier'>,
): LifecycleEvent {
  const { approval, risk } = deployment;
  return {
    detailType: DEPLOYMENT_APPROVED,
    detail: {
      eventId: `${deployment.id}:approved`,
      ...deploymentFacts(deployment, environment),
      ...(deployment.spec ? { version: deployment.spec.version } : {}),
      requestedBy: deployment.actor,
      approvedBy: approval?.by ?? '',
      ...(approval?.comment ? { comment: approval.comment } : {}),
      score: risk?.score ?? 0,
      threshold: risk?.threshold ?? 0,
      at: approval?.at ?? deployment.requestedAt,
    },
  };
}

/** A freeze's window began (announced by the freeze upkeep, or when the freeze is made inside it). */
export function freezeStarted(freeze: Freeze, window: FreezeWindow): LifecycleEvent {
  return {
    detailType: FREEZE_STARTED,
    detail: {
      eventId: `${freeze.id}:${window.start}:started`,
      ...freezeFacts(freeze, window),
      at: window.start,
    },
  };
}

/** A freeze's announced window is over: its end came (`at` its end) or the freeze was deleted (`at` then). */
export function freezeEnded(
  freeze: Freeze,
  window: FreezeWindow,
  now: string,
  endedBy: 'over' | 'deleted',
): LifecycleEvent {
  const end = endedBy === 'over' ? window.end : now;
  return {
    detailType: FREEZE_ENDED,
    detail: {
      eventId: `${freeze.id}:${window.start}:ended`,
      ...freezeFacts(freeze, { start: window.start, end }),
      endedBy,
      at: end,
    },
  };
}

function freezeFacts(freeze: Freeze, window: FreezeWindow) {
  return {
    freezeId: freeze.id,
    team: freeze.team,
    selector: freeze.selector ?? {},
    mode: freeze.mode,
    reason: freeze.reason,
    start: window.start,
    end: window.end,
  };
}

/** A deployment that passed a freeze by breaking the glass, from its record. */
export function breakGlassUsed(
  deployment: Deployment,
  environment: Pick<Environment, 'team' | 'tier'>,
): LifecycleEvent {
  return {
    detailType: BREAK_GLASS_USED,
    detail: {
      eventId: `${deployment.id}:break-glass`,
      ...deploymentFacts(deployment, environment),
      ...(deployment.spec ? { version: deployment.spec.version } : {}),
      actor: deployment.actor,
      trigger: deployment.trigger,
      reason: deployment.breakGlass?.reason ?? '',
      freezes: deployment.breakGlass?.freezes ?? [],
      at: deployment.requestedAt,
    },
  };
}

/** When a deployment reached its current status: ended, started or requested. */
function statusTime(deployment: Deployment): string {
  if (deployment.status === 'queued') return deployment.requestedAt;
  if (deployment.status === 'running') return deployment.startedAt ?? deployment.requestedAt;
  return deployment.endedAt ?? deployment.startedAt ?? deployment.requestedAt;
}
