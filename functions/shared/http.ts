import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import httpHeaderNormalizer from '@middy/http-header-normalizer';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { safeParse } from 'zod/mini';
import type { $ZodType, output } from 'zod/v4/core';
import { type Actor, personActing } from '../core/actors.ts';
import { type Caller, callerOfPrincipal } from '../core/caller.ts';
import {
  ConflictError,
  ForbiddenError,
  FrozenError,
  KilnError,
  LeaseHeldError,
  NotFoundError,
  UnauthorizedError,
  ValidationError,
  VersionConflictError,
} from '../core/errors.ts';
import { logger } from './logger.ts';

/** What an API route handler gets: the event, the authenticated caller (as an actor too) and its ports. */
export interface ApiRequest<P> {
  event: APIGatewayProxyEvent;
  caller: Caller;
  /** The caller as the cause of what the request changes: a person acting for their team. */
  actor: Actor;
  ports: P;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
};

/**
 * An API Gateway (REST, proxy integration) handler: authenticates the caller from the request
 * context, builds the route's ports with its composition root (`portsOf`, see roots/), runs the route,
 * and turns errors into RFC 9457 problem+json. Only Kiln's own errors
 * reach the client with their message; anything else is logged and answered with a bare 500.
 */
export function apiHandler<P>(
  portsOf: () => P,
  route: (request: ApiRequest<P>) => Promise<APIGatewayProxyResult>,
) {
  return middy(async (event: APIGatewayProxyEvent, _context: Context) => {
    const caller = callerOf(event);
    return route({ event, caller, actor: personActing(caller), ports: portsOf() });
  })
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(httpHeaderNormalizer())
    .use(problemDetails());
}

/**
 * An open route (no IAM: a webhook, whose caller proves itself with a signature the route checks): the
 * same edge as apiHandler (logging, lower-cased headers, problem+json), without an identity.
 */
export function openRouteHandler<P>(
  portsOf: () => P,
  route: (request: { event: APIGatewayProxyEvent; ports: P }) => Promise<APIGatewayProxyResult>,
) {
  return middy(async (event: APIGatewayProxyEvent, _context: Context) => route({ event, ports: portsOf() }))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(httpHeaderNormalizer())
    .use(problemDetails());
}

/** The body exactly as the client sent it: a signature is computed over these bytes. */
export function rawBody(event: APIGatewayProxyEvent): string {
  if (!event.body) return '';
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
}

export class UnsupportedMediaTypeError extends KilnError {}

/**
 * The HTTP status each of Kiln's errors answers with at the REST edge. An error not listed here (a
 * failed launch, a broken invariant, a bug) is Kiln's problem, not the caller's: 500, message logged only.
 */
type ErrorClass = abstract new (...args: never[]) => Error;
const HTTP_STATUS: ReadonlyMap<ErrorClass, number> = new Map<ErrorClass, number>([
  [ValidationError, 400],
  [UnauthorizedError, 401],
  [ForbiddenError, 403],
  [NotFoundError, 404],
  [VersionConflictError, 409],
  [ConflictError, 409],
  [FrozenError, 409],
  [LeaseHeldError, 409],
  [UnsupportedMediaTypeError, 415],
]);

/** The status an error answers with (500 for anything that is not a caller's mistake). */
export function httpStatusOf(error: unknown): number {
  for (const [type, status] of HTTP_STATUS) if (error instanceof type) return status;
  return 500;
}

function problemDetails(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    onError: async (request) => {
      const error = request.error;
      const status = httpStatusOf(error);
      const known = status < 500;
      if (!known) logger.error('request failed', { error: { name: error?.name, message: error?.message } });
      request.response = problem(
        status,
        known ? (error as Error).message : 'Kiln could not complete the request.',
        {
          instance: request.event.requestContext?.requestId,
          ...(error instanceof ValidationError && error.issues.length > 0 ? { errors: error.issues } : {}),
        },
      );
    },
  };
}

/** An `application/problem+json` response. */
export function problem(
  status: number,
  detail: string,
  extra: Record<string, unknown> = {},
): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/problem+json' },
    body: JSON.stringify({ type: 'about:blank', title: TITLES[status] ?? 'Error', status, detail, ...extra }),
  };
}

export function json(
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * The caller as API Gateway's IAM authorizer identifies it (`requestContext.identity.userArn`: the team,
 * roles and person are read from it, see callerOfPrincipal); never from a header the client chooses.
 */
export function callerOf(event: APIGatewayProxyEvent): Caller {
  const principal = event.requestContext?.identity?.userArn;
  if (!principal) throw new UnauthorizedError('the request carries no authenticated identity');
  const caller = callerOfPrincipal(principal);
  if (!caller) {
    throw new ForbiddenError(
      `principal ${principal} does not act for any Kiln team: use a session of a role kiln-team-<team>[+<role>...], or an IAM user under that path`,
    );
  }
  return caller;
}

/** Parses and validates a JSON body; ValidationError (400) with every issue when it does not fit. */
export function parseBody<S extends $ZodType>(event: APIGatewayProxyEvent, schema: S): output<S> {
  const contentType = event.headers?.['content-type'] ?? '';
  if (event.body && !/^application\/([\w.+-]+\+)?json\b/i.test(contentType)) {
    throw new UnsupportedMediaTypeError('send the body as JSON with Content-Type: application/json');
  }
  let value: unknown = {};
  if (event.body) {
    try {
      value = JSON.parse(
        event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body,
      );
    } catch (error) {
      throw new ValidationError(`the body is not valid JSON: ${(error as Error).message}`);
    }
  }
  refuseForbiddenKeys(value);
  return validate(schema, value, 'the body');
}

/**
 * Keys that reach JavaScript's prototype machinery. JSON.parse makes `__proto__` an ordinary own key,
 * but any spread, assignment or merge downstream turns it into a prototype change (zod's record
 * dropped it without a word); `constructor` and `prototype` are the other half of such gadgets. No
 * Kiln body has a use for them, so they are refused wherever they appear, once, for every route.
 */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
const MAX_REPORTED_KEYS = 20;

/** ValidationError naming every path of the body that holds a forbidden key. */
function refuseForbiddenKeys(body: unknown): void {
  interface Step {
    key: string;
    parent?: Step;
  }
  const pathOf = (step: Step): string => {
    const keys: string[] = [];
    for (let at: Step | undefined = step; at; at = at.parent) keys.push(at.key);
    return keys.reverse().join('.');
  };
  const found: Step[] = [];
  // Depth-first with an explicit stack: JSON.parse accepts nesting far deeper than the call stack.
  const pending: { value: unknown; at?: Step }[] = [{ value: body }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    if (typeof next.value !== 'object' || next.value === null) continue;
    const children = Object.entries(next.value);
    for (let i = children.length - 1; i >= 0; i--) {
      const [key, value] = children[i] as [string, unknown];
      const step: Step = next.at ? { key, parent: next.at } : { key };
      if (FORBIDDEN_KEYS.has(key)) found.push(step);
      pending.push({ value, at: step });
    }
  }
  if (found.length === 0) return;
  // A body can repeat a key thousands of times: name the first few, count the rest.
  const issues = found.slice(0, MAX_REPORTED_KEYS).map((step) => ({
    path: pathOf(step),
    message: '__proto__, constructor and prototype are not allowed as keys',
  }));
  const more = found.length > issues.length ? ` (and ${found.length - issues.length} more)` : '';
  throw new ValidationError(
    `the body is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}${more}`,
    issues,
  );
}

/** Validates a value at the edge; `what` names it in the message (the body, the path). */
export function validate<S extends $ZodType>(schema: S, value: unknown, what: string): output<S> {
  const result = safeParse(schema, value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    path: issue.path.map(String).join('.') || '(root)',
    message: issue.message,
  }));
  throw new ValidationError(
    `${what} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    issues,
  );
}

/**
 * `If-Match` of the routes that replace a versioned record: its version, as the ETag gives it (`"3"`), weak
 * (`W/"3"`) or bare (`3`); the version is the first group. (The OpenAPI document's pattern too.)
 */
export const IF_MATCH = /^(?:W\/)?"?(\d+)"?$/;

/** `If-Match: "3"` (or W/"3", or 3) → 3; absent → undefined; anything else is a 400. */
export function ifMatchOf(event: APIGatewayProxyEvent): number | undefined {
  const header = event.headers?.['if-match'];
  if (header === undefined || header === '') return undefined;
  const match = IF_MATCH.exec(header.trim());
  if (!match) throw new ValidationError(`If-Match must be an environment version such as "3", not ${header}`);
  return Number(match[1]);
}

/** The ETag header of an environment version. */
export function etag(version: number): Record<string, string> {
  return { etag: `"${version}"` };
}

/** A validated path parameter (`{name}`, `{id}`). */
export function pathParameter<S extends $ZodType>(
  event: APIGatewayProxyEvent,
  key: string,
  schema: S,
): output<S> {
  return validate(schema, event.pathParameters?.[key], `path parameter ${key}`);
}
