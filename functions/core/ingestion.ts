import { createHash } from 'node:crypto';
import type { Actor } from './actors.ts';
import type { RequestPorts } from './ports/index.ts';
import type { PreviewTemplate, Push, PushOutcome, PushRecord } from './pushes.ts';
import { deleteEnvironment, deployPushedCommit, putEnvironment } from './requests.ts';
import type { Environment } from './types.ts';

/**
 * Ingesting a Git push (the queue consumer calls it once per delivered message). Every decision is
 * recorded per environment (GET /environments/{name}/pushes), so that nothing accepted disappears:
 * - Deduplicated: a delivery (GitHub's delivery id, the EventBridge event id) is processed once however
 *   often and however late it arrives; a later arrival is recorded as a `duplicate`, nothing more.
 * - Ordered: a push older than the one an environment follows (by head commit time), or of a commit it
 *   follows already, is `stale` and deploys nothing.
 * - Coalesced: of the pushes to one branch delivered together, only the newest deploys; the others are
 *   `superseded`. (A deployment still queued when a newer push arrives is superseded by the deployment
 *   queue itself: newest wins.) Pushes to different branches never wait on each other: the queue keeps
 *   one ordered group per branch.
 * - Preview environments: a push creating or updating a branch that a template's glob matches, with no
 *   environment for it yet, creates `<template>-<branch slug>` from the template and deploys the commit;
 *   a push deleting the branch tears that environment down.
 * Safe to run again for the same message (a crash halfway, a redelivery): every step finds what it
 * already did.
 */

/** How this arrival of the push relates to the others delivered with it. */
export interface Arrival {
  /** The queue message carrying it: a second message of the same delivery is a duplicate. */
  messageId: string;
  /** A newer push to the same branch delivered in the same batch, which deploys instead of this one. */
  supersededBy?: Push;
}

/** What ingesting one push did, per environment. */
export interface Ingested {
  /** The records written, one per environment the push concerns. */
  records: PushRecord[];
  /** Why nothing concerned it, when nothing did. */
  ignored?: string;
}

export async function ingestPush(ports: RequestPorts, arrived: Push, arrival: Arrival): Promise<Ingested> {
  const { store } = ports;
  const claim = await store.claimDelivery({
    provider: arrived.provider,
    deliveryId: arrived.deliveryId,
    claimedBy: arrival.messageId,
    receivedAt: arrived.receivedAt,
  });
  // Taking over a claim that an arrival crashed with, this one writes the very records it would have
  // (they are keyed by the first arrival's time), so that a delivery is recorded once as received.
  const push = claim.claimed ? { ...arrived, receivedAt: claim.delivery.receivedAt } : arrived;
  if (!claim.claimed) {
    const records = (claim.delivery.environments ?? []).map((environment) =>
      pushRecord(
        push,
        environment,
        {
          outcome: 'duplicate',
          reason: `delivery ${push.deliveryId} was processed on its first arrival (${claim.delivery.receivedAt})`,
        },
        arrival.messageId,
      ),
    );
    for (const record of records) await store.recordPush(record);
    return { records, ...(claim.delivery.ignored ? { ignored: claim.delivery.ignored } : {}) };
  }

  const actor = pushActor(push);
  const bound = await store.listEnvironmentsBySource(push);
  const records: PushRecord[] = [];
  for (const environment of bound) {
    records.push(
      pushRecord(push, environment.name, await applyToBound(ports, actor, environment, push, arrival)),
    );
  }
  for (const template of await matchingTemplates(ports, push)) {
    const name = previewName(template.name, push.branch);
    if (bound.some((environment) => environment.name === name)) continue;
    const decision = await createPreview(ports, actor, template, name, push, arrival);
    if (decision) records.push(pushRecord(push, name, decision));
  }
  for (const record of records) await store.recordPush(record);
  const ignored =
    records.length === 0
      ? `no environment or preview template follows ${push.repository} branch ${push.branch}`
      : undefined;
  await store.finishDelivery(push.provider, push.deliveryId, {
    environments: records.map((record) => record.environment),
    ...(ignored ? { ignored } : {}),
  });
  return { records, ...(ignored ? { ignored } : {}) };
}

type Decision = { outcome: PushOutcome; reason?: string; deploymentId?: string };

async function applyToBound(
  ports: RequestPorts,
  actor: Actor,
  environment: Environment,
  push: Push,
  arrival: Arrival,
): Promise<Decision> {
  if (push.change === 'deleted') {
    if (!environment.template) {
      return {
        outcome: 'ignored',
        reason: 'the branch was deleted; the environment keeps running what it runs',
      };
    }
    if (environment.status === 'deleted')
      return { outcome: 'ignored', reason: 'the preview environment is torn down already' };
    if (arrival.supersededBy) return superseded(arrival.supersededBy);
    const accepted = await deleteEnvironment(ports, actor, environment.name);
    return {
      outcome: 'deployed',
      reason: 'the branch was deleted: its preview environment is torn down',
      ...(accepted.deploymentId ? { deploymentId: accepted.deploymentId } : {}),
    };
  }
  if (arrival.supersededBy) return superseded(arrival.supersededBy);
  if (environment.status === 'deleted' && environment.template) {
    // A preview branch created again: its environment comes back from the template.
    const template = await ports.store.getTemplate(environment.template);
    if (template)
      return (
        (await createPreview(ports, actor, template, environment.name, push, arrival)) ?? superseded(push)
      );
  }
  return deployPushedCommit(ports, actor, environment.name, push);
}

/** Creates (or brings back) the preview environment of a template for the pushed branch, deploying the commit. */
async function createPreview(
  ports: RequestPorts,
  actor: Actor,
  template: PreviewTemplate,
  name: string,
  push: Push,
  arrival: Arrival,
): Promise<Decision | undefined> {
  if (push.change === 'deleted') return undefined;
  if (arrival.supersededBy) return superseded(arrival.supersededBy);
  const existing = await ports.store.getEnvironment(name);
  if (existing && existing.template !== template.name) {
    return {
      outcome: 'ignored',
      reason: `environment ${name} exists and was not made by template ${template.name}`,
    };
  }
  const accepted = await putEnvironment(ports, actor, {
    name,
    team: template.team,
    tier: template.tier,
    spec: { ...template.spec, version: push.commit },
    source: { provider: push.provider, repository: push.repository, branch: push.branch },
    preview: {
      template: template.name,
      sourceHead: { commit: push.commit, committedAt: push.committedAt, deliveryId: push.deliveryId },
    },
  });
  return {
    outcome: 'deployed',
    reason: `preview environment of template ${template.name}`,
    ...(accepted.deploymentId ? { deploymentId: accepted.deploymentId } : {}),
  };
}

async function matchingTemplates(ports: RequestPorts, push: Push): Promise<PreviewTemplate[]> {
  const templates = await ports.store.listTemplatesByRepository(push.provider, push.repository);
  return templates.filter((template) => branchMatches(template.source.branches, push.branch));
}

function superseded(newer: Push): Decision {
  return {
    outcome: 'superseded',
    reason: `a newer push (${newer.commit}) to the same branch arrived with it`,
  };
}

/** The push as the cause of what it changes: its pusher, with the push itself for the record. */
export function pushActor(push: Push): Actor {
  return {
    trigger: 'git-push',
    principal: push.pusher,
    push: {
      provider: push.provider,
      repository: push.repository,
      branch: push.branch,
      commit: push.commit,
      deliveryId: push.deliveryId,
    },
  };
}

function pushRecord(push: Push, environment: string, decision: Decision, arrival?: string): PushRecord {
  return {
    environment,
    deliveryId: push.deliveryId,
    provider: push.provider,
    repository: push.repository,
    branch: push.branch,
    change: push.change,
    commit: push.commit,
    committedAt: push.committedAt,
    pusher: push.pusher,
    receivedAt: push.receivedAt,
    outcome: decision.outcome,
    ...(decision.reason ? { reason: decision.reason } : {}),
    ...(decision.deploymentId ? { deploymentId: decision.deploymentId } : {}),
    ...(arrival ? { arrival } : {}),
  };
}

/**
 * For each branch, the push that the others delivered with it defer to: the one the ordering rule of
 * `deployPushedCommit` would leave the environment following had they all been applied in the order
 * delivered. A push takes over from the one before unless it was committed earlier (a force-push always
 * does: it may rightly go back). Deliveries are shuffled in transit (GitHub sends concurrently, people
 * redeliver by hand), so position alone would let an older commit win; commit time does not.
 */
export function newestPerBranch(pushes: readonly Push[]): Map<string, Push> {
  const newest = new Map<string, Push>();
  for (const push of pushes) {
    const current = newest.get(branchKey(push));
    if (!current || push.forced || Date.parse(push.committedAt) >= Date.parse(current.committedAt)) {
      newest.set(branchKey(push), push);
    }
  }
  return newest;
}

export function branchKey(push: Pick<Push, 'provider' | 'repository' | 'branch'>): string {
  return `${push.provider}:${push.repository}:${push.branch}`;
}

/**
 * A template's branch glob: `*` matches within one path segment, `**` across segments, `?` one
 * character; everything else literally. `feature/*` matches `feature/login`, not `feature/a/b`.
 */
export function branchMatches(glob: string, branch: string): boolean {
  let pattern = '';
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i] as string;
    if (char === '*' && glob[i + 1] === '*') {
      pattern += '.*';
      i++;
    } else if (char === '*') pattern += '[^/]*';
    else if (char === '?') pattern += '[^/]';
    else pattern += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${pattern}$`).test(branch);
}

/** Longest environment name (see api-schemas.ts `environmentName`). */
const MAX_ENVIRONMENT_NAME = 40;
const HASH_LENGTH = 6;

/**
 * The preview environment of a branch: `<template>-<branch slug>-<hash>`. The slug keeps it readable,
 * the hash of the exact branch name keeps it stable and collision-free (`feat/a` and `feat-a` slug
 * alike), and the whole stays a valid environment name (3-40 lowercase letters, digits and dashes).
 */
export function previewName(template: string, branch: string): string {
  const hash = createHash('sha256').update(branch).digest('hex').slice(0, HASH_LENGTH);
  const room = MAX_ENVIRONMENT_NAME - template.length - HASH_LENGTH - 2;
  const slug = branch
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, Math.max(0, room))
    .replace(/^-+|-+$/g, '');
  return slug ? `${template}-${slug}-${hash}` : `${template}-${hash}`;
}
