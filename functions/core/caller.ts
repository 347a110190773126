/** A role a person holds within their team (docs/authorization.md); a member holds none. */
export type Role = 'approver' | 'freeze-manager';

export const ROLES: readonly Role[] = ['approver', 'freeze-manager'];

/** Who is asking: a person acting for a team, with their roles in it. */
export interface Caller {
  /** The authenticated IAM principal as API Gateway identifies it (`requestContext.identity.userArn`). */
  principal: string;
  team: string;
  /** The person behind the call: the role session's name, or the IAM user's name. */
  person: string;
  roles: readonly Role[];
}

/**
 * The IAM name that carries a team and roles: `kiln-team-<team>`, then `+<role>` for each role held
 * (`kiln-team-checkout+approver+freeze-manager`). `+` is valid in IAM names and never in a team name,
 * so the team and the roles cannot be confused.
 */
export function teamRoleName(team: string, roles: readonly Role[]): string {
  return [`kiln-team-${team}`, ...ROLES.filter((role) => roles.includes(role))].join('+');
}

/** A person's name, as IAM allows a role session name or a user name to be (`alice`, `alice@example.com`). */
export const PERSON_PATTERN = /^[\w+=,.@-]{2,64}$/;

const PRINCIPAL =
  /^arn:aws[\w-]*:(?:sts::\d{12}:assumed-role|iam::\d{12}:user)\/kiln-team-([a-z0-9-]+)((?:\+[a-z-]+)*)\/([^/]+)$/;

/**
 * The caller an IAM principal stands for, or undefined for a principal that is not a Kiln team member:
 * - `arn:aws:sts::<account>:assumed-role/kiln-team-<team>[+<role>...]/<person>`: a role session, the
 *   person its session name;
 * - `arn:aws:iam::<account>:user/kiln-team-<team>[+<role>...]/<person>`: an IAM user whose path names
 *   the team (and roles), the person its user name.
 * An unknown or repeated role makes the whole principal unknown: a typo never passes as a lesser role.
 */
export function callerOfPrincipal(principal: string): Caller | undefined {
  const match = PRINCIPAL.exec(principal);
  if (!match) return undefined;
  const [, team = '', suffix = '', person = ''] = match;
  const roles = rolesNamed(suffix.split('+').slice(1));
  if (!roles || !PERSON_PATTERN.test(person)) return undefined;
  return { principal, team, person, roles };
}

/** The roles `names` name, or undefined when one is unknown or named twice. */
export function rolesNamed(names: readonly string[]): Role[] | undefined {
  const known = names.every((name) => (ROLES as readonly string[]).includes(name));
  return known && new Set(names).size === names.length ? (names as Role[]) : undefined;
}
