import type { AuditEvent, Deployment, DeploymentStep, Environment, Lease, Stack } from '../types.ts';

/** Fields of the environment item that the API changes; every such write bumps `version`. */
export type DesiredStateChange = Partial<
  Pick<Environment, 'team' | 'tier' | 'spec' | 'generation' | 'status' | 'latestDeploymentId'>
> & { updatedAt: string };

type Removable<T> = { [K in keyof T]?: T[K] | null };

/**
 * Fields of the environment item that workflows change; these never bump `version`.
 * A field given as `null` is removed (a torn-down environment has no live stack or endpoint).
 */
export type ObservedStateChange = Removable<
  Pick<
    Environment,
    'status' | 'liveStackId' | 'liveGeneration' | 'liveSpec' | 'endpoint' | 'weights' | 'deletedAt'
  >
>;

export type StackChange = Partial<Pick<Stack, 'status' | 'instances' | 'statusReason'>>;

export type DeploymentChange = Partial<
  Pick<
    Deployment,
    'status' | 'fromStackId' | 'toStackId' | 'startedAt' | 'endedAt' | 'error' | 'warnings' | 'cancelRequest'
  >
> & {
  /** Steps to record; a step name already recorded keeps its first record, so a retry changes nothing. */
  steps?: DeploymentStep[];
};

/**
 * Kiln's desired and recorded state (one DynamoDB table in production).
 * Every method is a single-item atomic operation or a query; none scans, none needs transactions.
 * Conditional failures surface as named core errors: VersionConflictError, LeaseHeldError.
 */
export interface StateStore {
  getEnvironment(name: string): Promise<Environment | undefined>;
  /** Environments owned by a team (a GSI query, never a scan), sorted by name. */
  listEnvironmentsByTeam(team: string): Promise<Environment[]>;
  /** Creates the environment; VersionConflictError if one with that name already exists. */
  createEnvironment(environment: Environment): Promise<void>;
  /**
   * Applies an API change if the stored version still equals `expectedVersion`
   * (VersionConflictError otherwise) and returns the environment with its new version.
   */
  updateDesiredState(name: string, expectedVersion: number, change: DesiredStateChange): Promise<Environment>;
  /** Records what workflows observed or did (`null` removes a field); leaves `version` alone. NotFoundError if missing. */
  updateObservedState(name: string, change: ObservedStateChange): Promise<void>;
  /**
   * Takes the environment's lease for `lease.holder` and applies `change` in the same write. Succeeds if
   * the lease is free, already held by the same holder (retries are no-ops, `change` is not applied
   * again) or held by `reclaimFrom` (a holder known to be dead). Throws LeaseHeldError otherwise.
   */
  acquireLease(name: string, lease: Lease, reclaimFrom?: string, change?: ObservedStateChange): Promise<void>;
  /**
   * Releases the lease and applies `change` in the same write, if `holder` still holds it; returns
   * false, changing nothing, otherwise (idempotent: only the holder settles the environment).
   */
  releaseLease(name: string, holder: string, change?: ObservedStateChange): Promise<boolean>;

  /** Creates the stack record unless it already exists; returns the stored record either way. */
  putStackIfAbsent(stack: Stack): Promise<Stack>;
  getStack(environment: string, generation: number): Promise<Stack | undefined>;
  /** All stacks of an environment, oldest generation first. */
  listStacks(environment: string): Promise<Stack[]>;
  /** Updates a stack; returns the updated record. NotFoundError if the stack does not exist. */
  updateStack(
    environment: string,
    generation: number,
    change: StackChange & { updatedAt: string },
  ): Promise<Stack>;

  /** Creates a deployment record; VersionConflictError if the id already exists. */
  createDeployment(deployment: Deployment): Promise<void>;
  getDeployment(environment: string, id: string): Promise<Deployment | undefined>;
  /** Deployments of an environment, newest first, at most `limit`. */
  listDeployments(environment: string, limit: number): Promise<Deployment[]>;
  /** Updates a deployment (its steps included, see DeploymentChange) in one write; NotFoundError if missing. */
  updateDeployment(environment: string, id: string, change: DeploymentChange): Promise<Deployment>;

  /** Appends the event unless the same event (same `at` and `id`) is already recorded. */
  appendAudit(event: AuditEvent): Promise<void>;
  /** Audit events of an environment, oldest first. */
  listAudit(environment: string): Promise<AuditEvent[]>;
}
