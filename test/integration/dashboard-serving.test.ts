import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ROUTES as routes } from '../../functions/manifest.ts';
import { json } from '../../functions/shared/http.ts';
import { DASHBOARD_ASSETS } from '../../infra/dashboard-assets.ts';
import { parseTokens } from '../../infra/local/config.ts';
import { type ApiHandler, startGateway } from '../../infra/local/gateway.ts';
import { TOKEN } from '../support/kiln-process.ts';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with its target sent exactly as written (fetch would normalize `..` and `//` away first). */
function raw(
  url: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, method, path: target, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const PACKAGE_JSON = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');

describe('the embedded gateway serving the dashboard', () => {
  let server: Server;
  let url: string;
  let handled = 0;

  before(async () => {
    const counting: ApiHandler = async () => {
      handled += 1;
      return json(200, {});
    };
    const gateway = await startGateway({
      host: '127.0.0.1',
      port: 0,
      tokens: parseTokens(`${TOKEN}=platform`),
      routes,
      handlers: new Map(routes.map((route) => [route.handler, counting])),
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

  it('serves the page without a token, with a restrictive Content-Security-Policy and no sniffing or framing', async () => {
    const page = await raw(url, 'GET', '/ui/');
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
      const answer = await raw(url, 'GET', `/ui/${asset.name}`);
      assert.equal(answer.status, 200, asset.name);
      assert.equal(answer.headers['content-type'], asset.contentType, asset.name);
      assert.equal(answer.body, readFileSync(asset.file, 'utf8'), asset.name);
    }
    assert.equal(
      (await raw(url, 'GET', '/ui/app.js')).headers['content-type'],
      'text/javascript; charset=utf-8',
    );
    assert.equal((await raw(url, 'GET', '/ui/style.css')).headers['content-type'], 'text/css; charset=utf-8');
  });

  it('answers HEAD without a body, sends /ui to /ui/, and refuses other methods', async () => {
    const head = await raw(url, 'HEAD', '/ui/app.js');
    assert.equal(head.status, 200);
    assert.equal(head.body, '');
    const bare = await raw(url, 'GET', '/ui');
    assert.equal(bare.status, 308);
    assert.equal(bare.headers.location, '/ui/');
    const post = await raw(url, 'POST', '/ui/app.js');
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
      const answer = await raw(url, 'GET', target);
      assert.ok([400, 404].includes(answer.status), `${target}: ${answer.status}`);
      assert.equal(answer.headers['content-type'], 'application/problem+json', target);
      assert.ok(
        !answer.body.includes('"allowScripts"') && !answer.body.includes(PACKAGE_JSON.slice(0, 40)),
        target,
      );
    }
    assert.equal(handled, 0, 'no request for the dashboard reached an API handler');
  });

  it('still asks for a token on every API route', async () => {
    const refused = await raw(url, 'GET', '/environments');
    assert.equal(refused.status, 401);
    const accepted = await raw(url, 'GET', '/environments', { authorization: `Bearer ${TOKEN}` });
    assert.equal(accepted.status, 200);
  });
});
