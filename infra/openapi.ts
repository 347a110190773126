import { resolve } from 'node:path';
import * as z from 'zod/mini';
import type { $ZodType } from 'zod/v4/core';
import {
  createDocument,
  type ZodOpenApiObject,
  type ZodOpenApiOperationObject,
  type ZodOpenApiResponsesObject,
} from 'zod-openapi';
import { ROUTES, type Route } from '../functions/manifest.ts';
import {
  auditEventAnswer,
  auditPageAnswer,
  auditVerificationAnswer,
  deploymentAnswer,
  deploymentDetailAnswer,
  deploymentListAnswer,
  deploymentStartedAnswer,
  environmentAnswer,
  environmentChangeAnswer,
  environmentDeletionAnswer,
  environmentListAnswer,
  freezeAnswer,
  freezeDeletionAnswer,
  freezeListAnswer,
  instant,
  problemAnswer,
  pushAnswer,
  pushListAnswer,
  stackAnswer,
  stackListAnswer,
  templateAnswer,
  templateDeletionAnswer,
  templateListAnswer,
  versionTag,
  webhookAnswer,
} from '../functions/shared/answer-schemas.ts';
import {
  approveBody,
  auditListQuery,
  deploymentId,
  deploymentListQuery,
  environmentName,
  freezeId,
  matching,
  rejectBody,
  snoozeBody,
  startDeploymentBody,
  templateName,
  upkeepBody,
} from '../functions/shared/api-schemas.ts';
import { putEnvironmentBody } from '../functions/shared/environment-schemas.ts';
import { putFreezeBody } from '../functions/shared/freeze-schemas.ts';
import { IF_MATCH } from '../functions/shared/http.ts';
import { githubPushPayload } from '../functions/shared/push-events.ts';
import { putTemplateBody, spec } from '../functions/shared/spec-schemas.ts';
import { THROTTLING } from './constructs/api.ts';

/**
 * The OpenAPI 3.1 document of Kiln's REST API, generated (zod-openapi, on zod's own JSON Schema
 * conversion) from the zod schemas the handlers validate requests with and the answer schemas
 * (functions/shared/answer-schemas.ts). `npm run openapi` writes it to docs/openapi.json, which
 * GET /openapi.json serves; test/unit/openapi.test.ts keeps that file up to date, and
 * test/integration/openapi-contract.test.ts checks every route's answers against it.
 *
 * Every http route of functions/manifest.ts must have its OPERATIONS entry here: buildOpenApiDocument
 * throws for one that has none (and for an entry without a route), so a new route cannot go undescribed.
 */

/** The sections of the document, in the order a reader meets them. */
const TAGS = [
  { name: 'environments', description: 'Desired state, status, sleeping and waking.' },
  {
    name: 'deployments',
    description: 'Deployments of an environment: starting, following, answering, cancelling.',
  },
  { name: 'stacks', description: 'The immutable stacks an environment ran, and its Git pushes.' },
  { name: 'audit', description: 'The audit trail and its hash chain.' },
  { name: 'templates', description: 'Preview templates: environments made for branches as they are pushed.' },
  { name: 'freezes', description: 'Freeze windows: times when a team’s deployments wait or are refused.' },
  { name: 'open', description: 'Routes without a caller: the GitHub webhook and this document.' },
] as const;

type Tag = (typeof TAGS)[number]['name'];

/** Path parameters, by the routes' path templates' names. */
const ENVIRONMENT = { name: environmentName };
const DEPLOYMENT = { name: environmentName, id: deploymentId };
const TEMPLATE = { name: templateName };
const FREEZE = { id: freezeId };

/** One answer of a route: what it means, its body's schema, and its headers (a zod object of them). */
interface Answer {
  description: string;
  schema: $ZodType;
  headers?: z.ZodMiniObject;
}

/** What a route's operation says beyond what its route and schemas say. */
interface Operation {
  tag: Tag;
  summary: string;
  description?: string;
  path?: Record<string, $ZodType>;
  query?: z.ZodMiniObject;
  /** Takes `If-Match` (409 when stale). */
  ifMatch?: boolean;
  /** Other request headers it reads. */
  headers?: z.ZodMiniObject;
  /** A JSON body: `required` unless an empty body means `{}`. */
  body?: { schema: $ZodType; required: boolean; description?: string };
  answers: Record<number, Answer>;
  /** When the route answers each of its own errors; the ones every route of its kind has are added. */
  errors?: Partial<Record<400 | 401 | 403 | 409, string>>;
}

const IF_MATCH_HEADER = z.object({
  'if-match': z.optional(
    matching(IF_MATCH, 'must be an environment version such as "3"').check(
      z.describe('The version it must have: 409 when it has another.'),
    ),
  ),
});
const ETAG = z.object({ etag: versionTag.check(z.describe('The version, for If-Match.')) });
const CHANGED_ENVIRONMENT = (description: string, status: number): Record<number, Answer> => ({
  [status]: { description, schema: environmentChangeAnswer },
});
/** A PUT's answers: 201 when it created the record, 200 when it replaced it; the ETag is its version. */
const createdOrReplaced = (schema: $ZodType): Record<number, Answer> => ({
  200: { description: 'Replaced.', schema, headers: ETAG },
  201: { description: 'Created.', schema, headers: ETAG },
});
/** Approving's and rejecting's. */
const APPROVAL_ERRORS = {
  403: 'the caller is not an approver of the team, or (prod) asked for the deployment',
  409: 'the deployment does not wait for an approval',
};
/** A PUT's 403. */
const NOT_YOURS = 'the name belongs to another team, or `team` is not the caller’s';
/** Losing every race with other writers for 20 s (README "Concurrent writers") ends in a 409. */
const RACES = 'other writers won every race for 20 s (retry later)';

const OPERATIONS: Readonly<Record<string, Operation>> = {
  'GET /environments': {
    tag: 'environments',
    summary: 'List your team’s environments',
    description: 'Deleted ones included, with their status.',
    answers: { 200: { description: 'The caller’s team’s environments.', schema: environmentListAnswer } },
  },
  'PUT /environments/{name}': {
    tag: 'environments',
    summary: 'Create or replace an environment’s desired state',
    description:
      'When the spec differs from what is live, a deployment starts: its id is `deploymentId`. Unknown fields are refused.',
    path: ENVIRONMENT,
    ifMatch: true,
    body: { schema: putEnvironmentBody, required: true },
    answers: createdOrReplaced(environmentChangeAnswer),
    errors: {
      403: NOT_YOURS,
      409: `If-Match does not match its version (or it does not exist yet), or ${RACES}`,
    },
  },
  'GET /environments/{name}': {
    tag: 'environments',
    summary: 'Read an environment',
    description: 'Desired spec, status, live stack, endpoint, idle policy, rollback window.',
    path: ENVIRONMENT,
    answers: { 200: { description: 'The environment.', schema: environmentAnswer, headers: ETAG } },
  },
  'DELETE /environments/{name}': {
    tag: 'environments',
    summary: 'Delete an environment',
    description: 'Drains and decommissions every stack, removes the endpoint, keeps the history.',
    path: ENVIRONMENT,
    ifMatch: true,
    answers: { 202: { description: 'The teardown is under way.', schema: environmentDeletionAnswer } },
    errors: { 409: `If-Match does not match its version, or ${RACES}` },
  },
  'POST /environments/{name}/deployments': {
    tag: 'deployments',
    summary: 'Deploy a version, or redeploy the current spec',
    path: ENVIRONMENT,
    ifMatch: true,
    body: { schema: startDeploymentBody, required: false },
    answers: {
      202: {
        description: 'Accepted: it runs when the environment’s lease is free.',
        schema: deploymentStartedAnswer,
        headers: z.object({ location: z.string().check(z.describe('The deployment’s path.')) }),
      },
    },
    errors: { 409: `the environment is deleted or being deleted, If-Match does not match, or ${RACES}` },
  },
  'GET /environments/{name}/deployments': {
    tag: 'deployments',
    summary: 'List recent deployments',
    description: 'Newest first.',
    path: ENVIRONMENT,
    query: deploymentListQuery,
    answers: { 200: { description: 'The deployments.', schema: deploymentListAnswer } },
  },
  'GET /environments/{name}/deployments/{id}': {
    tag: 'deployments',
    summary: 'Read a deployment',
    description: 'Status, outcome, error and steps with timestamps; while it runs, the traffic split.',
    path: DEPLOYMENT,
    answers: { 200: { description: 'The deployment.', schema: deploymentDetailAnswer } },
  },
  'POST /environments/{name}/deployments/{id}/cancel': {
    tag: 'deployments',
    summary: 'Ask a deployment to stop',
    description:
      'A signal the workflow checks at each phase boundary up to the cutover: a queued deployment never starts, a running one rolls back.',
    path: DEPLOYMENT,
    answers: { 202: { description: 'The request is recorded.', schema: deploymentAnswer } },
    errors: { 409: 'the deployment has ended, or it is a running teardown or sleep' },
  },
  'POST /environments/{name}/deployments/{id}/approve': {
    tag: 'deployments',
    summary: 'Approve a deployment that waits for approval',
    description: 'For approvers of the team; in prod, not the person who asked for it.',
    path: DEPLOYMENT,
    body: { schema: approveBody, required: false },
    answers: { 200: { description: 'Approved: it goes on.', schema: deploymentAnswer } },
    errors: APPROVAL_ERRORS,
  },
  'POST /environments/{name}/deployments/{id}/reject': {
    tag: 'deployments',
    summary: 'Reject a deployment that waits for approval',
    description:
      'For approvers of the team; in prod, not the person who asked for it. Nothing is provisioned.',
    path: DEPLOYMENT,
    body: { schema: rejectBody, required: true },
    answers: { 200: { description: 'Rejected.', schema: deploymentAnswer } },
    errors: APPROVAL_ERRORS,
  },
  'GET /environments/{name}/stacks': {
    tag: 'stacks',
    summary: 'List an environment’s stacks',
    description: 'Every stack it ever had, oldest first, with its status, weight and instances.',
    path: ENVIRONMENT,
    answers: { 200: { description: 'The stacks.', schema: stackListAnswer } },
  },
  'GET /environments/{name}/pushes': {
    tag: 'stacks',
    summary: 'List the Git pushes received for an environment',
    description: 'Newest first, each with what became of it.',
    path: ENVIRONMENT,
    query: deploymentListQuery,
    answers: { 200: { description: 'The pushes.', schema: pushListAnswer } },
  },
  'GET /environments/{name}/audit': {
    tag: 'audit',
    summary: 'Read the audit trail',
    description: 'Oldest first, a page at a time: `next` is the cursor of the following page.',
    path: ENVIRONMENT,
    query: auditListQuery,
    answers: { 200: { description: 'A page of the trail.', schema: auditPageAnswer } },
  },
  'GET /environments/{name}/audit/verify': {
    tag: 'audit',
    summary: 'Verify the audit trail’s hash chain',
    description: '200 either way: `intact` with the count, or the first event that does not match.',
    path: ENVIRONMENT,
    answers: { 200: { description: 'The verification.', schema: auditVerificationAnswer } },
  },
  'POST /environments/{name}/sleep': {
    tag: 'environments',
    summary: 'Put an environment to sleep now',
    path: ENVIRONMENT,
    body: { schema: upkeepBody, required: false },
    answers: CHANGED_ENVIRONMENT('Going to sleep (or asleep already: `deploymentId` null).', 202),
    errors: { 409: `nothing runs that could sleep, it is being deleted, or ${RACES}` },
  },
  'POST /environments/{name}/wake': {
    tag: 'environments',
    summary: 'Wake an environment',
    path: ENVIRONMENT,
    body: { schema: upkeepBody, required: false },
    answers: CHANGED_ENVIRONMENT('Waking (`deploymentId` null when it is awake already).', 202),
    errors: { 409: RACES },
  },
  'POST /environments/{name}/snooze': {
    tag: 'environments',
    summary: 'Keep an environment awake until a time',
    description: '`until` is 1 minute to 30 days ahead; a sleeping environment wakes.',
    path: ENVIRONMENT,
    body: { schema: snoozeBody, required: true },
    answers: CHANGED_ENVIRONMENT('Snoozed.', 200),
    errors: { 409: `it is deleted or being deleted, or ${RACES}` },
  },
  'POST /environments/{name}/rollback': {
    tag: 'environments',
    summary: 'Roll back to the previous spec',
    description: 'At once to its warm stack inside the rollback window, else by a deployment of it.',
    path: ENVIRONMENT,
    body: { schema: upkeepBody, required: false },
    answers: CHANGED_ENVIRONMENT('The rollback is under way.', 202),
    errors: { 409: `another deployment is in flight, there is nothing to roll back to, or ${RACES}` },
  },
  'GET /templates': {
    tag: 'templates',
    summary: 'List your team’s preview templates',
    answers: { 200: { description: 'The templates.', schema: templateListAnswer } },
  },
  'PUT /templates/{name}': {
    tag: 'templates',
    summary: 'Create or replace a preview template',
    path: TEMPLATE,
    ifMatch: true,
    body: { schema: putTemplateBody, required: true },
    answers: createdOrReplaced(templateAnswer),
    errors: {
      403: NOT_YOURS,
      409: 'If-Match does not match its version (or it does not exist yet)',
    },
  },
  'GET /templates/{name}': {
    tag: 'templates',
    summary: 'Read a preview template',
    path: TEMPLATE,
    answers: { 200: { description: 'The template.', schema: templateAnswer, headers: ETAG } },
  },
  'DELETE /templates/{name}': {
    tag: 'templates',
    summary: 'Delete a preview template',
    description: 'No new previews from it; the environments it made stay.',
    path: TEMPLATE,
    answers: { 200: { description: 'Deleted.', schema: templateDeletionAnswer } },
  },
  'GET /freezes': {
    tag: 'freezes',
    summary: 'List your team’s freezes',
    answers: {
      200: {
        description: 'The freezes, each with its window now and the next one.',
        schema: freezeListAnswer,
      },
    },
  },
  'PUT /freezes/{id}': {
    tag: 'freezes',
    summary: 'Create or replace a freeze window',
    description:
      'A freeze-manager’s, for their own team: once (`start`, `end`) or recurring (`cron`, `duration`, `timezone`); `mode` `refuse` (default) or `hold`. Made inside its window, it announces `Freeze Started` at once.',
    path: FREEZE,
    ifMatch: true,
    body: { schema: putFreezeBody, required: true },
    answers: createdOrReplaced(freezeAnswer),
    errors: {
      403: 'the caller is not a freeze-manager of `team`, the id belongs to another team, or the selector names another team or its environments',
      409: 'If-Match does not match its version (or it does not exist yet)',
    },
  },
  'GET /freezes/{id}': {
    tag: 'freezes',
    summary: 'Read a freeze',
    path: FREEZE,
    answers: {
      200: {
        description: 'The freeze, with its window now and the next one.',
        schema: freezeAnswer,
        headers: ETAG,
      },
    },
  },
  'DELETE /freezes/{id}': {
    tag: 'freezes',
    summary: 'Delete a freeze',
    description:
      'What it held goes on within a minute; a window it announced ends now (`Freeze Ended`, `endedBy: deleted`).',
    path: FREEZE,
    answers: { 200: { description: 'Deleted.', schema: freezeDeletionAnswer } },
    errors: { 403: 'the caller is not a freeze-manager of the freeze’s team' },
  },
  'POST /hooks/github': {
    tag: 'open',
    headers: z.object({
      'x-hub-signature-256': z.string().check(z.describe('sha256=<HMAC-SHA256 of the body, hex>')),
      'x-github-event': z.string().check(z.describe('push, ping, ...')),
      'x-github-delivery': z.string().check(z.describe('The delivery’s GUID.')),
    }),
    summary: 'GitHub’s webhook',
    description:
      'Authenticated by its X-Hub-Signature-256 (HMAC-SHA256 of the body under the webhook secret), not a token. A push is queued and answered at once; the queue’s consumer deploys.',
    body: {
      schema: githubPushPayload,
      required: true,
      description:
        'The event’s payload as GitHub sends it; of a `push`, the fields Kiln reads are described (other events’ payloads are not read).',
    },
    answers: {
      200: { description: 'A `ping`, answered.', schema: webhookAnswer },
      202: {
        description: 'A push accepted into the queue, or an event ignored (and why).',
        schema: webhookAnswer,
      },
    },
    errors: {
      400: 'X-GitHub-Delivery is missing or malformed, or a push payload is not one GitHub could send',
      401: 'X-Hub-Signature-256 is missing or does not match the body under the webhook secret',
    },
  },
  'GET /openapi.json': {
    tag: 'open',
    summary: 'This document',
    description: 'Its server is the base path it was reached through (`/v1` on API Gateway).',
    answers: {
      200: {
        description: 'The OpenAPI document.',
        schema: z.record(z.string(), z.unknown()).check(z.describe('An OpenAPI 3.1 document.')),
      },
    },
  },
};

const problemContent = { 'application/problem+json': { schema: problemAnswer } };

/** The errors a route has, with when: its own, and those of every route of its kind. */
function errorAnswers(route: Route, operation: Operation): ZodOpenApiResponsesObject {
  const inputs = [
    operation.path && 'a path parameter',
    operation.query && 'the query',
    operation.ifMatch && 'If-Match',
    operation.body && 'the body',
  ].filter(Boolean);
  const invalid = inputs.length > 0 ? `${inputs.join(', ')} is invalid` : undefined;
  const when: Record<number, string | undefined> = {
    400: [operation.errors?.[400], invalid].filter(Boolean).join('; or ') || undefined,
    401:
      operation.errors?.[401] ??
      (route.auth === 'iam' ? 'embedded: no bearer token, or one Kiln does not know' : undefined),
    403:
      route.auth === 'iam'
        ? (operation.errors?.[403] ??
          (operation.path
            ? 'it belongs to another team, or the caller acts for no Kiln team'
            : 'the caller acts for no Kiln team'))
        : undefined,
    // A PUT of a name that does not exist creates it.
    404: operation.path && route.method !== 'PUT' ? 'it does not exist' : undefined,
    409: operation.errors?.[409],
    413: operation.body
      ? 'the body is too large (1 MB for a person’s request, 10 MB for a webhook delivery)'
      : undefined,
    415: operation.body ? 'the body is not sent as JSON (Content-Type: application/json)' : undefined,
    429: `on AWS: the stage's throttling (${THROTTLING.rateLimit} requests a second, bursts of ${THROTTLING.burstLimit})`,
    500: 'Kiln failed: the cause is logged, never answered',
  };
  return Object.fromEntries(
    Object.entries(when)
      .filter((entry): entry is [string, string] => entry[1] !== undefined)
      .map(([status, description]) => [
        status,
        { description: `${capitalised(description)}.`, content: problemContent },
      ]),
  );
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

function operationObject(route: Route, operation: Operation): ZodOpenApiOperationObject {
  const responses = Object.fromEntries(
    Object.entries(operation.answers).map(([status, answer]) => [
      status,
      {
        description: answer.description,
        ...(answer.headers ? { headers: answer.headers } : {}),
        content: { 'application/json': { schema: answer.schema } },
      },
    ]),
  );
  return {
    operationId: route.handler,
    tags: [operation.tag],
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    ...(route.auth === 'none' ? { security: [] } : {}),
    ...(operation.path || operation.query || operation.ifMatch || operation.headers
      ? {
          requestParams: {
            ...(operation.path ? { path: z.object(operation.path) } : {}),
            ...(operation.query ? { query: operation.query } : {}),
            ...(operation.ifMatch ? { header: IF_MATCH_HEADER } : {}),
            ...(operation.headers ? { header: operation.headers } : {}),
          },
        }
      : {}),
    ...(operation.body
      ? {
          requestBody: {
            required: operation.body.required,
            ...(operation.body.description ? { description: operation.body.description } : {}),
            content: { 'application/json': { schema: operation.body.schema } },
          },
        }
      : {}),
    responses: { ...responses, ...errorAnswers(route, operation) },
  };
}

const routeKey = (route: Pick<Route, 'method' | 'path'>) => `${route.method} ${route.path}`;

/** The document of `routes` (the manifest's): throws for a route without an operation, or the reverse. */
export function buildOpenApiDocument(routes: readonly Route[] = ROUTES): ReturnType<typeof createDocument> {
  const keys = new Set(routes.map(routeKey));
  const undescribed = routes.filter((route) => !OPERATIONS[routeKey(route)]).map(routeKey);
  const stale = Object.keys(OPERATIONS).filter((key) => !keys.has(key));
  if (undescribed.length > 0 || stale.length > 0) {
    throw new Error(
      [
        ...undescribed.map(
          (key) => `${key} is a route of functions/manifest.ts: describe it in infra/openapi.ts`,
        ),
        ...stale.map(
          (key) => `${key} is described in infra/openapi.ts but is no route of functions/manifest.ts`,
        ),
      ].join('\n'),
    );
  }
  const paths: ZodOpenApiObject['paths'] = {};
  for (const route of routes) {
    const operation = OPERATIONS[routeKey(route)] as Operation;
    paths[route.path] = {
      ...paths[route.path],
      [route.method.toLowerCase()]: operationObject(route, operation),
    };
  }
  return createDocument({
    openapi: '3.1.1',
    info: {
      title: 'Kiln',
      version: '1',
      description:
        'Kiln provisions immutable stacks: environments, their deployments (blue/green or canary), sleeping and waking. Errors are RFC 9457 problems (`application/problem+json`). See the README, "The API".',
    },
    servers: [
      {
        url: '/',
        description:
          'Relative to where the document is served: GET /openapi.json names the base path it was reached through.',
      },
    ],
    security: [{ bearerToken: [] }, { sigv4: [] }],
    tags: [...TAGS],
    paths,
    components: {
      securitySchemes: {
        bearerToken: {
          type: 'http',
          scheme: 'bearer',
          description:
            'Embedded Kiln: a token of KILN_TOKENS (`token=team:person[:roles]`, see the README "Identity").',
        },
        sigv4: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            'On AWS: an AWS Signature Version 4 (service execute-api) of an IAM principal of a role kiln-team-<team>[+<role>...] (see the README "Identity").',
          'x-amazon-apigateway-authtype': 'awsSigv4',
        },
      },
      schemas: {
        Problem: problemAnswer,
        Environment: environmentAnswer,
        EnvironmentChange: environmentChangeAnswer,
        Deployment: deploymentAnswer,
        DeploymentDetail: deploymentDetailAnswer,
        Template: templateAnswer,
        Stack: stackAnswer,
        Push: pushAnswer,
        AuditEvent: auditEventAnswer,
        Spec: spec,
        Instant: instant,
        PutEnvironment: putEnvironmentBody,
        PutTemplate: putTemplateBody,
      },
    },
  });
}

/** Where the document is kept: what GET /openapi.json serves (its handler imports it). */
export const OPENAPI_FILE = resolve(import.meta.dirname, '../docs/openapi.json');

/** The document as docs/openapi.json holds it. */
export function openApiText(document: object = buildOpenApiDocument()): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
