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

export type LifecycleEvent =
  | { detailType: typeof DEPLOYMENT_STATUS_CHANGED; detail: DeploymentStatusChangedDetail }
  | { detailType: typeof ENVIRONMENT_STATUS_CHANGED; detail: EnvironmentStatusChangedDetail };

/** The event announcing the deployment's current status, stamped with the time its record gives. */
export function deploymentStatusChanged(
  deployment: Deployment,
  environment: Pick<Environment, 'team' | 'tier'>,
): LifecycleEvent {
  return {
    detailType: DEPLOYMENT_STATUS_CHANGED,
    detail: {
      eventId: `${deployment.id}:${deployment.status}`,
      environment: deployment.environment,
      team: environment.team,
      tier: environment.tier,
      deploymentId: deployment.id,
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

/** When a deployment reached its current status: ended, started or requested. */
function statusTime(deployment: Deployment): string {
  if (deployment.status === 'queued') return deployment.requestedAt;
  if (deployment.status === 'running') return deployment.startedAt ?? deployment.requestedAt;
  return deployment.endedAt ?? deployment.startedAt ?? deployment.requestedAt;
}
