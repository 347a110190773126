import { ForbiddenError } from './errors.ts';
import type { Environment } from './types.ts';

/** Who is asking: the authenticated principal and the team it acts for. */
export interface Caller {
  principal: string;
  team: string;
}

/**
 * Teams act through IAM roles named `kiln-team-<team>` (assumed-role sessions, roles or users).
 * Returns the team, or undefined for a principal that is not a Kiln team member.
 */
export function teamOfPrincipal(principalArn: string): string | undefined {
  const match =
    /^arn:aws[\w-]*:(?:sts|iam)::\d{12}:(?:assumed-role|role|user)\/kiln-team-([a-z0-9-]+)(?:\/|$)/.exec(
      principalArn,
    );
  return match?.[1];
}

/** Every route is authorised against the caller's team: an environment is only its owner's. */
export function assertOwnedBy(caller: Caller, environment: Pick<Environment, 'name' | 'team'>): void {
  if (environment.team !== caller.team) {
    throw new ForbiddenError(`environment ${environment.name} belongs to another team`);
  }
}
