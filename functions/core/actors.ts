import type { Caller, Role } from './caller.ts';
import { ForbiddenError } from './errors.ts';
import type { DeploymentTrigger } from './types.ts';

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
   * Who: a person (the caller's person: their IAM session or user name, embedded their token's person;
   * API, rollback, a person's wake), the pusher's login (Git push), the schedule's name (schedule), or
   * `kiln` (a drift repair, a wake by traffic). What deployments and audit events record as `actor`.
   */
  principal: string;
  /** The team a person acts for. Set only for people: every action of theirs is authorised against it. */
  team?: string;
  /** The person's roles in their team (none for a member). Set only for people. */
  roles?: readonly Role[];
  push?: PushRef;
  schedule?: { name: string; scheduledAt: string };
}

/** A person calling the REST API, acting for their team with their roles in it. */
export function personActing(
  caller: Caller,
  trigger: Extract<DeploymentTrigger, 'api' | 'rollback' | 'wake'> = 'api',
): Actor {
  return { trigger, principal: caller.person, team: caller.team, roles: caller.roles };
}

/**
 * What a person may ask of a team's resource. Every route names one (the matrix in
 * docs/authorization.md); a route that lists resources lists the caller's team's only and names none.
 */
export type Action =
  | 'environment:read'
  | 'environment:change'
  | 'deployment:approve'
  | 'template:read'
  | 'template:change'
  | 'freeze:read'
  | 'freeze:manage';

/** Per action: the kind of resource it acts on, and the role it needs within the owning team, if any. */
const ACTIONS: Readonly<Record<Action, { resource: string; role?: Role; asking: string }>> = {
  'environment:read': { resource: 'environment', asking: 'reading' },
  'environment:change': { resource: 'environment', asking: 'changing' },
  'deployment:approve': { resource: 'environment', role: 'approver', asking: 'approving deployments of' },
  'template:read': { resource: 'template', asking: 'reading' },
  'template:change': { resource: 'template', asking: 'changing' },
  'freeze:read': { resource: 'freeze', asking: 'reading' },
  'freeze:manage': { resource: 'freeze', role: 'freeze-manager', asking: 'managing' },
};

/**
 * Authorises an action on a team's resource (an environment, a template, a freeze): a person only
 * within their own team (ForbiddenError naming no more than the resource the caller named), and only
 * with the role the action needs (ForbiddenError naming the role). Git pushes, schedules and Kiln's own
 * repairs carry no team: they are authorised by how they reach the environment (its source binding, its
 * idle policy), not here.
 */
export function authorize(
  actor: Pick<Actor, 'team' | 'principal' | 'roles'>,
  action: Action,
  resource: { name: string; team: string },
): void {
  if (actor.team === undefined) return;
  const { resource: kind, role, asking } = ACTIONS[action];
  // 403, not 404: names are global (a PUT of a taken name must say so), so hiding existence would hide nothing.
  if (resource.team !== actor.team)
    throw new ForbiddenError(`${kind} ${resource.name} belongs to another team`);
  if (role && !actor.roles?.includes(role)) {
    const held = actor.roles?.length ? `holds ${actor.roles.join(' and ')}` : 'is a member without roles';
    throw new ForbiddenError(
      `${asking} ${kind} ${resource.name} needs the ${role} role in team ${actor.team}; ${actor.principal} ${held}`,
    );
  }
}
