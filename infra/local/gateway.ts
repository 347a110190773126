import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { localLambdaContext } from '../../functions/adapters/local/lambda-context.ts';
import { problem } from '../../functions/shared/http.ts';
import type { Route } from '../../functions/shared/routes.ts';

/** An API handler as API Gateway's Lambda proxy integration calls it. */
export type ApiHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export interface GatewayOptions {
  host: string;
  port: number;
  /** Bearer token → team, from KILN_TOKENS. */
  tokens: ReadonlyMap<string, string>;
  routes: readonly Route[];
  handlers: ReadonlyMap<string, ApiHandler>;
}

/** API Gateway rejects larger payloads too (10 MB there; Kiln's bodies are small). */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The embedded API Gateway: matches a route, authenticates the bearer token the way API Gateway's
 * IAM authorizer authenticates a signature (rejecting the request before any handler runs), and
 * calls the route's handler with a REST proxy event whose `requestContext.identity.userArn` is the
 * team's role (`kiln-team-<team>`), exactly the shape the handlers get in AWS.
 */
export async function startGateway(options: GatewayOptions): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    serve(options, req, res).catch((error: Error) => {
      send(res, problem(500, `gateway error: ${error.message}`));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${options.host}:${port}`, server };
}

async function serve(options: GatewayOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://gateway');
  const matched = matchRoute(options.routes, req.method ?? 'GET', url.pathname);
  if (matched === 'method-not-allowed')
    return send(res, problem(405, `${req.method} is not allowed on ${url.pathname}`));
  if (!matched) return send(res, problem(404, `no route for ${req.method} ${url.pathname}`));
  const team = authenticate(options.tokens, req.headers.authorization);
  if (typeof team !== 'string') return send(res, team);
  const body = await readBody(req);
  if (body === 'too-large') return send(res, problem(413, `the body exceeds ${MAX_BODY_BYTES} bytes`));
  const handler = options.handlers.get(matched.route.handler);
  if (!handler) return send(res, problem(500, `no handler module for ${matched.route.handler}`));
  const event = proxyEvent(req, url, matched, body, team, req.headers.authorization ?? '');
  send(res, await handler(event, localLambdaContext(`kiln-api-${matched.route.handler}`, 29_000)));
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

/** Returns the caller's team, or the 401 API Gateway would send. */
function authenticate(
  tokens: ReadonlyMap<string, string>,
  authorization: string | undefined,
): string | APIGatewayProxyResult {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  if (!token) return problem(401, 'send Authorization: Bearer <token> (see KILN_TOKENS in the README)');
  return tokens.get(token) ?? problem(401, 'the bearer token is not known to this Kiln');
}

async function readBody(req: IncomingMessage): Promise<string | null | 'too-large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) return 'too-large';
    chunks.push(chunk as Buffer);
  }
  return size === 0 ? null : Buffer.concat(chunks).toString('utf8');
}

function proxyEvent(
  req: IncomingMessage,
  url: URL,
  matched: MatchedRoute,
  body: string | null,
  team: string,
  authorization: string,
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
  const session = createHash('sha256').update(authorization).digest('hex').slice(0, 12);
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
        caller: `AROALOCAL:${session}`,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        user: `AROALOCAL:${session}`,
        userAgent: req.headers['user-agent'] ?? null,
        userArn: `arn:aws:sts::000000000000:assumed-role/kiln-team-${team}/${session}`,
      },
    },
  };
}

function send(res: ServerResponse, result: APIGatewayProxyResult): void {
  if (res.headersSent) return;
  res.writeHead(result.statusCode, result.headers as Record<string, string>);
  res.end(result.body);
}
