import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROUTES, type Route } from '../../functions/manifest.ts';
import { parseTokens } from '../../infra/local/config.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import { OPENAPI_FILE } from '../../infra/openapi.ts';
import { githubBranchUpdated } from '../fixtures/push-events.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import { type DeliveryResponse, deliver } from '../support/github.ts';
import { type ApiResponse, call, removeDataDir } from '../support/kiln-process.ts';
import { OWNER, readMatrix } from '../support/matrix.ts';
import { contractOf } from '../support/openapi-contract.ts';
import {
  ENV,
  type Fixture,
  FREEZE,
  prepareRouteFixture,
  RECIPES,
  ROUTE_TOKENS,
  routeKey,
  TEMPLATE,
  token,
} from '../support/route-recipes.ts';

/**
 * The OpenAPI document against what Kiln answers: every route of the manifest is driven through the
 * embedded gateway (the recipes of test/support/route-recipes.ts for its successes, then its refusals and
 * mistakes), and every answer's status, Content-Type, body and documented headers are checked against the
 * document GET /openapi.json serves. An answer the document does not describe fails.
 */

const MATRIX = readMatrix(readFileSync(resolve(import.meta.dirname, '../../docs/authorization.md'), 'utf8'));
const routeOf = (key: string): Route => {
  const route = ROUTES.find((r) => routeKey(r) === key);
  assert.ok(route, `${key} is no route of the manifest`);
  return route;
};

/** A token of a person the matrix allows to make the route's request on the owning team's resources. */
function allowedToken(route: Route): string {
  const cell = MATRIX.find((row) => routeKey(row) === routeKey(route))?.cells.find(
    (c) => c.side === 'own' && c.status < 400,
  );
  assert.ok(cell, `docs/authorization.md allows no one ${routeKey(route)}`);
  return token('own', cell.role);
}

/** Valid names and a valid id that name nothing. */
const MISSING = {
  environment: 'contract-missing',
  template: 'missing-tpl',
  freeze: 'missing-freeze',
  deployment: 'd-000000000-0000000000',
};

describe('the OpenAPI contract, route by route through the gateway', { timeout: 300_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  let fixture: Fixture;
  let contract: ReturnType<typeof contractOf>;
  // biome-ignore lint/suspicious/noExplicitAny: the served document is read field by field
  let document: any;

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-contract-', { tokens: parseTokens(ROUTE_TOKENS) }));
    fixture = await prepareRouteFixture(kiln);
    const served = await call(kiln, 'GET', '/openapi.json', { token: null });
    assert.equal(served.status, 200, JSON.stringify(served.body));
    document = served.body;
    contract = contractOf(document);
    contract.check(routeOf('GET /openapi.json'), answerOf(served));
  });

  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  const answerOf = (response: ApiResponse) => ({
    status: response.status,
    contentType: response.headers.get('content-type'),
    headers: response.headers,
    body: response.body,
  });

  /** Calls the route at `path` and checks the answer against the document. */
  async function exchange(route: Route, path: string, options: Parameters<typeof call>[3]) {
    const response = await call(kiln, route.method, path, options);
    contract.check(route, answerOf(response));
    return response;
  }

  it('serves docs/openapi.json without a token, this Kiln (the root) as its server', () => {
    const { servers, ...rest } = document;
    const { servers: _file, ...kept } = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    assert.deepEqual(rest, kept);
    assert.deepEqual(servers, [{ url: '/', description: 'this Kiln' }]);
  });

  // Refusals and mistakes first, while the recipes' records are at rest: none of them changes anything.
  it('answers every route’s refusals and mistakes with the problems it documents', async () => {
    for (const route of ROUTES.filter((r) => r.auth === 'iam')) {
      const recipe = RECIPES.get(routeKey(route));
      assert.ok(recipe, `no recipe for ${routeKey(route)} in test/support/route-recipes.ts`);
      const path = recipe.path(fixture);
      const body = recipe.body?.(OWNER);
      const operation = document.paths[route.path][route.method.toLowerCase()];
      const parameters: { in: string; name: string }[] = operation.parameters ?? [];
      const expect = async (status: number, why: string, options: Parameters<typeof call>[3], at = path) => {
        const response = await exchange(route, at, { token: allowedToken(route), ...options });
        assert.equal(response.status, status, `${routeKey(route)} ${why}: ${JSON.stringify(response.body)}`);
      };
      const withBody = body === undefined ? {} : { body };
      await expect(401, 'without a token', { ...withBody, token: null });
      const [kind, name, parameter] = route.path.startsWith('/templates/')
        ? (['template', TEMPLATE, '{name}'] as const)
        : route.path.startsWith('/freezes/')
          ? (['freeze', FREEZE, '{id}'] as const)
          : (['environment', ENV, '{name}'] as const);
      if (route.path.includes(parameter)) {
        const foreign = recipe.body?.('other');
        await expect(403, 'as another team', {
          token: token('other', 'member'),
          ...(foreign === undefined ? {} : { body: foreign }),
        });
        await expect(400, 'with an invalid name', withBody, path.replace(`/${name}`, '/Not_A_Name'));
        if (route.method !== 'PUT')
          await expect(
            404,
            'for a name that names nothing',
            withBody,
            path.replace(`/${name}`, `/${MISSING[kind]}`),
          );
      }
      if (route.path.includes('/deployments/{id}')) {
        await expect(
          404,
          'for a deployment that does not exist',
          withBody,
          path.replace(/\/d-[^/]+/, `/${MISSING.deployment}`),
        );
      }
      if (operation.requestBody) {
        const json = JSON.stringify(body ?? {});
        await expect(415, 'with a body that is not JSON', {
          rawBody: json,
          headers: { 'content-type': 'text/plain' },
        });
        await expect(400, 'with broken JSON', {
          rawBody: '{"',
          headers: { 'content-type': 'application/json' },
        });
        await expect(413, 'with a body over 1 MB', { rawBody: `"${'x'.repeat(1024 * 1024)}"` });
      }
      if (parameters.some((p) => p.in === 'header' && p.name === 'if-match')) {
        await expect(409, 'with a stale If-Match', { ...withBody, headers: { 'if-match': '"999"' } });
        await expect(400, 'with a malformed If-Match', { ...withBody, headers: { 'if-match': 'yesterday' } });
      }
      if (parameters.some((p) => p.in === 'query'))
        await expect(400, 'with an invalid query', {}, `${path}?limit=0`);
    }
    // A deployment that has ended can be neither cancelled nor answered.
    for (const action of ['cancel', 'approve', 'reject']) {
      const route = routeOf(`POST /environments/{name}/deployments/{id}/${action}`);
      const path = `/environments/${ENV}/deployments/${fixture.endedId}/${action}`;
      const response = await exchange(route, path, {
        token: allowedToken(route),
        body: { comment: 'too late' },
      });
      assert.equal(
        response.status,
        409,
        `${action} of an ended deployment: ${JSON.stringify(response.body)}`,
      );
    }
  });

  it('answers every route’s well-formed request as it documents', async () => {
    for (const [key, recipe] of RECIPES) {
      const route = routeOf(key);
      await recipe.prepare?.(kiln, fixture);
      const body = recipe.body?.(OWNER);
      const response = await exchange(route, recipe.path(fixture), {
        token: allowedToken(route),
        ...(body === undefined ? {} : { body }),
      });
      assert.ok(response.status < 300, `${key}: ${response.status} ${JSON.stringify(response.body)}`);
      if (key === 'POST /environments/{name}/deployments') fixture.queuedId = response.body.deploymentId;
    }
  });

  it('answers GitHub’s deliveries as it documents', async () => {
    const route = routeOf('POST /hooks/github');
    const expect = async (status: number, why: string, delivery: Promise<DeliveryResponse>) => {
      const response = await delivery;
      contract.check(route, response);
      assert.equal(response.status, status, `${why}: ${JSON.stringify(response.body)}`);
    };
    await expect(200, 'a ping', deliver(kiln, { zen: 'Keep it logically awesome.' }, { event: 'ping' }));
    await expect(202, 'an event of another kind', deliver(kiln, { action: 'opened' }, { event: 'issues' }));
    await expect(202, 'a push', deliver(kiln, githubBranchUpdated()));
    await expect(401, 'a wrong signature', deliver(kiln, githubBranchUpdated(), { signature: 'sha256=00' }));
    await expect(400, 'a malformed delivery id', deliver(kiln, githubBranchUpdated(), { deliveryId: 'x!' }));
    await expect(
      415,
      'a push sent as a form',
      deliver(kiln, githubBranchUpdated(), { contentType: 'application/x-www-form-urlencoded' }),
    );
    await expect(413, 'over 10 MB', deliver(kiln, null, { rawBody: `"${'x'.repeat(10 * 1024 * 1024)}"` }));
  });

  it('has checked a success and a refusal or mistake of every route of the manifest', () => {
    for (const route of ROUTES) {
      const statuses = [...(contract.checked().get(routeKey(route)) ?? [])];
      assert.ok(
        statuses.some((status) => status < 300),
        `${routeKey(route)}: no success checked`,
      );
      if (route.path !== '/openapi.json')
        assert.ok(
          statuses.some((status) => status >= 400),
          `${routeKey(route)}: no error checked`,
        );
    }
  });
});
