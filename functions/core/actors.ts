import { assertOwnedBy, type Caller } from './caller.ts';
import type { DeploymentTrigger, Environment } from './types.ts';

/** A Git push that caused a change: what was pushed where, by whom, and the delivery that carried it. */
export interface PushRef {
  provider: 'github' | 'codecommit';
  /** `owner/name` on GitHub, the repository name on CodeCommit. */
  repository: string;
  branch: string;
  /** The full commit SHA pushed (`after` / `commitId`). */
  commit: string;
  /** The GitHub webhook delivery id, or the EventBridge event id: the push's identity for deduplication. */
  deliveryId: string;
}

/**
 * Who or what causes a change (DESIGN "Identity and trust"). Every command that changes state takes
 * one, and the deployments and audit events it writes carry it; nothing in the core assumes a trigger.
 */
export interface Actor {
  trigger: DeploymentTrigger;
  /**
   * Who: a person's IAM principal (API, rollback, a person's wake), the pusher's login (Git push), the
   * schedule's name (schedule), or `kiln` (a drift repair, a wake by traffic).
   */
  principal: string;
  /** The team a person acts for. Set only for people: every action of theirs is authorised against it. */
  team?: string;
  push?: PushRef;
  schedule?: { name: string; scheduledAt: string };
}

/** A person calling the REST API, acting for their team. */
export function personActing(
  caller: Caller,
  trigger: Extract<DeploymentTrigger, 'api' | 'rollback' | 'wake'> = 'api',
): Actor {
  return { trigger, principal: caller.principal, team: caller.team };
}

/**
 * Authorises an action on an environment: a person only on their team's environments. Git pushes,
 * schedules and Kiln's own repairs are authorised by how they reach the environment (its source
 * binding, its idle policy), not by a team.
 */
export function authorize(
  actor: Pick<Actor, 'team' | 'principal'>,
  environment: Pick<Environment, 'name' | 'team'>,
): void {
  if (actor.team !== undefined) assertOwnedBy({ principal: actor.principal, team: actor.team }, environment);
}
