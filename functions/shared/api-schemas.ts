import { z } from 'zod';
import { TIERS } from '../core/types.ts';

/**
 * Edge validation of the REST API. Objects are strict: an unknown field is a mistake the caller
 * should hear about, not something silently ignored. Defaults here are the documented defaults.
 */

/** Environment names end up in stack ids, tags and target-group names: DNS-label style, short. */
export const environmentName = z
  .string()
  .regex(
    /^[a-z][a-z0-9-]{1,38}[a-z0-9]$/,
    'must be 3-40 characters: lowercase letters, digits and dashes, starting with a letter',
  );

export const deploymentId = z.string().regex(/^d-[0-9a-z]{9}-[0-9a-f]{10}$/, 'is not a deployment id');

const artifactName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 letters, digits, dots, dashes or underscores');

const healthCheck = z
  .strictObject({
    path: z.string().regex(/^\/[\x21-\x7e]{0,255}$/, 'must be an absolute path such as /health'),
    intervalSeconds: z.int().min(1).max(300),
    healthyThreshold: z.int().min(1).max(10),
    timeoutSeconds: z.int().min(1).max(120),
    deadlineSeconds: z.int().min(5).max(3600).default(120),
  })
  .refine((h) => h.timeoutSeconds <= h.intervalSeconds, {
    message: 'timeoutSeconds must not exceed intervalSeconds',
    path: ['timeoutSeconds'],
  });

export const spec = z.strictObject({
  artifact: artifactName,
  version: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/,
      'must be 1-64 letters, digits, dots, dashes, pluses or underscores',
    ),
  capacity: z.int().min(1).max(50),
  instanceType: z
    .string()
    .regex(/^[a-z0-9]+\.[a-z0-9]+$/, 'must be an EC2 instance type such as t4g.small')
    .optional(),
  env: z
    .record(
      z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name'),
      z.string().max(4096),
    )
    .refine((env) => Object.keys(env).length <= 100, 'may hold at most 100 variables')
    .default({}),
  healthCheck,
  strategy: z.strictObject({ type: z.literal('blue-green') }).default({ type: 'blue-green' }),
  drainSeconds: z.int().min(0).max(300).default(10),
});

export const putEnvironmentBody = z.strictObject({
  team: z.string().regex(/^[a-z0-9-]{1,64}$/, 'must be a team name: lowercase letters, digits, dashes'),
  tier: z.enum(TIERS),
  spec,
});

export const startDeploymentBody = z.strictObject({
  version: spec.shape.version.optional(),
  reason: z.string().min(1).max(500).optional(),
});
