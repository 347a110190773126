import { idlePolicyOf } from '../core/idle.ts';
import type { PreviewTemplate, PushRecord } from '../core/pushes.ts';
import { rollbackWindowOf } from '../core/rollback-window.ts';
import type { Approval, Deployment, Environment, RecordedAuditEvent, Stack } from '../core/types.ts';
import type {
  AuditEventAnswer,
  DeploymentAnswer,
  DeploymentDetailAnswer,
  EnvironmentAnswer,
  PushAnswer,
  StackAnswer,
  TemplateAnswer,
} from './answer-schemas.ts';

/**
 * API representations. Internal bookkeeping (the lease's timestamps, the live spec copy) stays out;
 * what a caller needs to act (version for If-Match, endpoint, deployment in progress) is in. Their types
 * are the answer schemas' (answer-schemas.ts, which the OpenAPI document is generated from), imported as
 * types only: a view that drifts from the document does not compile, and no bundle carries the schemas.
 */

export function environmentView(environment: Environment): EnvironmentAnswer {
  return {
    name: environment.name,
    team: environment.team,
    tier: environment.tier,
    status: environment.status,
    version: environment.version,
    generation: environment.generation,
    spec: environment.spec,
    liveStack: environment.liveStackId
      ? {
          stackId: environment.liveStackId,
          generation: environment.liveGeneration,
          version: environment.liveSpec?.version,
        }
      : null,
    source: environment.source ?? null,
    ...(environment.sourceHead ? { sourceHead: environment.sourceHead } : {}),
    ...(environment.template ? { template: environment.template } : {}),
    endpoint: environment.endpoint ?? null,
    idle: { ...idlePolicyOf(environment), source: environment.idle ? 'environment' : 'tier default' },
    lastActivityAt: environment.lastActivityAt ?? null,
    resources: environment.resources ?? [],
    rollback: {
      windowSeconds: rollbackWindowOf(environment),
      source: environment.rollbackWindowSeconds === undefined ? 'tier default' : 'environment',
      standby: environment.standby ?? null,
      previousVersion: environment.previousSpec?.version ?? null,
    },
    sleepsAt: environment.upkeepDue?.action === 'sleep' ? environment.upkeepDue.at : null,
    wakesAt: environment.upkeepDue?.action === 'wake' ? environment.upkeepDue.at : null,
    snoozedUntil: environment.snoozedUntil ?? null,
    ...(environment.sleepingSince && environment.status === 'sleeping'
      ? { sleepingSince: environment.sleepingSince, sleptVersion: environment.sleptSpec?.version }
      : {}),
    latestDeploymentId: environment.latestDeploymentId ?? null,
    deploymentInProgress: environment.lease?.holder ?? null,
    createdAt: environment.createdAt,
    updatedAt: environment.updatedAt,
    ...(environment.deletedAt ? { deletedAt: environment.deletedAt } : {}),
  };
}

/** A stack with its share of traffic, which the environment records (as an ALB's listener rule does). */
export function stackView(stack: Stack, environment: Pick<Environment, 'weights'>): StackAnswer {
  return {
    stackId: stack.stackId,
    generation: stack.generation,
    deploymentId: stack.deploymentId,
    status: stack.status,
    weight: environment.weights?.[stack.stackId] ?? 0,
    version: stack.spec.version,
    artifact: stack.spec.artifact,
    capacity: stack.spec.capacity,
    instances: stack.instances,
    ...(stack.statusReason ? { statusReason: stack.statusReason } : {}),
    createdAt: stack.createdAt,
    updatedAt: stack.updatedAt,
  };
}

/** A deployment as lists show it, without its steps. */
export function deploymentView(deployment: Deployment): DeploymentAnswer {
  const { spec, steps: _steps, approval, ...rest } = deployment;
  return {
    ...rest,
    ...(approval ? { approval: shownApproval(approval) } : {}),
    ...(spec ? { version: spec.version } : {}),
  };
}

/** One deployment's page: its steps too, and while it runs `weights`, the traffic split it has set so far. */
export function deploymentDetailView(
  deployment: Deployment,
  weights?: Record<string, number>,
): DeploymentDetailAnswer {
  return { ...deploymentView(deployment), steps: deployment.steps ?? [], ...(weights ? { weights } : {}) };
}

/** The task token answers the waiting workflow: only an approver's answer through Kiln may use it. */
function shownApproval({ taskToken: _token, ...shown }: Approval): Omit<Approval, 'taskToken'> {
  return shown;
}

/** A preview template, with its version for If-Match. */
export function templateView(template: PreviewTemplate): TemplateAnswer {
  return template;
}

/** A push as received for an environment, and what became of it. */
export function pushView(record: PushRecord): PushAnswer {
  const { environment: _environment, ...rest } = record;
  return rest;
}

/** An audit event as recorded, link included: a reader can recompute the chain from the pages. */
export function auditEventView(event: RecordedAuditEvent): AuditEventAnswer {
  return event;
}
