import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { UPKEEP_SHARDS } from '../../core/idle.ts';
import type { UpkeepDue } from '../../core/types.ts';

/**
 * Shape of Kiln's single DynamoDB table. The store, the embedded runtime and the CDK construct all
 * read it from here, so the key layout cannot drift between production and local runs.
 *
 * Every item of an environment shares the partition `ENV#<name>`; the sort key says what it is:
 * `META` (the environment), `STACK#0007`, `DEPLOY#<id>` (with its steps), `AUDIT#CHAIN#000000000042`
 * (the 42nd event of its audit chain). An older Kiln wrote audit events unchained, as `AUDIT#<at>#<event id>`:
 * they sort before the chain (a time starts with a digit) and are listed as recorded before it.
 */

/** Key attribute names of the base table. */
export const PARTITION_KEY = 'pk';
export const SORT_KEY = 'sk';

/**
 * Sparse GSI listing a team's environments: only environment items carry its keys
 * (`TEAM#<team>` / `ENV#<name>`), so a query returns environments and nothing else, sorted by name.
 */
export const TEAM_INDEX = { name: 'byTeam', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' } as const;

/**
 * Sparse GSI of what follows a repository: an environment bound to a branch carries
 * `SOURCE#<provider>#<repository>#<branch>` / `ENV#<name>`, a preview template
 * `TEMPLATES#<provider>#<repository>` / `TEMPLATE#<name>`. A push finds what it concerns by a query.
 * Every freeze carries `FREEZES` / `FREEZE#<id>` (freezes are few: one partition lists them all).
 */
export const SOURCE_INDEX = { name: 'bySource', partitionKey: 'gsi2pk', sortKey: 'gsi2sk' } as const;

/**
 * Sparse GSI of the upkeep Kiln owes: an environment carries `UPKEEP#<sleep|wake>#<shard>` /
 * `<due time>#ENV#<name>` only while something is due (see core/idle.ts), so the idle sweep queries
 * what is due and nothing else. The partition is split over UPKEEP_SHARDS shards by a hash of the name:
 * a hundred thousand environments never share one hot index partition.
 */
export const UPKEEP_INDEX = { name: 'byUpkeepDue', partitionKey: 'gsi3pk', sortKey: 'gsi3sk' } as const;

/**
 * Sparse GSI of the environments that have a live stack (what the drift check walks): an environment
 * carries `LIVE#<shard>` / `ENV#<name>` exactly while its `liveStackId` is set, written by the store in
 * the same update that sets or removes it. The shard, a hash of the name over LIVE_SHARDS partitions,
 * spreads the environments so that no partition of the index gets hot; a listing queries every shard.
 */
export const LIVE_INDEX = { name: 'byLive', partitionKey: 'gsiLivePk', sortKey: 'gsiLiveSk' } as const;
export const LIVE_SHARDS = 16;

/** Every GSI of the table, in the order they were added: created with it (embedded and CDK alike). */
export const INDEXES = [TEAM_INDEX, SOURCE_INDEX, UPKEEP_INDEX, LIVE_INDEX] as const;

/** Epoch-seconds attribute DynamoDB expires items by (enabled by CDK; dynalite never expires anything). */
export const TTL_ATTRIBUTE = 'expiresAt';

/** Attributes that belong to the table layout rather than to the domain object stored in an item. */
export const LAYOUT_ATTRIBUTES: ReadonlySet<string> = new Set([
  PARTITION_KEY,
  SORT_KEY,
  ...INDEXES.flatMap((index) => [index.partitionKey, index.sortKey]),
  TTL_ATTRIBUTE,
]);

/** Primary key of one item. */
export interface ItemKey {
  pk: string;
  sk: string;
}

/** Team-index keys an environment item carries. */
export interface TeamIndexKey {
  gsi1pk: string;
  gsi1sk: string;
}

/** Sort-key prefixes for the queries that list one kind of item of an environment. */
export const STACK_PREFIX = 'STACK#';
export const DEPLOYMENT_PREFIX = 'DEPLOY#';
export const AUDIT_PREFIX = 'AUDIT#';
/** Within AUDIT_PREFIX: the chained events, keyed by sequence number. */
export const AUDIT_CHAIN_PREFIX = `${AUDIT_PREFIX}CHAIN#`;
export const PUSH_PREFIX = 'PUSH#';
export const ENVIRONMENT_SORT_PREFIX = 'ENV#';
export const TEMPLATE_SORT_PREFIX = 'TEMPLATE#';

/** Partition holding every item of an environment. */
export function environmentPartition(environment: string): string {
  return `ENV#${environment}`;
}

export function envKey(name: string): ItemKey {
  return { pk: environmentPartition(name), sk: 'META' };
}

/** Team-index partition of a team's environments. */
export function teamPartition(team: string): string {
  return `TEAM#${team}`;
}

export function teamIndexKey(team: string, name: string): TeamIndexKey {
  return { gsi1pk: teamPartition(team), gsi1sk: environmentPartition(name) };
}

/** Source-index keys of an environment that follows a branch. */
export function sourceIndexKey(
  source: { provider: string; repository: string; branch: string },
  name: string,
): { gsi2pk: string; gsi2sk: string } {
  return {
    gsi2pk: `SOURCE#${source.provider}#${source.repository}#${source.branch}`,
    gsi2sk: environmentPartition(name),
  };
}

/** The upkeep-index partition of one shard of one kind of upkeep. */
export function upkeepPartition(action: UpkeepDue['action'], shard: number): string {
  return `UPKEEP#${action}#${shard}`;
}

/** Upkeep-index keys of an environment owing `due`: sorted by due time within its shard. */
export function upkeepIndexKey(due: UpkeepDue, name: string): { gsi3pk: string; gsi3sk: string } {
  return {
    gsi3pk: upkeepPartition(due.action, upkeepShardOf(name)),
    gsi3sk: `${due.at}#${environmentPartition(name)}`,
  };
}

/** A stable upkeep shard in [0, UPKEEP_SHARDS) for an environment name. */
export function upkeepShardOf(name: string): number {
  return shardOf(name, UPKEEP_SHARDS);
}

/** Live-index keys of an environment with a live stack. */
export function liveIndexKey(name: string): { gsiLivePk: string; gsiLiveSk: string } {
  return { gsiLivePk: livePartition(shardOf(name, LIVE_SHARDS)), gsiLiveSk: environmentPartition(name) };
}

/** The live-index partition of one shard (0 … LIVE_SHARDS-1). */
export function livePartition(shard: number): string {
  return `LIVE#${shard}`;
}

/**
 * The keys of indexes an item derives from its own attributes, for an item written before those indexes
 * existed (the embedded database's layout upgrade): an environment with a live stack gets its live-index
 * keys.
 */
export function derivedIndexKeys(item: Record<string, unknown>): Record<string, string> {
  const { pk, sk, liveStackId } = item;
  const isEnvironment = typeof pk === 'string' && pk.startsWith(ENVIRONMENT_SORT_PREFIX) && sk === 'META';
  if (!isEnvironment || typeof liveStackId !== 'string') return {};
  return liveIndexKey(pk.slice(ENVIRONMENT_SORT_PREFIX.length));
}

/** A stable shard in [0, shards) for an environment name (FNV-1a). */
function shardOf(name: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (const char of name) {
    hash ^= char.codePointAt(0) as number;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** A template item: its own partition; team and repository indexes. */
export function templateKey(name: string): ItemKey {
  return { pk: `${TEMPLATE_SORT_PREFIX}${name}`, sk: 'META' };
}

export function templateIndexKeys(template: {
  name: string;
  team: string;
  source: { provider: string; repository: string };
}): Record<string, string> {
  return {
    gsi1pk: teamPartition(template.team),
    gsi1sk: `${TEMPLATE_SORT_PREFIX}${template.name}`,
    gsi2pk: templatesOfRepository(template.source.provider, template.source.repository),
    gsi2sk: `${TEMPLATE_SORT_PREFIX}${template.name}`,
  };
}

export function templatesOfRepository(provider: string, repository: string): string {
  return `TEMPLATES#${provider}#${repository}`;
}

export const FREEZE_SORT_PREFIX = 'FREEZE#';

/** Where every freeze is listed (the source index's partition `FREEZES`): the freeze upkeep reads them all. */
export const ALL_FREEZES = 'FREEZES';

/** A freeze item: its own partition; listed by its team and among all freezes. */
export function freezeKey(id: string): ItemKey {
  return { pk: `${FREEZE_SORT_PREFIX}${id}`, sk: 'META' };
}

export function freezeIndexKeys(freeze: { id: string; team: string }): Record<string, string> {
  return {
    gsi1pk: teamPartition(freeze.team),
    gsi1sk: `${FREEZE_SORT_PREFIX}${freeze.id}`,
    gsi2pk: ALL_FREEZES,
    gsi2sk: `${FREEZE_SORT_PREFIX}${freeze.id}`,
  };
}

/** A delivery's dedupe item, by provider and delivery id. */
export function deliveryKey(provider: string, deliveryId: string): ItemKey {
  return { pk: `DELIVERY#${provider}#${deliveryId}`, sk: 'META' };
}

/** A push record in its environment's partition, newest last; one per delivery and arrival. */
export function pushKey(
  environment: string,
  record: { receivedAt: string; deliveryId: string; arrival?: string },
): ItemKey {
  const arrival = record.arrival ? `#dup#${record.arrival}` : '';
  return {
    pk: environmentPartition(environment),
    sk: `${PUSH_PREFIX}${record.receivedAt}#${record.deliveryId}${arrival}`,
  };
}

/** Generation zero-padded to 4 digits so stacks sort oldest first, like their stack ids. */
export function stackKey(environment: string, generation: number): ItemKey {
  return {
    pk: environmentPartition(environment),
    sk: `${STACK_PREFIX}${String(generation).padStart(4, '0')}`,
  };
}

/** Deployment ids sort by creation time, so this key lists deployments chronologically. */
export function deploymentKey(environment: string, id: string): ItemKey {
  return { pk: environmentPartition(environment), sk: `${DEPLOYMENT_PREFIX}${id}` };
}

/**
 * The `sequence`th event of an environment's audit chain, zero-padded to 12 digits so the chain pages in
 * order. Writing it only if absent is the chain's linearization point: one event per sequence number.
 */
export function auditChainKey(environment: string, sequence: number): ItemKey {
  return {
    pk: environmentPartition(environment),
    sk: `${AUDIT_CHAIN_PREFIX}${String(sequence).padStart(12, '0')}`,
  };
}

/** CreateTable request for the table; on-demand billing, the team index projects whole items. */
export function createTableInput(tableName: string): CreateTableCommandInput {
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      PARTITION_KEY,
      SORT_KEY,
      ...INDEXES.flatMap((i) => [i.partitionKey, i.sortKey]),
    ].map((attribute) => ({ AttributeName: attribute, AttributeType: 'S' })),
    KeySchema: [
      { AttributeName: PARTITION_KEY, KeyType: 'HASH' },
      { AttributeName: SORT_KEY, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: INDEXES.map((index) => ({
      IndexName: index.name,
      KeySchema: [
        { AttributeName: index.partitionKey, KeyType: 'HASH' },
        { AttributeName: index.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    })),
  };
}
