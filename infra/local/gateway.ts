import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ALBEvent, ALBResult, APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { localLambdaContext } from '../../functions/adapters/local/lambda-context.ts';
import { teamRoleName } from '../../functions/core/caller.ts';
import type { Route } from '../../functions/manifest.ts';
import { problem } from '../../functions/shared/http.ts';
import { logger } from '../../functions/shared/logger.ts';
import { isDashboardPath } from '../dashboard-assets.ts';
import type { TokenHolder } from './config.ts';
import { serveDashboard } from './dashboard.ts';

/** An API handler as API Gateway's Lambda proxy integration calls it. */
export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface GatewayOptions {
  host: string;
  port: number;
  /** Bearer token → the person, team and roles it stands for, from KILN_TOKENS. */
  tokens: ReadonlyMap<string, TokenHolder>;
  routes: readonly Route[];
  handlers: ReadonlyMap<string, ApiHandler>;
  /** The ALB targets (the waker) by entry point name, invoked at `POST /_targets/<name>` (see `invokeTarget`). */
  targets?: ReadonlyMap<string, TargetHandler>;
}

/** An ALB Lambda target as the ALB calls it. */
export type TargetHandler = (event: ALBEvent, context: Context) => Promise<ALBResult>;

/** Where the embedded ALB targets are invoked: the traffic daemon's parked endpoints call the waker there. */
export const TARGETS_PATH = '/_targets/';

/** API Gateway rejects larger payloads too (10 MB there; Kiln's bodies are small). */
const MAX_BODY_BYTES = 1024 * 1024;
/**
 * An open route takes what API Gateway itself takes (10 MB): a GitHub push payload lists up to 2,048
 * commits and can pass 1 MB. Only open routes: a person's API request is small.
 */
const MAX_OPEN_ROUTE_BODY_BYTES = 10 * 1024 * 1024;

/**
 * A request answered before its body was read (401, 413, ...) still has its body on the way. Closing
 * the connection while the client is still sending makes the kernel reset it, and the client loses
 * the answer; so the gateway reads and drops the rest first. Bounded, so a client cannot keep a
 * connection busy forever: past 64 MB or 10 s it is cut off (a 20 MB upload on loopback takes ~50 ms).
 */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
const DRAIN_MAX_MS = 10_000;

/** What a client sees when the gateway or a handler fails: the cause goes to the log, never to the client. */
const GENERIC_FAILURE = 'Kiln could not complete the request.';

/** Requests that announced `Expect: 100-continue` and were told to send their body. */
const continued = new WeakSet<IncomingMessage>();

/**
 * The embedded API Gateway: matches a route, authenticates the bearer token the way API Gateway's
 * IAM authorizer authenticates a signature (rejecting the request before any handler runs, and before
 * reading its body), and calls the route's handler with a REST proxy event whose
 * `requestContext.identity.userArn` is a session of the team's role named by the person
 * (`assumed-role/kiln-team-<team>[+<role>...]/<person>`), exactly the shape the handlers get in AWS.
 * It also serves the web dashboard's files under `/ui/` (see ./dashboard.ts), open as on AWS.
 */
export async function startGateway(options: GatewayOptions): Promise<{ url: string; server: Server }> {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    serve(options, req, res).catch((error: Error) => {
      logger.error('gateway error', { error: { name: error.name, message: error.message } });
      answer(req, res, problem(500, GENERIC_FAILURE));
    });
  };
  const server = createServer(onRequest);
  // Handling Expect: 100-continue ourselves lets a refused request (401, 413) be answered before the
  // client sends its body at all; Node would otherwise ask for the body straight away.
  server.on('checkContinue', onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${options.host}:${port}`, server };
}

async function serve(options: GatewayOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const target = req.url ?? '/';
  const url = URL.parse(target.startsWith('/') ? `http://gateway${target}` : target);
  if (!url) return answer(req, res, problem(400, 'the request target is not a path'));
  if (!wellEncoded(url.pathname)) {
    return answer(
      req,
      res,
      problem(
        400,
        `the path ${url.pathname.slice(0, 200)} is not valid percent-encoding: ` +
          'each % must start a UTF-8 byte written as two hex digits (%2F, %C3%A9)',
      ),
    );
  }
  if (url.pathname.startsWith(TARGETS_PATH)) return invokeTarget(options, req, res, url.pathname);
  // The dashboard's files are open, as on AWS: they hold no data; the page calls the API with a token.
  if (isDashboardPath(url.pathname))
    return answer(req, res, serveDashboard(req.method ?? 'GET', url.pathname));
  const matched = matchRoute(options.routes, req.method ?? 'GET', url.pathname);
  if (matched === 'method-not-allowed')
    return answer(req, res, problem(405, `${req.method} is not allowed on ${url.pathname}`));
  if (!matched) return answer(req, res, problem(404, `no route for ${req.method} ${url.pathname}`));
  // An open route (a webhook) authenticates its caller itself; every other route needs a known token.
  const open = matched.route.auth === 'none';
  const holder = open ? undefined : authenticate(options.tokens, req.headers.authorization);
  if (holder && 'statusCode' in holder) return answer(req, res, holder);
  const limit = open ? MAX_OPEN_ROUTE_BODY_BYTES : MAX_BODY_BYTES;
  const tooLarge = problem(413, `the body exceeds ${limit} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > limit) return answer(req, res, tooLarge);
  const body = await readBody(req, res, limit);
  if (body === 'too-large') return answer(req, res, tooLarge);
  const handler = options.handlers.get(matched.route.handler);
  if (!handler) return answer(req, res, problem(500, `no handler module for ${matched.route.handler}`));
  const event = proxyEvent(req, url, matched, body, holder);
  answer(req, res, await handler(event, localLambdaContext(`kiln-api-${matched.route.handler}`, 29_000)));
}

/**
 * Invokes an ALB target as Lambda's Invoke does: the body is the event (the ALB's request event), the answer
 * the function's result as JSON. Only from this machine: the embedded data plane is its one caller, as the
 * ALB is on AWS. What a target can be made to do is what a request to an endpoint does (wake it).
 */
async function invokeTarget(
  options: GatewayOptions,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const name = path.slice(TARGETS_PATH.length);
  const handler = options.targets?.get(name);
  if (!handler) return answer(req, res, problem(404, `no target ${name.slice(0, 100)}`));
  if (req.method !== 'POST') return answer(req, res, problem(405, 'invoke a target with POST'));
  if (!isLoopback(req.socket.remoteAddress)) {
    return answer(req, res, problem(403, 'targets are invoked by the embedded data plane only'));
  }
  const body = await readBody(req, res, MAX_BODY_BYTES);
  if (body === 'too-large') return answer(req, res, problem(413, `the body exceeds ${MAX_BODY_BYTES} bytes`));
  let event: ALBEvent;
  try {
    event = JSON.parse(body ?? '') as ALBEvent;
  } catch {
    return answer(req, res, problem(400, 'the body must be the ALB event, as JSON'));
  }
  const result = await handler(event, localLambdaContext(`kiln-${name}`, 60_000));
  answer(req, res, {
    statusCode: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(result),
  });
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1';
}

/** Whether every percent-encoding of the path decodes (two hex digits each, forming UTF-8). */
function wellEncoded(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

interface MatchedRoute {
  route: Route;
  pathParameters: Record<string, string>;
}

function matchRoute(
  routes: readonly Route[],
  method: string,
  path: string,
): MatchedRoute | 'method-not-allowed' | undefined {
  let pathMatched = false;
  for (const route of routes) {
    const pathParameters = matchPath(route.path, path);
    if (!pathParameters) continue;
    pathMatched = true;
    if (route.method === method) return { route, pathParameters };
  }
  return pathMatched ? 'method-not-allowed' : undefined;
}

function matchPath(template: string, path: string): Record<string, string> | undefined {
  const want = template.split('/');
  const got = path.replace(/\/+$/, '').split('/');
  if (want.length !== got.length) return undefined;
  const parameters: Record<string, string> = {};
  for (const [i, segment] of want.entries()) {
    const value = got[i] ?? '';
    if (segment.startsWith('{')) {
      if (!value) return undefined;
      parameters[segment.slice(1, -1)] = decodeURIComponent(value);
    } else if (segment !== value) return undefined;
  }
  return parameters;
}

/** Returns who the token stands for, or the 401 API Gateway would send. */
function authenticate(
  tokens: ReadonlyMap<string, TokenHolder>,
  authorization: string | undefined,
): TokenHolder | APIGatewayProxyResult {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return problem(401, 'send Authorization: Bearer <token> (see KILN_TOKENS in the README)');
  return tokens.get(token) ?? problem(401, 'the bearer token is not known to this Kiln');
}

/**
 * The request body, or 'too-large' as soon as it passes `limit` bytes (the stream is then paused
 * with the rest unread, for `answer` to drain). Never iterates the stream with `for await`: leaving
 * such a loop early destroys the socket under the client.
 */
function readBody(
  req: IncomingMessage,
  res: ServerResponse,
  limit: number,
): Promise<string | null | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', reject);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        stop();
        req.pause();
        resolve('too-large');
      } else chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      resolve(size === 0 ? null : Buffer.concat(chunks).toString('utf8'));
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', reject);
    if (expectsContinue(req)) {
      continued.add(req);
      res.writeContinue();
    }
  });
}

function proxyEvent(
  req: IncomingMessage,
  url: URL,
  matched: MatchedRoute,
  body: string | null,
  holder: TokenHolder | undefined,
): APIGatewayProxyEvent {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || name === 'authorization') continue;
    const values = Array.isArray(value) ? value : [value];
    headers[name] = values.join(',');
    multiValueHeaders[name] = values;
  }
  const query = [...url.searchParams.keys()];
  return {
    resource: matched.route.path,
    path: url.pathname,
    httpMethod: matched.route.method,
    headers,
    multiValueHeaders,
    queryStringParameters: query.length ? Object.fromEntries(url.searchParams) : null,
    multiValueQueryStringParameters: query.length
      ? Object.fromEntries(query.map((k) => [k, url.searchParams.getAll(k)]))
      : null,
    pathParameters: Object.keys(matched.pathParameters).length ? matched.pathParameters : null,
    stageVariables: null,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '000000000000',
      apiId: 'kiln-local',
      authorizer: null,
      protocol: `HTTP/${req.httpVersion}`,
      httpMethod: matched.route.method,
      path: url.pathname,
      stage: 'local',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: matched.route.handler,
      resourcePath: matched.route.path,
      identity: {
        accessKey: null,
        accountId: '000000000000',
        apiKey: null,
        apiKeyId: null,
        caller: holder ? `AROALOCAL:${holder.person}` : null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        user: holder ? `AROALOCAL:${holder.person}` : null,
        userAgent: req.headers['user-agent'] ?? null,
        // An open route carries no identity, as API Gateway gives none without an authorizer.
        userArn: holder
          ? `arn:aws:sts::000000000000:assumed-role/${teamRoleName(holder.team, holder.roles)}/${holder.person}`
          : null,
      },
    },
  };
}

/**
 * Sends a result. When the request's body is still unread (answered early: 401, 413, a bad path),
 * the answer goes out with `Connection: close` and the connection ends only once the client has sent
 * the rest, which is read and dropped (see DRAIN_MAX_BYTES); a client that announced
 * `Expect: 100-continue` and was never asked for its body is answered and closed at once.
 */
function answer(req: IncomingMessage, res: ServerResponse, result: APIGatewayProxyResult): void {
  if (res.headersSent || res.destroyed) return;
  const headers = result.headers as Record<string, string> | undefined;
  if (req.complete || !announcesBody(req)) {
    res.writeHead(result.statusCode, headers);
    res.end(result.body);
    return;
  }
  res.writeHead(result.statusCode, {
    ...headers,
    'content-length': String(Buffer.byteLength(result.body)),
    connection: 'close',
  });
  if (expectsContinue(req) && !continued.has(req)) {
    res.end(result.body);
    return;
  }
  res.write(result.body);
  drain(req, res);
}

/** Reads and drops the rest of a request body, then ends the response; cuts the client off past the bounds. */
function drain(req: IncomingMessage, res: ServerResponse): void {
  let bytes = 0;
  const finish = (cutOff: boolean) => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('close', onClose);
    if (cutOff) res.destroy();
    else res.end();
  };
  const onData = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > DRAIN_MAX_BYTES) finish(true);
  };
  const onEnd = () => finish(false);
  const onClose = () => finish(true);
  const timer = setTimeout(() => finish(true), DRAIN_MAX_MS).unref();
  req.on('data', onData);
  req.once('end', onEnd);
  req.once('close', onClose);
  req.on('error', () => {}); // an aborted upload: 'close' follows and ends it
  if (req.readableEnded) finish(false);
  else req.resume();
}

function announcesBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function expectsContinue(req: IncomingMessage): boolean {
  return /\b100-continue\b/i.test(req.headers.expect ?? '');
}
