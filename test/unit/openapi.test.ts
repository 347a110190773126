import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ROUTES } from '../../functions/manifest.ts';
import { buildOpenApiDocument, OPENAPI_FILE, openApiText } from '../../infra/openapi.ts';
import { contractOf } from '../support/openapi-contract.ts';

describe('the OpenAPI document', () => {
  it('is what docs/openapi.json holds (run `npm run openapi` after changing a route or a schema)', () => {
    assert.equal(
      readFileSync(OPENAPI_FILE, 'utf8'),
      openApiText(),
      'docs/openapi.json is stale: npm run openapi',
    );
  });

  it('describes every http route of the manifest, each once, named by its entry point', () => {
    const document = buildOpenApiDocument();
    const operations = Object.entries(document.paths ?? {}).flatMap(([path, item]) =>
      Object.entries(item ?? {}).map(([method, operation]) => ({
        route: `${method.toUpperCase()} ${path}`,
        operationId: (operation as { operationId?: string }).operationId,
      })),
    );
    assert.deepEqual(
      operations.map((o) => `${o.route} ${o.operationId}`).sort(),
      ROUTES.map((route) => `${route.method} ${route.path} ${route.handler}`).sort(),
    );
  });

  it('refuses to describe a route without a description, and a description without a route', () => {
    const extra = {
      method: 'GET' as const,
      path: '/no-such-route',
      handler: 'noSuchRoute',
      auth: 'iam' as const,
    };
    assert.throws(
      () => buildOpenApiDocument([...ROUTES, extra]),
      /GET \/no-such-route is a route of functions\/manifest\.ts: describe it in infra\/openapi\.ts/,
    );
    assert.throws(
      () => buildOpenApiDocument(ROUTES.slice(1)),
      /is described in infra\/openapi\.ts but is no route of functions\/manifest\.ts/,
    );
  });

  it('asks for a bearer token or SigV4 on every route but the open ones, which ask for nothing', () => {
    const document = buildOpenApiDocument();
    assert.deepEqual(document.security, [{ bearerToken: [] }, { sigv4: [] }]);
    for (const route of ROUTES) {
      const operation = document.paths?.[route.path]?.[route.method.toLowerCase() as 'get'];
      assert.deepEqual(
        operation?.security,
        route.auth === 'none' ? [] : undefined,
        `${route.method} ${route.path}`,
      );
    }
  });

  it('lets the contract test refuse an answer it does not describe: status, media type, field or header', () => {
    const contract = contractOf(JSON.parse(openApiText()));
    const route = { method: 'POST', path: '/environments/{name}/deployments' };
    const headers = new Headers({ location: '/environments/web/deployments/d-000000000-0000000000' });
    const accepted = { deploymentId: 'd-000000000-0000000000' };
    const answer = { status: 202, contentType: 'application/json', headers, body: accepted };
    contract.check(route, answer);
    assert.throws(() => contract.check(route, { ...answer, status: 204 }), /does not describe this status/);
    assert.throws(
      () => contract.check(route, { ...answer, contentType: 'text/plain' }),
      /Content-Type text\/plain/,
    );
    assert.throws(
      () => contract.check(route, { ...answer, body: { ...accepted, extra: 1 } }),
      /does not fit/,
    );
    assert.throws(
      () => contract.check(route, { ...answer, headers: new Headers() }),
      /header location is missing/,
    );
    const problem = { type: 'about:blank', title: 'Conflict', status: 409, detail: 'stale' };
    contract.check(route, { status: 409, contentType: 'application/problem+json', body: problem });
    assert.throws(
      () => contract.check(route, { status: 409, contentType: 'application/json', body: problem }),
      /Content-Type application\/json/,
    );
  });
});
