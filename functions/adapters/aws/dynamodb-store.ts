import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type TranslateConfig,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { AUDIT_DEDUPE_WINDOW, type AuditTrail, chainAuditEvent } from '../../core/audit.ts';
import { LeaseHeldError, NotFoundError, ValidationError, VersionConflictError } from '../../core/errors.ts';
import type { Freeze, FreezeWindow } from '../../core/freezes.ts';
import type {
  DeploymentChange,
  DesiredStateChange,
  ObservedStateChange,
  StackChange,
  StateStore,
} from '../../core/ports/state-store.ts';
import type {
  DeliveryRecord,
  GitProvider,
  PreviewTemplate,
  PushRecord,
  SourceBinding,
} from '../../core/pushes.ts';
import { retryOnConflict } from '../../core/requests.ts';
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
} from '../../core/types.ts';
import {
  ALL_FREEZES,
  AUDIT_CHAIN_PREFIX,
  AUDIT_PREFIX,
  auditChainKey,
  DEPLOYMENT_PREFIX,
  deliveryKey,
  deploymentKey,
  ENVIRONMENT_SORT_PREFIX,
  environmentPartition,
  envKey,
  FREEZE_SORT_PREFIX,
  freezeIndexKeys,
  freezeKey,
  type ItemKey,
  LAYOUT_ATTRIBUTES,
  LIVE_INDEX,
  LIVE_SHARDS,
  liveIndexKey,
  livePartition,
  PARTITION_KEY,
  PUSH_PREFIX,
  pushKey,
  SORT_KEY,
  SOURCE_INDEX,
  STACK_PREFIX,
  sourceIndexKey,
  stackKey,
  TEAM_INDEX,
  TEMPLATE_SORT_PREFIX,
  TTL_ATTRIBUTE,
  teamIndexKey,
  teamPartition,
  templateIndexKeys,
  templateKey,
  templatesOfRepository,
  UPKEEP_INDEX,
  upkeepIndexKey,
  upkeepPartition,
} from './table.ts';

/**
 * Document-client options the store relies on: domain objects may carry optional fields set to
 * `undefined`, which DynamoDB cannot store. Every client handed to the store must be built with them.
 */
export const DOCUMENT_CLIENT_OPTIONS: TranslateConfig = { marshallOptions: { removeUndefinedValues: true } };

type Item = Record<string, unknown>;

/** How long a delivery is remembered, so that a redelivery is a duplicate however late: 30 days. */
const DELIVERY_RETENTION_SECONDS = 30 * 24 * 3600;

const ITEM_EXISTS = `attribute_exists(${PARTITION_KEY})`;
const ITEM_ABSENT = `attribute_not_exists(${PARTITION_KEY})`;

/*
 * Fields each kind of change may write. A caller's object can carry more properties than its type
 * says; writing only these keeps `version`, `lease` and the keys out of reach of a stray property.
 * Typed as records over the change's keys so the compiler flags any field added to or removed from a port type.
 */
const DESIRED_FIELDS: Record<keyof DesiredStateChange, true> = {
  team: true,
  tier: true,
  spec: true,
  generation: true,
  status: true,
  latestDeploymentId: true,
  source: true,
  sourceHead: true,
  template: true,
  lastActivityAt: true,
  idle: true,
  rollbackWindowSeconds: true,
  resources: true,
  snoozedUntil: true,
  upkeepDue: true,
  updatedAt: true,
};
const OBSERVED_FIELDS: Record<keyof ObservedStateChange, true> = {
  status: true,
  liveStackId: true,
  liveGeneration: true,
  liveSpec: true,
  endpoint: true,
  weights: true,
  deletedAt: true,
  lastActivityAt: true,
  awakeSince: true,
  upkeepDue: true,
  sleptSpec: true,
  sleepingSince: true,
  standby: true,
  previousSpec: true,
};
const STACK_FIELDS: Record<keyof StackChange | 'updatedAt', true> = {
  status: true,
  instances: true,
  statusReason: true,
  updatedAt: true,
};
/**
 * A deployment item keeps its steps in one map attribute, step name → `{ startedAt, endedAt, detail }`,
 * each written with if_not_exists: the first record of a step counts, so a retried task leaves its step
 * as the first run recorded it, and a task records its step in the same write as its other changes.
 */
const STEPS_ATTRIBUTE = 'steps';
const DEPLOYMENT_FIELDS: Record<Exclude<keyof DeploymentChange, 'steps'>, true> = {
  status: true,
  fromStackId: true,
  toStackId: true,
  startedAt: true,
  endedAt: true,
  error: true,
  warnings: true,
  cancelRequest: true,
  approval: true,
  hold: true,
};

/**
 * Collects an UpdateItem's SET/REMOVE clauses and their `#name`/`:value` placeholders, so every
 * attribute goes through a placeholder (many of Kiln's field names, like `name` and `status`, are
 * DynamoDB reserved words).
 */
class UpdateBuilder {
  readonly #set: string[] = [];
  readonly #remove: string[] = [];
  readonly #names: Record<string, string> = {};
  readonly #values: Record<string, unknown> = {};

  /** Placeholder for an attribute name; `label` (letters and digits) names the placeholder when given. */
  name(attribute: string, label: string = attribute): string {
    const placeholder = `#${label}`;
    this.#names[placeholder] = attribute;
    return placeholder;
  }

  /** Placeholder for a value; `label` must be unique within the update. */
  value(label: string, value: unknown): string {
    const placeholder = `:${label}`;
    this.#values[placeholder] = value;
    return placeholder;
  }

  set(attribute: string, value: unknown): this {
    return this.setClause(`${this.name(attribute)} = ${this.value(attribute, value)}`);
  }

  /** Adds a SET clause written with this builder's placeholders, e.g. an increment. */
  setClause(clause: string): this {
    this.#set.push(clause);
    return this;
  }

  remove(attribute: string): this {
    this.#remove.push(this.name(attribute));
    return this;
  }

  /** SETs every allowed field of `change` that is defined, and REMOVEs those given as `null`. */
  assign(change: object, allowed: Record<string, true>): this {
    for (const [field, value] of Object.entries(change)) {
      if (value === undefined || !Object.hasOwn(allowed, field)) continue;
      if (value === null) this.remove(field);
      else this.set(field, value);
    }
    return this;
  }

  get isEmpty(): boolean {
    return this.#set.length === 0 && this.#remove.length === 0;
  }

  expression(): string {
    const clauses = [];
    if (this.#set.length > 0) clauses.push(`SET ${this.#set.join(', ')}`);
    if (this.#remove.length > 0) clauses.push(`REMOVE ${this.#remove.join(', ')}`);
    return clauses.join(' ');
  }

  get names(): Record<string, string> {
    return this.#names;
  }

  /** DynamoDB rejects an empty value map, so none is sent when no value placeholder was used. */
  get values(): Record<string, unknown> | undefined {
    return Object.keys(this.#values).length > 0 ? this.#values : undefined;
  }
}

/** The upkeep index follows `upkeepDue`: keyed while something is due, removed with it (a sparse index). */
function indexUpkeep(
  update: UpdateBuilder,
  name: string,
  change: { upkeepDue?: UpkeepDue | null },
): UpdateBuilder {
  if (change.upkeepDue) {
    const keys = upkeepIndexKey(change.upkeepDue, name);
    update.set(UPKEEP_INDEX.partitionKey, keys.gsi3pk).set(UPKEEP_INDEX.sortKey, keys.gsi3sk);
  } else if (change.upkeepDue === null) {
    update.remove(UPKEEP_INDEX.partitionKey).remove(UPKEEP_INDEX.sortKey);
  }
  return update;
}

/** The live index follows `liveStackId`: keyed while it is set, removed with it (a sparse index). */
function indexLive(update: UpdateBuilder, name: string, change: ObservedStateChange): UpdateBuilder {
  if (typeof change.liveStackId === 'string') {
    const keys = liveIndexKey(name);
    update.set(LIVE_INDEX.partitionKey, keys.gsiLivePk).set(LIVE_INDEX.sortKey, keys.gsiLiveSk);
  } else if (change.liveStackId === null) {
    update.remove(LIVE_INDEX.partitionKey).remove(LIVE_INDEX.sortKey);
  }
  return update;
}

/** An update applying a workflow's observation, the indexes that follow it included. */
function observedUpdate(name: string, change: ObservedStateChange): UpdateBuilder {
  return indexLive(
    indexUpkeep(new UpdateBuilder().assign(change, OBSERVED_FIELDS), name, change),
    name,
    change,
  );
}

function isConditionalCheckFailed(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/** The domain object an item stores, without the table's key and index attributes. */
function toDomain<T>(item: Item): T {
  return Object.fromEntries(
    Object.entries(item).filter(([attribute]) => !LAYOUT_ATTRIBUTES.has(attribute)),
  ) as T;
}

type QueryInput = Omit<QueryCommandInput, 'TableName'>;

/** Items of an environment whose sort key starts with `sortKeyPrefix`; consistent, as base-table reads can be. */
function partitionPrefixQuery(environment: string, sortKeyPrefix: string): QueryInput {
  return {
    KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
    ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#sk': SORT_KEY },
    ExpressionAttributeValues: { ':pk': environmentPartition(environment), ':prefix': sortKeyPrefix },
    ConsistentRead: true,
  };
}

function byStartedAt(a: DeploymentStep, b: DeploymentStep): number {
  return a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0;
}

/** A deployment as the domain sees it: its steps map becomes a list ordered by start. */
function toDeployment(item: Item): Deployment {
  const { [STEPS_ATTRIBUTE]: steps, ...rest } = toDomain<Deployment & { steps?: unknown }>(item);
  const recorded = (steps ?? {}) as Record<string, Omit<DeploymentStep, 'name'>>;
  return {
    ...rest,
    steps: Object.entries(recorded)
      .map(([name, step]) => ({ name, ...step }))
      .sort(byStartedAt),
  };
}

/** SETs each step under `steps.<name>` unless that step is recorded already. */
function recordSteps(update: UpdateBuilder, steps: readonly DeploymentStep[]): void {
  const map = update.name(STEPS_ATTRIBUTE);
  steps.forEach(({ name, ...step }, index) => {
    const path = `${map}.${update.name(name, `step${index}`)}`;
    update.setClause(`${path} = if_not_exists(${path}, ${update.value(`step${index}`, step)})`);
  });
}

/** The sort key an audit page's cursor stands for; ValidationError for a cursor no page gave. */
function auditSortKeyOf(cursor: string): string {
  const sortKey = Buffer.from(cursor, 'base64url').toString();
  if (!sortKey.startsWith(AUDIT_PREFIX)) {
    throw new ValidationError('cursor is not one an audit page gave', [
      { path: 'cursor', message: 'is not a cursor of this list' },
    ]);
  }
  return sortKey;
}

function isInvalidDocumentPath(error: unknown): boolean {
  return (
    error instanceof Error && error.name === 'ValidationException' && /document path/i.test(error.message)
  );
}

/**
 * StateStore on one DynamoDB table (layout in table.ts). Every write is a single conditional
 * item operation; reads of the base table are strongly consistent, so a workflow sees its own writes.
 */
export class DynamoDbStateStore implements StateStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  /** `client` must be built with DOCUMENT_CLIENT_OPTIONS. */
  constructor({ client, tableName }: { client: DynamoDBDocumentClient; tableName: string }) {
    this.#client = client;
    this.#tableName = tableName;
  }

  async getEnvironment(name: string): Promise<Environment | undefined> {
    return this.#getDomain<Environment>(envKey(name));
  }

  async listEnvironmentsByTeam(team: string): Promise<Environment[]> {
    return this.#queryIndex<Environment>(TEAM_INDEX, teamPartition(team), ENVIRONMENT_SORT_PREFIX);
  }

  async listUpkeepDue(
    action: UpkeepDue['action'],
    shard: number,
    dueBy: string,
    page: { limit: number; after?: string },
  ): Promise<{ environments: Environment[]; next?: string }> {
    // Sort keys are `<due time>#ENV#<name>`: every key of a time at or before `dueBy` sorts below `<dueBy>$`.
    const { Items, LastEvaluatedKey } = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        IndexName: UPKEEP_INDEX.name,
        KeyConditionExpression: '#pk = :pk AND #sk < :before',
        ExpressionAttributeNames: { '#pk': UPKEEP_INDEX.partitionKey, '#sk': UPKEEP_INDEX.sortKey },
        ExpressionAttributeValues: { ':pk': upkeepPartition(action, shard), ':before': `${dueBy}$` },
        Limit: page.limit,
        ...(page.after ? { ExclusiveStartKey: JSON.parse(page.after) as Item } : {}),
      }),
    );
    return {
      environments: (Items ?? []).map((item) => toDomain<Environment>(item)),
      ...(LastEvaluatedKey ? { next: JSON.stringify(LastEvaluatedKey) } : {}),
    };
  }

  async listEnvironmentsBySource(source: SourceBinding): Promise<Environment[]> {
    const { gsi2pk } = sourceIndexKey(source, '');
    return this.#queryIndex<Environment>(SOURCE_INDEX, gsi2pk, ENVIRONMENT_SORT_PREFIX);
  }

  async listLiveEnvironments(): Promise<Environment[]> {
    const shards = await Promise.all(
      Array.from({ length: LIVE_SHARDS }, (_, shard) =>
        this.#queryIndex<Environment>(LIVE_INDEX, livePartition(shard), ENVIRONMENT_SORT_PREFIX),
      ),
    );
    return shards.flat().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async createEnvironment(environment: Environment): Promise<void> {
    const item = {
      ...environment,
      ...envKey(environment.name),
      ...teamIndexKey(environment.team, environment.name),
      ...(environment.source ? sourceIndexKey(environment.source, environment.name) : {}),
      ...(environment.upkeepDue ? upkeepIndexKey(environment.upkeepDue, environment.name) : {}),
    };
    if (!(await this.#putIfAbsent(item))) {
      throw new VersionConflictError(`environment ${environment.name} already exists`);
    }
  }

  async updateDesiredState(
    name: string,
    expectedVersion: number,
    change: DesiredStateChange,
  ): Promise<Environment> {
    const update = indexUpkeep(new UpdateBuilder().assign(change, DESIRED_FIELDS), name, change);
    if (change.team !== undefined) update.set(TEAM_INDEX.partitionKey, teamPartition(change.team));
    // The source index follows the binding: set with it, removed with it (a sparse index).
    if (change.source) {
      const keys = sourceIndexKey(change.source, name);
      update.set(SOURCE_INDEX.partitionKey, keys.gsi2pk).set(SOURCE_INDEX.sortKey, keys.gsi2sk);
    } else if (change.source === null) {
      update.remove(SOURCE_INDEX.partitionKey).remove(SOURCE_INDEX.sortKey);
    }
    const version = update.name('version');
    update.setClause(`${version} = ${version} + ${update.value('one', 1)}`);
    const condition = `${version} = ${update.value('expectedVersion', expectedVersion)}`;
    const updated = await this.#update(envKey(name), update, condition);
    if (updated) return toDomain<Environment>(updated);
    return this.#throwVersionConflict(name, expectedVersion);
  }

  async updateObservedState(name: string, change: ObservedStateChange): Promise<void> {
    await this.#updateExisting(envKey(name), observedUpdate(name, change), `environment ${name}`);
  }

  async acquireLease(
    name: string,
    lease: Lease,
    reclaimFrom?: string,
    change: ObservedStateChange = {},
  ): Promise<void> {
    const update = observedUpdate(name, change).set('lease', lease);
    const leaseAttribute = update.name('lease');
    const takeover =
      reclaimFrom === undefined
        ? ''
        : ` OR ${leaseAttribute}.${update.name('holder')} = ${update.value('reclaimFrom', reclaimFrom)}`;
    const condition = `${ITEM_EXISTS} AND (attribute_not_exists(${leaseAttribute})${takeover})`;
    if (await this.#update(envKey(name), update, condition)) return;

    // Refused: find out by whom. A retry by the current holder is a no-op that keeps its acquiredAt.
    const current = await this.getEnvironment(name);
    if (!current) throw new NotFoundError(`environment ${name} does not exist`);
    if (current.lease === undefined) return this.acquireLease(name, lease, reclaimFrom, change); // released meanwhile
    if (current.lease.holder !== lease.holder) {
      throw new LeaseHeldError(`environment ${name} is being deployed by ${current.lease.holder}`);
    }
  }

  async releaseLease(name: string, holder: string, change: ObservedStateChange = {}): Promise<boolean> {
    const update = observedUpdate(name, change).remove('lease');
    const condition = `${update.name('lease')}.${update.name('holder')} = ${update.value('holder', holder)}`;
    // A failed condition means the lease is already gone or someone else's: nothing to release.
    return (await this.#update(envKey(name), update, condition)) !== undefined;
  }

  async putStackIfAbsent(stack: Stack): Promise<Stack> {
    const key = stackKey(stack.environment, stack.generation);
    if (await this.#putIfAbsent({ ...stack, ...key })) return stack;
    const existing = await this.#getDomain<Stack>(key);
    if (!existing) throw new Error(`stack ${stack.stackId} existed, then vanished before it could be read`);
    return existing;
  }

  async getStack(environment: string, generation: number): Promise<Stack | undefined> {
    return this.#getDomain<Stack>(stackKey(environment, generation));
  }

  async listStacks(environment: string): Promise<Stack[]> {
    return this.#queryPartition<Stack>(environment, STACK_PREFIX);
  }

  async updateStack(
    environment: string,
    generation: number,
    change: StackChange & { updatedAt: string },
  ): Promise<Stack> {
    const update = new UpdateBuilder().assign(change, STACK_FIELDS);
    const description = `stack ${generation} of environment ${environment}`;
    return toDomain<Stack>(
      await this.#updateExisting(stackKey(environment, generation), update, description),
    );
  }

  async createDeployment(deployment: Deployment): Promise<void> {
    const item = {
      ...deployment,
      [STEPS_ATTRIBUTE]: Object.fromEntries(
        (deployment.steps ?? []).map(({ name, ...step }) => [name, step]),
      ),
      ...deploymentKey(deployment.environment, deployment.id),
    };
    if (!(await this.#putIfAbsent(item))) {
      throw new VersionConflictError(`deployment ${deployment.id} already exists`);
    }
  }

  async getDeployment(environment: string, id: string): Promise<Deployment | undefined> {
    const item = await this.#get(deploymentKey(environment, id));
    return item && toDeployment(item);
  }

  async listDeployments(environment: string, limit: number): Promise<Deployment[]> {
    if (limit < 1) return []; // DynamoDB rejects a Limit below 1
    const newestFirst = { ...partitionPrefixQuery(environment, DEPLOYMENT_PREFIX), ScanIndexForward: false };
    const items = await this.#query(newestFirst, limit);
    return items.map(toDeployment);
  }

  async updateDeployment(
    environment: string,
    id: string,
    change: DeploymentChange,
    ifStatus?: DeploymentStatus,
  ): Promise<Deployment> {
    const key = deploymentKey(environment, id);
    const build = () => {
      const update = new UpdateBuilder().assign(change, DEPLOYMENT_FIELDS);
      if (change.steps?.length) recordSteps(update, change.steps);
      return update;
    };
    const description = `deployment ${id} of environment ${environment}`;
    if (ifStatus) {
      const update = build();
      const condition = `${update.name('status', 'currentStatus')} = ${update.value('ifStatus', ifStatus)}`;
      const updated = await this.#update(key, update, `${ITEM_EXISTS} AND ${condition}`);
      if (updated) return toDeployment(updated);
      const current = await this.getDeployment(environment, id);
      if (!current) throw new NotFoundError(`${description} does not exist`);
      throw new VersionConflictError(`${description} is ${current.status}, no longer ${ifStatus}`);
    }
    try {
      return toDeployment(await this.#updateExisting(key, build(), description));
    } catch (error) {
      if (!isInvalidDocumentPath(error)) throw error;
      // A deployment recorded before steps lived in its item has no steps map yet: add it, then write.
      await this.#update(
        key,
        new UpdateBuilder().set(STEPS_ATTRIBUTE, {}),
        `attribute_not_exists(#${STEPS_ATTRIBUTE})`,
      );
      return toDeployment(await this.#updateExisting(key, build(), description));
    }
  }

  /**
   * Reads the chain's newest events (one consistent query), returns the event if its id is among them,
   * else writes it as the next sequence number if that is still free. Losing that race to a concurrent
   * appender changes nothing: re-read and try again (retryOnConflict's jittered backoff).
   */
  async appendAudit(event: AuditEvent): Promise<ChainedAuditEvent> {
    return retryOnConflict(undefined, async () => {
      const newest = await this.#query(
        { ...partitionPrefixQuery(event.environment, AUDIT_CHAIN_PREFIX), ScanIndexForward: false },
        AUDIT_DEDUPE_WINDOW,
      );
      const tail = newest.map((item) => toDomain<ChainedAuditEvent>(item));
      const recorded = tail.find((candidate) => candidate.id === event.id);
      if (recorded) return recorded;
      const chained = chainAuditEvent(event, tail[0]);
      if (await this.#putIfAbsent({ ...chained, ...auditChainKey(event.environment, chained.sequence) })) {
        return chained;
      }
      throw new VersionConflictError(
        `event ${chained.sequence} of the audit chain of ${event.environment} was appended meanwhile`,
      );
    });
  }

  async listAudit(environment: string): Promise<RecordedAuditEvent[]> {
    return this.#queryPartition<RecordedAuditEvent>(environment, AUDIT_PREFIX);
  }

  async pageAudit(
    environment: string,
    page: { limit: number; after?: string },
  ): Promise<{ events: RecordedAuditEvent[]; next?: string }> {
    const { Items, LastEvaluatedKey } = await this.#client.send(
      new QueryCommand({
        ...partitionPrefixQuery(environment, AUDIT_PREFIX),
        TableName: this.#tableName,
        Limit: page.limit,
        ...(page.after
          ? { ExclusiveStartKey: { pk: environmentPartition(environment), sk: auditSortKeyOf(page.after) } }
          : {}),
      }),
    );
    return {
      events: (Items ?? []).map((item) => toDomain<RecordedAuditEvent>(item)),
      ...(LastEvaluatedKey
        ? { next: Buffer.from(String(LastEvaluatedKey[SORT_KEY])).toString('base64url') }
        : {}),
    };
  }

  async readAuditTrail(environment: string): Promise<AuditTrail> {
    const items = await this.#query(partitionPrefixQuery(environment, AUDIT_PREFIX));
    const trail: AuditTrail = { beforeChain: [], chain: [] };
    for (const item of items) {
      if (String(item[SORT_KEY]).startsWith(AUDIT_CHAIN_PREFIX)) trail.chain.push(toDomain(item));
      else trail.beforeChain.push(toDomain(item));
    }
    return trail;
  }

  async putTemplate(
    template: Omit<PreviewTemplate, 'version'>,
    expectedVersion?: number,
  ): Promise<PreviewTemplate> {
    const stored: PreviewTemplate = { ...template, version: (expectedVersion ?? 0) + 1 };
    const item = { ...stored, ...templateKey(template.name), ...templateIndexKeys(template) };
    await this.#putVersioned(`template ${template.name}`, item, expectedVersion, () =>
      this.getTemplate(template.name),
    );
    return stored;
  }

  async getTemplate(name: string): Promise<PreviewTemplate | undefined> {
    return this.#getDomain<PreviewTemplate>(templateKey(name));
  }

  async listTemplatesByTeam(team: string): Promise<PreviewTemplate[]> {
    return this.#queryIndex<PreviewTemplate>(TEAM_INDEX, teamPartition(team), TEMPLATE_SORT_PREFIX);
  }

  async listTemplatesByRepository(provider: GitProvider, repository: string): Promise<PreviewTemplate[]> {
    return this.#queryIndex<PreviewTemplate>(
      SOURCE_INDEX,
      templatesOfRepository(provider, repository),
      TEMPLATE_SORT_PREFIX,
    );
  }

  async deleteTemplate(name: string): Promise<void> {
    await this.#client.send(new DeleteCommand({ TableName: this.#tableName, Key: templateKey(name) }));
  }

  async putFreeze(freeze: Omit<Freeze, 'version'>, expectedVersion?: number): Promise<Freeze> {
    const stored = { ...freeze, version: (expectedVersion ?? 0) + 1 } as Freeze;
    const item = { ...stored, ...freezeKey(freeze.id), ...freezeIndexKeys(freeze) };
    await this.#putVersioned(`freeze ${freeze.id}`, item, expectedVersion, () => this.getFreeze(freeze.id));
    return stored;
  }

  async getFreeze(id: string): Promise<Freeze | undefined> {
    return this.#getDomain<Freeze>(freezeKey(id));
  }

  async listFreezesByTeam(team: string): Promise<Freeze[]> {
    return this.#queryIndex<Freeze>(TEAM_INDEX, teamPartition(team), FREEZE_SORT_PREFIX);
  }

  async listAllFreezes(): Promise<Freeze[]> {
    return this.#queryIndex<Freeze>(SOURCE_INDEX, ALL_FREEZES, FREEZE_SORT_PREFIX);
  }

  async recordFreezeAnnounced(freeze: Freeze, window: FreezeWindow | null): Promise<Freeze | undefined> {
    const update = new UpdateBuilder();
    if (window) update.set('announced', window);
    else update.remove('announced');
    const announced = update.name('announced');
    const condition =
      `${update.name('version')} = ${update.value('expectedVersion', freeze.version)} AND ` +
      (freeze.announced
        ? `${announced}.${update.name('start')} = ${update.value('announcedStart', freeze.announced.start)}`
        : `attribute_not_exists(${announced})`);
    const written = await this.#update(freezeKey(freeze.id), update, condition);
    return written && toDomain<Freeze>(written);
  }

  async deleteFreeze(id: string): Promise<void> {
    await this.#client.send(new DeleteCommand({ TableName: this.#tableName, Key: freezeKey(id) }));
  }

  async claimDelivery(delivery: DeliveryRecord): Promise<{ claimed: boolean; delivery: DeliveryRecord }> {
    const key = deliveryKey(delivery.provider, delivery.deliveryId);
    // Kept long after GitHub's redelivery window (a person can redeliver by hand, days later).
    const expiresAt = Math.floor(Date.parse(delivery.receivedAt) / 1000) + DELIVERY_RETENTION_SECONDS;
    if (await this.#putIfAbsent({ ...delivery, ...key, [TTL_ATTRIBUTE]: expiresAt })) {
      return { claimed: true, delivery };
    }
    const update = new UpdateBuilder().set('claimedBy', delivery.claimedBy);
    const unfinished = `attribute_not_exists(${update.name('environments')}) AND attribute_not_exists(${update.name('ignored')})`;
    const taken = await this.#update(key, update, `${ITEM_EXISTS} AND ${unfinished}`);
    if (taken) return { claimed: true, delivery: toDomain<DeliveryRecord>(taken) };
    const finished = await this.#getDomain<DeliveryRecord>(key);
    if (!finished) throw new Error(`delivery ${delivery.deliveryId} vanished while being claimed`);
    return { claimed: finished.claimedBy === delivery.claimedBy, delivery: finished };
  }

  async finishDelivery(
    provider: GitProvider,
    deliveryId: string,
    result: Pick<DeliveryRecord, 'environments' | 'ignored'>,
  ): Promise<void> {
    const update = new UpdateBuilder().set('environments', result.environments ?? []);
    if (result.ignored) update.set('ignored', result.ignored);
    await this.#updateExisting(deliveryKey(provider, deliveryId), update, `delivery ${deliveryId}`);
  }

  async recordPush(record: PushRecord): Promise<void> {
    await this.#putIfAbsent({ ...record, ...pushKey(record.environment, record) });
  }

  async listPushes(environment: string, limit: number): Promise<PushRecord[]> {
    if (limit < 1) return [];
    const newestFirst = { ...partitionPrefixQuery(environment, PUSH_PREFIX), ScanIndexForward: false };
    const items = await this.#query(newestFirst, limit);
    return items.map((item) => toDomain<PushRecord>(item));
  }

  /** The items of one index partition whose sort key starts with `sortKeyPrefix`, in sort-key order. */
  async #queryIndex<T>(
    index: { name: string; partitionKey: string; sortKey: string },
    partition: string,
    sortKeyPrefix: string,
  ): Promise<T[]> {
    const items = await this.#query({
      IndexName: index.name,
      KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
      ExpressionAttributeNames: { '#pk': index.partitionKey, '#sk': index.sortKey },
      ExpressionAttributeValues: { ':pk': partition, ':prefix': sortKeyPrefix },
    });
    return items.map((item) => toDomain<T>(item));
  }

  async #get(key: ItemKey): Promise<Item | undefined> {
    const { Item } = await this.#client.send(
      new GetCommand({ TableName: this.#tableName, Key: key, ConsistentRead: true }),
    );
    return Item;
  }

  async #getDomain<T>(key: ItemKey): Promise<T | undefined> {
    const item = await this.#get(key);
    return item && toDomain<T>(item);
  }

  /**
   * Creates `item` (`expectedVersion` undefined: VersionConflictError if its key is taken) or replaces
   * it if its stored version is still `expectedVersion` (`what` names it in the errors).
   */
  async #putVersioned(
    what: string,
    item: Item & ItemKey,
    expectedVersion: number | undefined,
    current: () => Promise<{ version: number } | undefined>,
  ): Promise<void> {
    if (expectedVersion === undefined) {
      if (await this.#putIfAbsent(item)) return;
      throw new VersionConflictError(`${what} already exists`);
    }
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: item,
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: { '#version': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const stored = await current();
      if (!stored) throw new NotFoundError(`${what} does not exist`);
      throw new VersionConflictError(
        `${what} is at version ${stored.version}, not the expected version ${expectedVersion}`,
      );
    }
  }

  /** Writes `item` unless its key is taken; false when it was. */
  async #putIfAbsent(item: Item & ItemKey): Promise<boolean> {
    try {
      await this.#client.send(
        new PutCommand({ TableName: this.#tableName, Item: item, ConditionExpression: ITEM_ABSENT }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }

  /** Applies `update` if `condition` holds; the item as written, or undefined when the condition failed. */
  async #update(key: ItemKey, update: UpdateBuilder, condition?: string): Promise<Item | undefined> {
    try {
      const { Attributes } = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: key,
          UpdateExpression: update.expression(),
          ConditionExpression: condition,
          ExpressionAttributeNames: update.names,
          ExpressionAttributeValues: update.values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw error;
    }
  }

  /** Updates an item that must exist (NotFoundError otherwise); an empty update only checks that it does. */
  async #updateExisting(key: ItemKey, update: UpdateBuilder, description: string): Promise<Item> {
    const item = update.isEmpty ? await this.#get(key) : await this.#update(key, update, ITEM_EXISTS);
    if (!item) throw new NotFoundError(`${description} does not exist`);
    return item;
  }

  /** Explains a failed version check: the environment is gone, or it moved past `expectedVersion`. */
  async #throwVersionConflict(name: string, expectedVersion: number): Promise<never> {
    const current = await this.getEnvironment(name);
    if (!current) throw new NotFoundError(`environment ${name} does not exist`);
    throw new VersionConflictError(
      `environment ${name} is at version ${current.version}, not the expected version ${expectedVersion}`,
    );
  }

  /** All items of an environment whose sort key starts with `sortKeyPrefix`, in sort-key order. */
  async #queryPartition<T>(environment: string, sortKeyPrefix: string): Promise<T[]> {
    const items = await this.#query(partitionPrefixQuery(environment, sortKeyPrefix));
    return items.map((item) => toDomain<T>(item));
  }

  /** Runs a query page after page (DynamoDB returns at most 1 MB at a time), stopping at `limit` items. */
  async #query(input: QueryInput, limit = Number.POSITIVE_INFINITY): Promise<Item[]> {
    const items: Item[] = [];
    let startKey: Item | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          ...input,
          TableName: this.#tableName,
          ExclusiveStartKey: startKey,
          Limit: Number.isFinite(limit) ? limit - items.length : undefined,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined && items.length < limit);
    return items;
  }
}
