import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { ROUTES as routes } from '../../functions/manifest.ts';
import { apiHandler, json } from '../../functions/shared/http.ts';
import { DASHBOARD_ASSETS } from '../../infra/dashboard-assets.ts';
import { parseTokens } from '../../infra/local/config.ts';
import { type ApiHandler, startGateway } from '../../infra/local/gateway.ts';
import { TOKEN } from '../support/kiln-process.ts';

/** What a raw HTTP exchange ended with: the answer, and every error the client saw on the way. */
interface Exchange {
  status?: number;
  headers?: Record<string, string | string[] | undefined>;
  body: string;
  errors: string[];
  /** Whether the server asked for the body (Expect: 100-continue). */
  continued: boolean;
}

const TWENTY_MB = 20 * 1024 * 1024;

/**
 * One request over node:http on its own connection. The body is queued whole before any answer can
 * arrive, as a client uploading a file does; resolves once the connection is closed, so a reset after
 * the answer is still seen.
 */
function exchange(
  url: string,
  options: {
    method?: string;
    path: string;
    token?: string;
    body?: Buffer;
    chunked?: boolean;
    expectContinue?: boolean;
  },
): Promise<Exchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const result: Exchange = { body: '', errors: [], continued: false };
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.body && !options.chunked) headers['content-length'] = String(options.body.length);
    if (options.expectContinue) headers.expect = '100-continue';
    const req = request({
      host: hostname,
      port,
      method: options.method ?? 'PUT',
      path: options.path,
      headers,
      agent: false,
    });
    const sendBody = () => {
      if (!options.body) return req.end();
      if (!options.chunked) return req.end(options.body);
      for (let at = 0; at < options.body.length; at += 256 * 1024)
        req.write(options.body.subarray(at, at + 256 * 1024));
      req.end();
    };
    req.on('error', (error: NodeJS.ErrnoException) => result.errors.push(error.code ?? error.message));
    req.on('continue', () => {
      result.continued = true;
      sendBody();
    });
    req.on('response', (res) => {
      result.status = res.statusCode;
      result.headers = res.headers;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        result.body += chunk;
      });
      res.on('error', (error: NodeJS.ErrnoException) => result.errors.push(error.code ?? error.message));
    });
    req.on('close', () => setImmediate(() => resolve(result)));
    if (!options.expectContinue) sendBody();
  });
}

/** Host paths and stack frames must never reach a client. */
function assertNothingOfTheHost(body: string) {
  assert.doesNotMatch(body, /\/(home|root|work|tmp|usr|var|opt)\//);
  assert.doesNotMatch(body, /\bat .*:\d+:\d+/);
  assert.ok(!body.includes(process.cwd()), body);
}

describe('embedded API gateway', { timeout: 120_000 }, () => {
  let server: Server;
  let url: string;
  const HOST_DETAIL = `ENOENT: no such file or directory, open '${process.cwd()}/.kiln/secret.json'\n    at open (/home/kiln/app.ts:12:3)`;

  before(async () => {
    const echo: ApiHandler = async (event: APIGatewayProxyEvent) =>
      json(200, {
        pathParameters: event.pathParameters,
        bodyBytes: event.body?.length ?? 0,
        identity: event.requestContext.identity,
      });
    const handlers = new Map<string, ApiHandler>(routes.map((route) => [route.handler, echo]));
    handlers.set('listStacks', async () => {
      throw new Error(HOST_DETAIL);
    });
    handlers.set(
      'getDeployment',
      apiHandler(
        () => ({}),
        async () => {
          throw new Error(HOST_DETAIL);
        },
      ),
    );
    const gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tokens: parseTokens(`${TOKEN}=platform:pat.ops@example.com:freeze-manager+approver`),
      routes,
      handlers,
    });
    server = gateway.server;
    url = gateway.url;
  });

  after(async () => {
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  });

  it("hands the handler the token's person and roles as a session of the team's role, never the token", async () => {
    const response = await fetch(`${url}/environments`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const { identity } = (await response.json()) as { identity: Record<string, unknown> };
    assert.equal(
      identity.userArn,
      'arn:aws:sts::000000000000:assumed-role/kiln-team-platform+approver+freeze-manager/pat.ops@example.com',
    );
    assert.equal(identity.caller, 'AROALOCAL:pat.ops@example.com');
    assert.ok(!JSON.stringify(identity).includes(TOKEN));
  });

  describe('malformed percent-encoding in the path', () => {
    const samples = ['%ZZ', '%E0%A4%A', '%', '%C3', '%FF'];
    const targets = [
      ...routes.map((route) => ({
        method: route.method,
        template: route.path.includes('{') ? route.path : `${route.path}/{x}`,
      })),
      { method: 'GET', template: '/nowhere/{x}' },
    ];
    const requests = new Set<string>();
    for (const { method, template } of targets) {
      for (const sample of samples) {
        const path = template.replace(/\{[^}]+\}/, sample).replace(/\{[^}]+\}/g, 'd-000000000-0000000000');
        if (requests.has(`${method} ${path}`)) continue;
        requests.add(`${method} ${path}`);
        it(`answers ${method} ${path} with 400 problem+json`, async () => {
          const response = await fetch(`${url}${path}`, {
            method,
            headers: { authorization: `Bearer ${TOKEN}` },
          });
          assert.equal(response.status, 400);
          assert.equal(response.headers.get('content-type'), 'application/problem+json');
          const problem = (await response.json()) as { status: number; detail: string };
          assert.equal(problem.status, 400);
          assert.match(problem.detail, /percent-encoding/);
        });
      }
    }

    it('still decodes well-formed encodings into path parameters', async () => {
      const response = await fetch(`${url}/environments/caf%C3%A9`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(response.status, 200);
      assert.deepEqual(((await response.json()) as { pathParameters: unknown }).pathParameters, {
        name: 'café',
      });
    });
  });

  describe('large bodies are always answered, never reset', () => {
    const body = Buffer.alloc(TWENTY_MB, 'a');
    const cases = [
      { name: 'authenticated, with Content-Length', token: TOKEN, chunked: false, status: 413 },
      { name: 'authenticated, chunked', token: TOKEN, chunked: true, status: 413 },
      { name: 'unauthenticated, with Content-Length', token: undefined, chunked: false, status: 401 },
      { name: 'unauthenticated, chunked', token: undefined, chunked: true, status: 401 },
    ];
    for (const c of cases) {
      it(`answers 20 MB ${c.name} with ${c.status}, five times without a reset`, async () => {
        for (let round = 0; round < 5; round++) {
          const result = await exchange(url, {
            path: '/environments/big-dev',
            token: c.token,
            body,
            chunked: c.chunked,
          });
          assert.deepEqual(result.errors, [], `round ${round}`);
          assert.equal(result.status, c.status, `round ${round}: ${result.body}`);
          assert.equal(result.headers?.['content-type'], 'application/problem+json');
          assert.equal(JSON.parse(result.body).status, c.status);
        }
      });
    }

    it('cuts off a client that keeps sending past 64 MB, after answering it', async () => {
      const result = await exchange(url, {
        path: '/environments/big-dev',
        token: TOKEN,
        body: Buffer.alloc(80 * 1024 * 1024, 'a'),
      });
      assert.equal(result.status, 413);
      assert.ok(result.errors.length > 0, 'the connection was cut');
      const after = await fetch(`${url}/environments`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(after.status, 200);
    });

    it('refuses a declared oversize body before asking for it (Expect: 100-continue)', async () => {
      for (const token of [TOKEN, undefined]) {
        const result = await exchange(url, {
          path: '/environments/big-dev',
          token,
          body,
          expectContinue: true,
        });
        assert.equal(result.status, token ? 413 : 401);
        assert.equal(result.continued, false);
        assert.deepEqual(result.errors, []);
      }
    });

    it('asks for and accepts a body within the limit (Expect: 100-continue)', async () => {
      const small = Buffer.from(JSON.stringify({ hello: 'world' }));
      const result = await exchange(url, {
        path: '/environments/small-dev',
        token: TOKEN,
        body: small,
        expectContinue: true,
      });
      assert.equal(result.status, 200, result.body);
      assert.equal(result.continued, true);
      assert.equal(JSON.parse(result.body).bodyBytes, small.length);
    });

    it('keeps the connection of an ordinary request open', async () => {
      const response = await fetch(`${url}/environments`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(response.status, 200);
      assert.notEqual(response.headers.get('connection'), 'close');
    });
  });

  describe('failures say nothing about the host', () => {
    it('answers a handler that throws with a generic 500 problem', async () => {
      const response = await fetch(`${url}/environments/edge-dev/stacks`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(response.status, 500);
      assert.equal(response.headers.get('content-type'), 'application/problem+json');
      const text = await response.text();
      assertNothingOfTheHost(text);
      assert.equal(JSON.parse(text).detail, 'Kiln could not complete the request.');
    });

    it('answers an API handler whose route throws with a generic 500 problem', async () => {
      const response = await fetch(`${url}/environments/edge-dev/deployments/d-000000000-0000000000`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      assert.equal(response.status, 500);
      assertNothingOfTheHost(await response.text());
    });
  });

  describe('the dashboard', () => {
    /** A request with its target sent exactly as written (fetch would normalize `..` and `//` away first). */
    const get = async (path: string, method = 'GET') => {
      const { status, headers, body } = await exchange(url, { method, path });
      assert.ok(status !== undefined && headers, `${method} ${path} got no answer`);
      return { status, headers, body };
    };

    it('serves the page without a token, with a restrictive Content-Security-Policy and no sniffing or framing', async () => {
      const page = await get('/ui/');
      assert.equal(page.status, 200);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      const policy = String(page.headers['content-security-policy']);
      for (const directive of [
        "default-src 'none'",
        "connect-src 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
      ]) {
        assert.ok(policy.includes(directive), `${directive} in ${policy}`);
      }
      assert.match(policy, /script-src 'self' 'sha256-[A-Za-z0-9+/]+=*';/);
      assert.doesNotMatch(policy, /unsafe-|\*/);
      assert.equal(page.headers['x-content-type-options'], 'nosniff');
      assert.equal(page.headers['x-frame-options'], 'DENY');
      assert.equal(page.headers['referrer-policy'], 'no-referrer');
      assert.match(page.body, /<script type="module" src="app.js"><\/script>/);
    });

    it('serves each of its files under its own name with the content type of what it is', async () => {
      for (const asset of DASHBOARD_ASSETS) {
        const answer = await get(`/ui/${asset.name}`);
        assert.equal(answer.status, 200, asset.name);
        assert.equal(answer.headers['content-type'], asset.contentType, asset.name);
        assert.equal(answer.body, readFileSync(asset.file, 'utf8'), asset.name);
      }
      assert.equal((await get('/ui/app.js')).headers['content-type'], 'text/javascript; charset=utf-8');
      assert.equal((await get('/ui/style.css')).headers['content-type'], 'text/css; charset=utf-8');
    });

    it('answers HEAD without a body, sends /ui to /ui/, and refuses other methods', async () => {
      const head = await get('/ui/app.js', 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      const bare = await get('/ui');
      assert.equal(bare.status, 308);
      assert.equal(bare.headers.location, '/ui/');
      const post = await get('/ui/app.js', 'POST');
      assert.equal(post.status, 405);
      assert.equal(post.headers.allow, 'GET, HEAD');
    });

    it('serves nothing outside its own files: no path traversal, encoded or not, and no other host', async () => {
      const targets = [
        '/ui/../package.json',
        '/ui/%2e%2e/package.json',
        '/ui/%2E%2E/%2e%2e/package.json',
        '/ui/.%2e/package.json',
        '/ui/..%2fpackage.json',
        '/ui/..%2F..%2Fpackage.json',
        '/ui/%5c..%5cpackage.json',
        '/ui/..\\package.json',
        '/ui//package.json',
        '/ui/app.js/../../package.json',
        '/ui/app.js%00.html',
        '/ui/index.html',
        '/ui/api.js/',
        '/ui/node_modules/preact/package.json',
        '//host/ui/../package.json',
        '//evil.example/package.json',
        '/ui/../infra/local/config.ts',
        '/ui/../.kiln/runtime.json',
      ];
      for (const target of targets) {
        const answer = await get(target);
        // Refused by the gateway itself: a handler (the echo) would have answered 200.
        assert.ok([400, 404].includes(answer.status), `${target}: ${answer.status}`);
        assert.equal(answer.headers['content-type'], 'application/problem+json', target);
        assert.doesNotMatch(answer.body, /"devDependencies"|"allowScripts"|KILN_TOKENS/, target);
      }
    });

    it('still asks for a token on every API route', async () => {
      const refused = await get('/environments');
      assert.equal(refused.status, 401);
      const accepted = await exchange(url, { method: 'GET', path: '/environments', token: TOKEN });
      assert.equal(accepted.status, 200);
    });
  });
});
