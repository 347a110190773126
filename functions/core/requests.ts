import { assertOwnedBy, type Caller } from './caller.ts';
import { isTerminal } from './deployment-lifecycle.ts';
import { ConflictError, ForbiddenError, NotFoundError, VersionConflictError } from './errors.ts';
import { newDeploymentId } from './ids.ts';
import type { Ports, RequestPorts } from './ports/index.ts';
import { specsEqual } from './spec.ts';
import type { Deployment, DeploymentAction, Environment, Spec, Tier } from './types.ts';

/**
 * What the REST API asks of Kiln. Each request is one conditional write of the environment's
 * desired state (optimistic lock on `version`), then the deployment record, then the workflow start:
 * a client retrying after a failure in between re-creates what is missing (see `deploymentNeeded`).
 */

export interface EnvironmentRequest {
  name: string;
  team: string;
  tier: Tier;
  spec: Spec;
}

export interface Accepted {
  environment: Environment;
  /** The deployment moving the environment toward its desired state, if one is queued or running. */
  deploymentId?: string;
  created: boolean;
}

/** How often a request without If-Match re-reads and retries after a concurrent writer won. */
const CONFLICT_ATTEMPTS = 3;

/** PUT /environments/{name}: create or replace the desired state, deploying when it differs from what is live. */
export async function putEnvironment(
  ports: RequestPorts,
  caller: Caller,
  request: EnvironmentRequest,
  ifMatch?: number,
): Promise<Accepted> {
  if (request.team !== caller.team) {
    throw new ForbiddenError(
      `cannot manage an environment for team ${request.team}: you act for ${caller.team}`,
    );
  }
  return retryOnConflict(ifMatch, async () => {
    const existing = await ports.store.getEnvironment(request.name);
    if (!existing) return createEnvironment(ports, caller, request, ifMatch);
    assertOwnedBy(caller, existing);
    assertVersion(existing, ifMatch);
    const inFlight = await inFlightDeployment(ports, existing);
    const revived = existing.status === 'deleted';
    if (!deploymentNeeded(existing, request.spec, inFlight) && !revived) {
      const environment =
        existing.tier === request.tier && specsEqual(existing.spec, request.spec)
          ? existing
          : await ports.store.updateDesiredState(existing.name, existing.version, {
              tier: request.tier,
              spec: request.spec,
              updatedAt: ports.clock.now().toISOString(),
            });
      return { environment, deploymentId: inFlight?.id, created: false };
    }
    return startDeployment(ports, caller, existing, {
      action: 'deploy',
      spec: request.spec,
      tier: request.tier,
      reason: revived ? 'environment re-created' : 'desired spec changed',
    });
  });
}

/** POST /environments/{name}/deployments: deploy a version (or redeploy the current spec). */
export async function requestDeployment(
  ports: RequestPorts,
  caller: Caller,
  name: string,
  request: { version?: string; reason?: string },
  ifMatch?: number,
): Promise<Accepted> {
  return retryOnConflict(ifMatch, async () => {
    const existing = await ownedEnvironment(ports, caller, name);
    assertVersion(existing, ifMatch);
    if (existing.status === 'deleted' || existing.status === 'deleting') {
      throw new ConflictError(`environment ${name} is ${existing.status}: PUT it to create it again`);
    }
    const spec = request.version ? { ...existing.spec, version: request.version } : existing.spec;
    return startDeployment(ports, caller, existing, {
      action: 'deploy',
      spec,
      reason: request.reason ?? (request.version ? `deploy version ${request.version}` : 'redeploy'),
    });
  });
}

/** DELETE /environments/{name}: tear everything down, keep the history. Repeating it is a no-op. */
export async function deleteEnvironment(
  ports: RequestPorts,
  caller: Caller,
  name: string,
  ifMatch?: number,
): Promise<Accepted> {
  return retryOnConflict(ifMatch, async () => {
    const existing = await ownedEnvironment(ports, caller, name);
    assertVersion(existing, ifMatch);
    const inFlight = await inFlightDeployment(ports, existing);
    if (existing.status === 'deleted' || inFlight?.action === 'teardown') {
      return { environment: existing, deploymentId: inFlight?.id, created: false };
    }
    return startDeployment(ports, caller, existing, { action: 'teardown', reason: 'environment deleted' });
  });
}

/**
 * POST /environments/{name}/deployments/{id}/cancel: records the request; the workflow acts on it at its
 * next phase boundary (see Deployment.cancelRequest). Repeating it is a no-op.
 */
export async function cancelDeployment(
  ports: RequestPorts,
  caller: Caller,
  name: string,
  id: string,
): Promise<Deployment> {
  const environment = await ownedEnvironment(ports, caller, name);
  const deployment = await ports.store.getDeployment(environment.name, id);
  if (!deployment) throw new NotFoundError(`deployment ${id} of ${name} does not exist`);
  if (isTerminal(deployment.status)) {
    throw new ConflictError(
      `deployment ${id} already ended ${deployment.status}: there is nothing to cancel`,
    );
  }
  if (deployment.action === 'teardown' && deployment.status === 'running') {
    throw new ConflictError(`teardown ${id} is running: stopping it half-way would leave stacks behind`);
  }
  if (deployment.cancelRequest) return deployment;
  const at = ports.clock.now().toISOString();
  const updated = await ports.store.updateDeployment(name, id, {
    cancelRequest: { at, by: caller.principal },
  });
  await ports.store.appendAudit({
    id: `${id}:cancel-requested`,
    environment: name,
    at,
    actor: caller.principal,
    action: 'deployment.cancel-requested',
    detail: { deploymentId: id, status: deployment.status },
  });
  return updated;
}

/** The caller's environment, or NotFoundError / ForbiddenError. */
export async function ownedEnvironment(
  ports: Pick<Ports, 'store'>,
  caller: Caller,
  name: string,
): Promise<Environment> {
  const environment = await ports.store.getEnvironment(name);
  if (!environment) throw new NotFoundError(`environment ${name} does not exist`);
  assertOwnedBy(caller, environment);
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

async function createEnvironment(
  ports: RequestPorts,
  caller: Caller,
  request: EnvironmentRequest,
  ifMatch: number | undefined,
): Promise<Accepted> {
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
    version: 1,
    generation: 0,
    status: 'pending',
    createdAt: now,
    updatedAt: now,
  };
  await ports.store.createEnvironment(environment);
  await ports.store.appendAudit({
    id: `${environment.name}:created`,
    environment: environment.name,
    at: now,
    actor: caller.principal,
    action: 'environment.created',
    detail: { team: environment.team, tier: environment.tier },
  });
  const accepted = await startDeployment(ports, caller, environment, {
    action: 'deploy',
    spec: request.spec,
    reason: 'environment created',
  });
  return { ...accepted, created: true };
}

interface DeploymentPlan {
  action: DeploymentAction;
  spec?: Spec;
  tier?: Tier;
  reason: string;
}

/**
 * Claims the next generation for a new deployment (conditional on `version`), records the deployment
 * as queued and starts its workflow. The workflow waits for the environment's lease, so requests
 * never run at the same time; a queued one that a newer request overtakes ends `superseded`.
 */
async function startDeployment(
  ports: RequestPorts,
  caller: Caller,
  environment: Environment,
  plan: DeploymentPlan,
): Promise<Accepted> {
  const now = ports.clock.now();
  const id = newDeploymentId(now);
  const generation = environment.generation + 1;
  const updated = await ports.store.updateDesiredState(environment.name, environment.version, {
    generation,
    latestDeploymentId: id,
    updatedAt: now.toISOString(),
    ...(plan.spec ? { spec: plan.spec } : {}),
    ...(plan.tier ? { tier: plan.tier } : {}),
    ...(plan.action === 'teardown' ? { status: 'deleting' as const } : {}),
    ...(plan.action === 'deploy' && environment.status === 'deleted' ? { status: 'pending' as const } : {}),
  });
  const deployment: Deployment = {
    id,
    environment: environment.name,
    action: plan.action,
    generation,
    trigger: 'api',
    actor: caller.principal,
    reason: plan.reason,
    status: 'queued',
    requestedAt: now.toISOString(),
    ...(plan.spec ? { spec: plan.spec } : {}),
  };
  await ports.store.createDeployment(deployment);
  await ports.store.appendAudit({
    id: `${id}:requested`,
    environment: environment.name,
    at: now.toISOString(),
    actor: caller.principal,
    action: plan.action === 'deploy' ? 'deployment.requested' : 'teardown.requested',
    detail: {
      deploymentId: id,
      generation,
      reason: plan.reason,
      ...(plan.spec ? { version: plan.spec.version } : {}),
    },
  });
  await ports.workflows.start(plan.action, { environment: environment.name, deploymentId: id });
  return { environment: updated, deploymentId: id, created: false };
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

/** With If-Match the caller owns the conflict; without it Kiln re-reads and retries a few times. */
async function retryOnConflict<T>(ifMatch: number | undefined, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof VersionConflictError) || ifMatch !== undefined || tries >= CONFLICT_ATTEMPTS)
        throw error;
    }
  }
}
