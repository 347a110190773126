import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';

/**
 * Edge validation of the REST API: names, ids and the small bodies every route reads. The desired state
 * (a spec, a preview template) is in spec-schemas.ts and environment-schemas.ts, which only the routes
 * that take one load. Objects are strict: an unknown field is a mistake the caller should hear about,
 * not something silently ignored. Defaults here are the documented defaults.
 *
 * `zod/mini` rather than classic zod: the same validator, tree-shakeable, so an API bundle carries
 * ~25 KB of it instead of ~450 KB. Its messages need the English locale, loaded once here.
 */
z.config(en());

export const matching = (pattern: RegExp, message: string) => z.string().check(z.regex(pattern, message));
export const between = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));

/** Environment names end up in stack ids, tags and target-group names: DNS-label style, short. */
export const environmentName = matching(
  /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/,
  'must be 3-40 characters: lowercase letters, digits and dashes, starting with a letter',
);

export const deploymentId = matching(/^d-[0-9a-z]{9}-[0-9a-f]{10}$/, 'is not a deployment id');

export const version = matching(
  /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/,
  'must be 1-64 letters, digits, dots, dashes, pluses or underscores',
);

/** POST /environments/{name}/snooze: an instant with its offset, from one minute to 30 days ahead (checked against the clock). */
export const snoozeBody = z.strictObject({ until: z.iso.datetime({ offset: true }) });

/** POST /environments/{name}/sleep, /wake and /rollback: an optional reason for the record. */
export const upkeepBody = z.strictObject({
  reason: z.optional(z.string().check(z.minLength(1), z.maxLength(500))),
});

/** Template names leave room for the branch in the preview environments' names (40 characters in all). */
export const templateName = matching(
  /^[a-z][a-z0-9-]{1,18}[a-z0-9]$/,
  'must be 3-20 characters: lowercase letters, digits and dashes, starting with a letter',
);

const comment = z.string().check(z.minLength(1), z.maxLength(1000));

/** POST …/deployments/{id}/approve: a comment is welcome. */
export const approveBody = z.strictObject({ comment: z.optional(comment) });

/** POST …/deployments/{id}/reject: the comment says why, for the person who asked. */
export const rejectBody = z.strictObject({ comment });

export const startDeploymentBody = z.strictObject({
  version: z.optional(version),
  reason: z.optional(z.string().check(z.minLength(1), z.maxLength(500))),
});

/** `?limit=` and `?cursor=` (from the previous page's `next`) of an environment's audit trail, oldest first. */
export const auditListQuery = z.strictObject({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 50),
  cursor: z.optional(matching(/^[A-Za-z0-9_-]{1,400}$/, 'is not a cursor of this list')),
});

/** `?limit=` of the lists of deployments and pushes, newest first. */
export const deploymentListQuery = z.strictObject({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 50),
});
