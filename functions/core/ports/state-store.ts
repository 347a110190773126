import type { AuditTrail } from '../audit.ts';
import type { Freeze, FreezeWindow } from '../freezes.ts';
import type { DeliveryRecord, GitProvider, PreviewTemplate, PushRecord, SourceBinding } from '../pushes.ts';
import type {
  AuditEvent,
  ChainedAuditEvent,
  Deployment,
  DeploymentStatus,
  DeploymentStep,
  Environment,
  Lease,
  RecordedAuditEvent,
  Stack,
  UpkeepDue,
} from '../types.ts';

type Removable<T> = { [K in keyof T]?: T[K] | null };

/** Fields of the environment item that the API changes; every such write bumps `version`. */
export type DesiredStateChange = Partial<
  Pick<
    Environment,
    | 'team'
    | 'tier'
    | 'spec'
    | 'generation'
    | 'status'
    | 'latestDeploymentId'
    | 'sourceHead'
    | 'template'
    | 'lastActivityAt'
  >
> &
  Removable<
    Pick<Environment, 'idle' | 'rollbackWindowSeconds' | 'resources' | 'snoozedUntil' | 'upkeepDue'>
  > & {
    /** The branch it follows; `null` unbinds it. */
    source?: SourceBinding | null;
    updatedAt: string;
  };

/**
 * Fields of the environment item that workflows change; these never bump `version`.
 * A field given as `null` is removed (a torn-down environment has no live stack or endpoint).
 */
export type ObservedStateChange = Removable<
  Pick<
    Environment,
    | 'status'
    | 'liveStackId'
    | 'liveGeneration'
    | 'liveSpec'
    | 'endpoint'
    | 'weights'
    | 'deletedAt'
    | 'lastActivityAt'
    | 'awakeSince'
    | 'upkeepDue'
    | 'sleptSpec'
    | 'sleepingSince'
    | 'standby'
    | 'previousSpec'
  >
>;

export type StackChange = Partial<Pick<Stack, 'status' | 'instances' | 'statusReason'>>;

export type DeploymentChange = Partial<
  Pick<
    Deployment,
    | 'status'
    | 'fromStackId'
    | 'toStackId'
    | 'startedAt'
    | 'endedAt'
    | 'error'
    | 'warnings'
    | 'cancelRequest'
    | 'approval'
    | 'hold'
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
  /**
   * Environments owing upkeep `action` at or before `dueBy`, from one shard of the sparse upkeep index
   * (UPKEEP_SHARDS of them), one page at a time, earliest due first: a query reads only what is due.
   */
  listUpkeepDue(
    action: UpkeepDue['action'],
    shard: number,
    dueBy: string,
    page: { limit: number; after?: string },
  ): Promise<{ environments: Environment[]; next?: string }>;
  /** Environments following a branch (a sparse GSI query, never a scan), sorted by name. */
  listEnvironmentsBySource(source: SourceBinding): Promise<Environment[]>;
  /**
   * Environments with a live stack (a sparse, sharded GSI query, never a scan), sorted by name: what the
   * drift check walks. The index follows `liveStackId` as updateObservedState and the lease writes set it.
   */
  listLiveEnvironments(): Promise<Environment[]>;
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
  /**
   * Updates a deployment (its steps included, see DeploymentChange) in one write; NotFoundError if missing.
   * With `ifStatus`, only while the deployment has that status: VersionConflictError, writing nothing,
   * otherwise (two approvers answering at once: one answer counts).
   */
  updateDeployment(
    environment: string,
    id: string,
    change: DeploymentChange,
    ifStatus?: DeploymentStatus,
  ): Promise<Deployment>;

  /**
   * Appends the event to its environment's hash chain (core/audit.ts) and returns it chained, unless an
   * event with its id is among the chain's AUDIT_DEDUPE_WINDOW newest: then appends nothing and returns
   * that one. Safe under concurrent appenders (one conditional write at the next sequence number, retried
   * on losing the race) and against a crash at any point (an append is that one write or nothing).
   */
  appendAudit(event: AuditEvent): Promise<ChainedAuditEvent>;

  /**
   * Creates a template (`expectedVersion` undefined: VersionConflictError if it exists) or replaces it
   * if its version is still `expectedVersion`; returns it with its new version.
   */
  putTemplate(template: Omit<PreviewTemplate, 'version'>, expectedVersion?: number): Promise<PreviewTemplate>;
  getTemplate(name: string): Promise<PreviewTemplate | undefined>;
  /** A team's templates (GSI query), sorted by name. */
  listTemplatesByTeam(team: string): Promise<PreviewTemplate[]>;
  /** The templates of a repository (GSI query), sorted by name: which may match a pushed branch. */
  listTemplatesByRepository(provider: GitProvider, repository: string): Promise<PreviewTemplate[]>;
  /** Deletes a template; a missing one is fine. Environments it made stay. */
  deleteTemplate(name: string): Promise<void>;

  /**
   * Creates a freeze (`expectedVersion` undefined: VersionConflictError if it exists) or replaces it if
   * its version is still `expectedVersion`; returns it with its new version.
   */
  putFreeze(freeze: Omit<Freeze, 'version'>, expectedVersion?: number): Promise<Freeze>;
  getFreeze(id: string): Promise<Freeze | undefined>;
  /** A team's freezes (GSI query), sorted by id: those that may cover its environments. */
  listFreezesByTeam(team: string): Promise<Freeze[]>;
  /** Every freeze (one GSI partition: freezes are few), sorted by id, for the freeze upkeep. */
  listAllFreezes(): Promise<Freeze[]>;
  /**
   * Records the window announced as started (`null`: none now), if the freeze is still as read (same
   * version, same announced window); the freeze as written, or undefined when it changed meanwhile.
   */
  recordFreezeAnnounced(freeze: Freeze, window: FreezeWindow | null): Promise<Freeze | undefined>;
  /** Deletes a freeze; a missing one is fine. */
  deleteFreeze(id: string): Promise<void>;

  /**
   * Claims a delivery for the queue message processing it: the first message of a delivery claims it,
   * and so does the same message again (a redelivery after a crash) or another message of a delivery
   * whose processing never finished (its first message went to the dead-letter queue). Any other
   * message of a finished delivery is a duplicate: `claimed` false, with the finished record.
   */
  claimDelivery(delivery: DeliveryRecord): Promise<{ claimed: boolean; delivery: DeliveryRecord }>;
  /** Marks a claimed delivery processed, with the environments it was recorded for. */
  finishDelivery(
    provider: GitProvider,
    deliveryId: string,
    result: Pick<DeliveryRecord, 'environments' | 'ignored'>,
  ): Promise<void>;
  /** Records a push for an environment; recording the same (delivery, arrival) again changes nothing. */
  recordPush(record: PushRecord): Promise<void>;
  /** An environment's pushes, newest first, at most `limit`. */
  listPushes(environment: string, limit: number): Promise<PushRecord[]>;
  /** Audit events of an environment, oldest first: those recorded before the chain, then the chain. */
  listAudit(environment: string): Promise<RecordedAuditEvent[]>;
  /** One page of listAudit, at most `limit` events after the opaque cursor `after`; `next` when there may be more. */
  pageAudit(
    environment: string,
    page: { limit: number; after?: string },
  ): Promise<{ events: RecordedAuditEvent[]; next?: string }>;
  /** listAudit split where the chain starts, by the items' keys (not by what an item claims): what the verifier reads. */
  readAuditTrail(environment: string): Promise<AuditTrail>;
}
