import * as z from 'zod/mini';
import { GIT_PROVIDERS } from '../core/pushes.ts';
import { TIERS } from '../core/types.ts';
import { deploymentId, environmentName, freezeId, templateName, version } from './api-schemas.ts';
import { resources } from './environment-schemas.ts';
import { source, spec, team } from './spec-schemas.ts';

/**
 * What the REST API answers: the bodies of every route's answers, as zod schemas. The OpenAPI document
 * (infra/openapi.ts) is generated from them and from the request schemas, and views.ts's types derive from
 * them, so a view that drifts from its schema does not compile. Handlers import only their types: no
 * bundle carries these schemas (the bundle test of test/infra/functions.test.ts keeps them out).
 *
 * Objects are `z.object`: in the document's output form they admit no other field, so the contract test
 * (test/integration/openapi-contract.test.ts) fails on an answer field the document does not describe.
 */

/** An instant as Kiln writes it (`new Date().toISOString()`), or as a caller gave it (snooze). */
export const instant = z.iso.datetime({ offset: true });
const described = <S extends z.ZodMiniType>(schema: S, description: string) =>
  schema.check(z.describe(description)) as S;

const provider = z.enum(GIT_PROVIDERS);

export const deploymentTriggers = z.enum(['api', 'git-push', 'schedule', 'rollback', 'wake', 'drift-repair']);

/** The branch an environment follows, and the newest push to it that it follows. */
const sourceHead = z.object({ commit: z.string(), committedAt: instant, deliveryId: z.string() });

export const environmentAnswer = z.object({
  name: environmentName,
  team,
  tier: z.enum(TIERS),
  status: z.enum(['pending', 'deploying', 'live', 'sleeping', 'waking', 'failed', 'deleting', 'deleted']),
  version: described(z.int(), 'The desired state’s version: send it back as If-Match (also the ETag).'),
  generation: z.int(),
  spec: described(spec, 'The desired spec, with its defaults filled in.'),
  liveStack: z.nullable(
    z.object({ stackId: z.string(), generation: z.optional(z.int()), version: z.optional(version) }),
  ),
  source: z.nullable(source),
  sourceHead: z.optional(sourceHead),
  template: z.optional(described(templateName, 'The preview template that created it.')),
  endpoint: described(z.nullable(z.string()), 'Where its traffic is served; null before its first stack.'),
  idle: described(
    z.object({
      afterMinutes: z.nullable(z.int()),
      sleepAt: z.optional(z.string()),
      wakeAt: z.optional(z.string()),
      timezone: z.optional(z.string()),
      source: z.enum(['environment', 'tier default']),
    }),
    'The idle policy that applies: its own, or its tier’s default.',
  ),
  lastActivityAt: z.nullable(instant),
  resources,
  rollback: z.object({
    windowSeconds: z.int(),
    source: z.enum(['environment', 'tier default']),
    standby: z.nullable(z.object({ stackId: z.string(), until: instant })),
    previousVersion: z.nullable(version),
  }),
  sleepsAt: z.nullable(instant),
  wakesAt: z.nullable(instant),
  snoozedUntil: z.nullable(instant),
  sleepingSince: z.optional(instant),
  sleptVersion: z.optional(version),
  latestDeploymentId: z.nullable(deploymentId),
  deploymentInProgress: described(z.nullable(deploymentId), 'The deployment holding the lease, if any.'),
  createdAt: instant,
  updatedAt: instant,
  deletedAt: z.optional(instant),
});

/** An environment after a change (PUT, sleep, wake, snooze, rollback), with the deployment it started. */
export const environmentChangeAnswer = z.extend(environmentAnswer, {
  deploymentId: described(
    z.nullable(deploymentId),
    'The deployment the change started; null when none was needed.',
  ),
});

const riskAssessment = z.object({
  score: z.number(),
  threshold: z.number(),
  needsApproval: z.boolean(),
  policyVersion: z.string(),
  terms: z.array(z.object({ term: z.string(), points: z.number(), why: z.string() })),
});

const deploymentFields = {
  id: deploymentId,
  environment: environmentName,
  action: z.enum(['deploy', 'teardown', 'sleep', 'retire']),
  generation: z.int(),
  trigger: deploymentTriggers,
  actor: described(z.string(), 'Who caused it: a person, a pusher, a schedule’s name, or kiln.'),
  push: z.optional(
    z.object({
      provider,
      repository: z.string(),
      branch: z.string(),
      commit: z.string(),
      deliveryId: z.string(),
    }),
  ),
  schedule: z.optional(z.object({ name: z.string(), scheduledAt: instant })),
  reason: z.optional(z.string()),
  status: z.enum([
    'queued',
    'awaiting_approval',
    'running',
    'succeeded',
    'rolled_back',
    'failed',
    'superseded',
    'cancelled',
    'rejected',
    'expired',
  ]),
  version: z.optional(described(version, 'The version deployed (absent for a teardown).')),
  risk: z.optional(riskAssessment),
  approval: z.optional(
    z.object({
      requestedAt: instant,
      decision: z.optional(z.enum(['approved', 'rejected'])),
      by: z.optional(z.string()),
      at: z.optional(instant),
      comment: z.optional(z.string()),
    }),
  ),
  fromStackId: z.optional(z.string()),
  toStackId: z.optional(z.string()),
  requestedAt: instant,
  startedAt: z.optional(instant),
  endedAt: z.optional(instant),
  error: z.optional(z.object({ name: z.string(), message: z.string() })),
  warnings: z.optional(z.array(z.string())),
  cancelRequest: z.optional(z.object({ at: instant, by: z.string() })),
  breakGlass: z.optional(
    described(
      z.object({
        reason: z.string(),
        freezes: z.array(z.object({ id: freezeId, reason: z.string(), end: instant })),
      }),
      'It passed the freezes covering its environment by breaking the glass: why, and which.',
    ),
  ),
  hold: z.optional(
    described(
      z.object({ since: instant, freezes: z.array(freezeId), until: instant }),
      'Held by holding freezes before it took the lease: since when, by which, until when at least.',
    ),
  ),
};

/** A deployment as lists show it: without its steps. */
export const deploymentAnswer = z.object(deploymentFields);

/** One deployment's page: its steps, and while it runs the traffic split it has set so far. */
export const deploymentDetailAnswer = z.object({
  ...deploymentFields,
  steps: z.array(
    z.object({
      name: z.string(),
      startedAt: instant,
      endedAt: z.optional(instant),
      detail: z.optional(z.string()),
    }),
  ),
  weights: z.optional(
    described(z.record(z.string(), z.number()), 'While it runs: stack id → share of traffic (0–100).'),
  ),
});

export const stackAnswer = z.object({
  stackId: z.string(),
  generation: z.int(),
  deploymentId,
  status: z.enum(['provisioning', 'healthy', 'live', 'standby', 'draining', 'decommissioned', 'failed']),
  weight: described(z.number(), 'Its share of the environment’s traffic (0–100).'),
  version,
  artifact: z.string(),
  capacity: z.int(),
  instances: z.array(
    z.object({
      id: z.string(),
      address: z.string(),
      state: z.enum(['pending', 'running', 'stopping', 'terminated']),
    }),
  ),
  statusReason: z.optional(z.string()),
  createdAt: instant,
  updatedAt: instant,
});

export const pushAnswer = z.object({
  deliveryId: z.string(),
  provider,
  repository: z.string(),
  branch: z.string(),
  change: z.enum(['created', 'updated', 'deleted']),
  commit: z.string(),
  committedAt: instant,
  pusher: z.string(),
  receivedAt: instant,
  outcome: z.enum(['deployed', 'superseded', 'stale', 'duplicate', 'ignored']),
  reason: z.optional(z.string()),
  deploymentId: z.optional(deploymentId),
  arrival: z.optional(z.string()),
});

export const templateAnswer = z.object({
  name: templateName,
  team,
  tier: z.enum(TIERS),
  source: z.object({ provider, repository: z.string(), branches: z.string() }),
  spec,
  version: z.int(),
  createdAt: instant,
  updatedAt: instant,
});

/** An audit event; `sequence`, `previousHash` and `hash` link it into the chain (absent: recorded before it). */
export const auditEventAnswer = z.object({
  id: z.string(),
  environment: environmentName,
  at: instant,
  actor: z.string(),
  trigger: deploymentTriggers,
  action: z.string(),
  reason: z.optional(z.string()),
  detail: z.optional(z.record(z.string(), z.unknown())),
  sequence: z.optional(z.int()),
  previousHash: z.optional(z.string()),
  hash: z.optional(z.string()),
});

export const auditPageAnswer = z.object({
  events: z.array(auditEventAnswer),
  next: z.optional(described(z.string(), 'The cursor of the next page: absent on the last one.')),
});

export const auditVerificationAnswer = z.object({
  environment: environmentName,
  intact: z.boolean(),
  events: described(z.int(), 'Chained events checked.'),
  beforeChain: described(z.int(), 'Events recorded before the chain existed (not covered by it).'),
  newest: z.optional(z.object({ sequence: z.int(), hash: z.string() })),
  mismatch: z.optional(
    z.object({
      sequence: z.int(),
      id: z.string(),
      problem: z.enum(['hash', 'sequence', 'previous-hash']),
      message: z.string(),
    }),
  ),
});

export const environmentListAnswer = z.object({ environments: z.array(environmentAnswer) });
export const deploymentListAnswer = z.object({ deployments: z.array(deploymentAnswer) });
export const stackListAnswer = z.object({ stacks: z.array(stackAnswer) });
export const pushListAnswer = z.object({ pushes: z.array(pushAnswer) });
export const templateListAnswer = z.object({ templates: z.array(templateAnswer) });

export const deploymentStartedAnswer = z.object({ deploymentId });

export const environmentDeletionAnswer = z.object({
  deploymentId: described(z.nullable(deploymentId), 'The teardown; null when nothing was left to tear down.'),
  status: environmentAnswer.shape.status,
});

export const templateDeletionAnswer = z.object({ name: templateName, deleted: z.literal(true) });

const freezeWindow = z.object({ start: instant, end: instant });

/** A freeze as made, with the window of it that covers now (`active`) and the next one. */
export const freezeAnswer = z.object({
  id: freezeId,
  team,
  selector: z.optional(
    z.object({
      teams: z.optional(z.array(team)),
      tiers: z.optional(z.array(z.enum(TIERS))),
      environments: z.optional(z.array(environmentName)),
    }),
  ),
  start: z.optional(instant),
  end: z.optional(instant),
  cron: z.optional(z.string()),
  duration: z.optional(z.string()),
  timezone: z.optional(z.string()),
  mode: z.enum(['hold', 'refuse']),
  reason: z.string(),
  createdBy: z.string(),
  createdAt: instant,
  updatedAt: instant,
  version: z.int(),
  active: described(z.nullable(freezeWindow), 'The window that covers now, if one does.'),
  next: described(z.nullable(freezeWindow), 'The next window that starts after now, if any.'),
});
export const freezeListAnswer = z.object({ freezes: z.array(freezeAnswer) });
export const freezeDeletionAnswer = z.object({ id: freezeId, deleted: z.literal(true) });

/** POST /hooks/github: a ping's pong, an event ignored (and why), or a push accepted into the queue. */
export const webhookAnswer = z.union([
  z.object({ deliveryId: z.string(), pong: z.literal(true) }),
  z.object({ deliveryId: z.string(), ignored: z.string() }),
  z.object({
    deliveryId: z.string(),
    accepted: z.object({
      repository: z.string(),
      branch: z.string(),
      change: z.enum(['created', 'updated', 'deleted']),
      commit: z.string(),
    }),
  }),
]);

/**
 * An RFC 9457 problem, as Kiln's handlers and gateway answer every error. API Gateway's own refusals (a
 * missing signature, throttling) carry no `status` nor `instance`.
 */
export const problemAnswer = z.object({
  type: z.literal('about:blank'),
  title: z.string(),
  status: z.optional(z.int()),
  detail: described(z.string(), 'What was wrong, for a person to read.'),
  instance: z.optional(described(z.string(), 'The request id, to find the request in the logs.')),
  errors: z.optional(
    described(
      z.array(z.object({ path: z.string(), message: z.string() })),
      'Every invalid field of a 400, by its path in the body.',
    ),
  ),
});

/** The ETag of an environment's or a template's version: `"<version>"`. */
export const versionTag = z.string().check(z.regex(/^"\d+"$/));

export type EnvironmentAnswer = z.output<typeof environmentAnswer>;
export type DeploymentAnswer = z.output<typeof deploymentAnswer>;
export type DeploymentDetailAnswer = z.output<typeof deploymentDetailAnswer>;
export type StackAnswer = z.output<typeof stackAnswer>;
export type PushAnswer = z.output<typeof pushAnswer>;
export type TemplateAnswer = z.output<typeof templateAnswer>;
export type FreezeAnswer = z.output<typeof freezeAnswer>;
export type AuditEventAnswer = z.output<typeof auditEventAnswer>;
