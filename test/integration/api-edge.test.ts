import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import {
  type ApiResponse,
  awaitDeployment,
  call,
  environmentBody,
  OTHER_TEAM_TOKEN,
  removeDataDir,
} from '../support/kiln-process.ts';

const PROJECT_ROOT = resolve(import.meta.dirname, '../..');

/**
 * Bad input to every route, through the real gateway and handlers: the right 4xx problem+json,
 * a message that says what was wrong, and nothing changed.
 */
describe('REST API edge', { timeout: 120_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-api-'));
    const created = await call(kiln, 'PUT', '/environments/edge-dev', {
      body: environmentBody('1.0.0', { capacity: 1 }),
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    await awaitDeployment(kiln, 'edge-dev', created.body.deploymentId);
  });

  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  /** Everything a bad request must leave untouched. */
  async function snapshot() {
    const env = await call(kiln, 'GET', '/environments/edge-dev');
    const deployments = await call(kiln, 'GET', '/environments/edge-dev/deployments');
    const list = await call(kiln, 'GET', '/environments');
    return { env: env.body, deployments: deployments.body, list: list.body };
  }

  function assertProblem(response: ApiResponse, status: number, detail: RegExp) {
    assert.equal(response.status, status, JSON.stringify(response.body));
    assert.equal(response.headers.get('content-type'), 'application/problem+json');
    assert.equal(response.body.status, status);
    assert.equal(typeof response.body.title, 'string');
    assert.match(response.body.detail, detail);
    // Nothing of the host reaches a client: no absolute paths, no stack frames.
    const text = JSON.stringify(response.body);
    assert.ok(!text.includes(PROJECT_ROOT) && !text.includes(dataDir), text);
    assert.doesNotMatch(text, /\bat .*:\d+:\d+/);
  }

  const cases: { name: string; request: () => Promise<ApiResponse>; status: number; detail: RegExp }[] = [
    {
      name: 'no token',
      request: () => call(kiln, 'GET', '/environments', { token: null }),
      status: 401,
      detail: /Bearer/,
    },
    {
      name: 'unknown token',
      request: () => call(kiln, 'GET', '/environments', { token: 'nope' }),
      status: 401,
      detail: /not known/,
    },
    {
      name: 'a resource of a kind the risk policy does not score',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          body: {
            ...environmentBody('1.0.0', { capacity: 1 }),
            resources: [{ kind: 'mainframe', name: 'm1' }],
          },
        }),
      status: 400,
      detail: /resources\.0\.kind: Invalid option: expected one of "datastore"/,
    },
    {
      name: 'a rollback window over a day',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          body: { ...environmentBody('1.0.0', { capacity: 1 }), rollbackWindowSeconds: 86_401 },
        }),
      status: 400,
      detail: /rollbackWindowSeconds/,
    },
    {
      name: 'a rollback with an unknown field',
      request: () => call(kiln, 'POST', '/environments/edge-dev/rollback', { body: { to: 'v1' } }),
      status: 400,
      detail: /to/,
    },
    {
      name: 'malformed JSON',
      request: () => call(kiln, 'PUT', '/environments/edge-dev', { rawBody: '{"team": "platform",' }),
      status: 400,
      detail: /not valid JSON/,
    },
    {
      name: 'a body that is not JSON',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          rawBody: 'team=platform',
          headers: { 'content-type': 'text/plain' },
        }),
      status: 415,
      detail: /application\/json/,
    },
    {
      name: 'missing and invalid fields',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          body: { team: 'platform', tier: 'qa', spec: { artifact: 'sample-app' } },
        }),
      status: 400,
      detail: /tier.*spec\.version/s,
    },
    {
      name: 'an unknown field',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', { body: { ...environmentBody('9'), owner: 'me' } }),
      status: 400,
      detail: /owner/,
    },
    {
      name: 'instance variables that change how the host runs the instance',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          body: environmentBody('9', {
            env: { NODE_OPTIONS: '--require /tmp/x.js', LD_PRELOAD: '/tmp/x.so' },
          }),
        }),
      status: 400,
      detail: /spec\.env: LD_PRELOAD, NODE_OPTIONS are reserved: they change how the host runs the instance/,
    },
    {
      name: 'a health check path that leaves the instance',
      request: () => {
        const body = environmentBody('9');
        body.spec.healthCheck.path = '/\\127.0.0.1:39999/x';
        return call(kiln, 'PUT', '/environments/edge-dev', { body });
      },
      status: 400,
      detail: /spec\.healthCheck\.path: must be a path on the instance/,
    },
    {
      name: '__proto__ in spec.env',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          rawBody: JSON.stringify(environmentBody('9')).replace('"env":{}', '"env":{"__proto__":"x"}'),
        }),
      status: 400,
      detail: /spec\.env\.__proto__: __proto__, constructor and prototype are not allowed/,
    },
    {
      name: 'a constructor key in a deployment request',
      request: () =>
        call(kiln, 'POST', '/environments/edge-dev/deployments', {
          rawBody: '{"version":"2","constructor":{"prototype":{}}}',
        }),
      status: 400,
      detail: /constructor: .*constructor\.prototype: /,
    },
    {
      name: 'an invalid environment name',
      request: () => call(kiln, 'PUT', '/environments/Edge_Dev', { body: environmentBody('9') }),
      status: 400,
      detail: /path parameter name/,
    },
    {
      name: 'a team the caller does not act for',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', { body: { ...environmentBody('9'), team: 'other' } }),
      status: 403,
      detail: /you act for platform/,
    },
    {
      name: 'a stale If-Match',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          body: environmentBody('9'),
          headers: { 'if-match': '"1"' },
        }),
      status: 409,
      detail: /is at version \d+, not 1/,
    },
    {
      name: 'a malformed If-Match',
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          body: environmentBody('9'),
          headers: { 'if-match': 'abc' },
        }),
      status: 400,
      detail: /If-Match/,
    },
    {
      name: 'GET of an unknown environment',
      request: () => call(kiln, 'GET', '/environments/nope-dev'),
      status: 404,
      detail: /nope-dev does not exist/,
    },
    {
      name: "GET of another team's environment",
      request: () => call(kiln, 'GET', '/environments/edge-dev', { token: OTHER_TEAM_TOKEN }),
      status: 403,
      detail: /another team/,
    },
    {
      name: "PUT over another team's environment",
      request: () =>
        call(kiln, 'PUT', '/environments/edge-dev', {
          token: OTHER_TEAM_TOKEN,
          body: { ...environmentBody('9'), team: 'other' },
        }),
      status: 403,
      detail: /another team/,
    },
    {
      name: 'POST deployment with an invalid version',
      request: () =>
        call(kiln, 'POST', '/environments/edge-dev/deployments', { body: { version: 'has space' } }),
      status: 400,
      detail: /version/,
    },
    {
      name: 'POST deployment with an unknown field',
      request: () =>
        call(kiln, 'POST', '/environments/edge-dev/deployments', { body: { version: '2', force: true } }),
      status: 400,
      detail: /force/,
    },
    {
      name: 'POST deployment to an unknown environment',
      request: () => call(kiln, 'POST', '/environments/nope-dev/deployments', { body: {} }),
      status: 404,
      detail: /nope-dev/,
    },
    {
      name: 'POST deployment with a stale If-Match',
      request: () =>
        call(kiln, 'POST', '/environments/edge-dev/deployments', {
          body: {},
          headers: { 'if-match': '"1"' },
        }),
      status: 409,
      detail: /not 1/,
    },
    {
      name: 'GET of an unknown deployment',
      request: () => call(kiln, 'GET', '/environments/edge-dev/deployments/d-000000000-0000000000'),
      status: 404,
      detail: /does not exist/,
    },
    {
      name: 'GET of a malformed deployment id',
      request: () => call(kiln, 'GET', '/environments/edge-dev/deployments/42'),
      status: 400,
      detail: /path parameter id/,
    },
    {
      name: 'stacks of an unknown environment',
      request: () => call(kiln, 'GET', '/environments/nope-dev/stacks'),
      status: 404,
      detail: /nope-dev/,
    },
    {
      name: 'DELETE of an unknown environment',
      request: () => call(kiln, 'DELETE', '/environments/nope-dev'),
      status: 404,
      detail: /nope-dev/,
    },
    {
      name: "DELETE of another team's environment",
      request: () => call(kiln, 'DELETE', '/environments/edge-dev', { token: OTHER_TEAM_TOKEN }),
      status: 403,
      detail: /another team/,
    },
    {
      name: 'DELETE with a stale If-Match',
      request: () => call(kiln, 'DELETE', '/environments/edge-dev', { headers: { 'if-match': '"1"' } }),
      status: 409,
      detail: /not 1/,
    },
    {
      name: 'cancel of an unknown deployment',
      request: () => call(kiln, 'POST', '/environments/edge-dev/deployments/d-000000000-0000000000/cancel'),
      status: 404,
      detail: /does not exist/,
    },
    {
      name: 'cancel of a deployment that already ended',
      request: async () => {
        const [latest] = (await call(kiln, 'GET', '/environments/edge-dev/deployments')).body.deployments;
        return call(kiln, 'POST', `/environments/edge-dev/deployments/${latest.id}/cancel`);
      },
      status: 409,
      detail: /already ended succeeded/,
    },
    {
      name: "cancel of another team's deployment",
      request: async () => {
        const [latest] = (await call(kiln, 'GET', '/environments/edge-dev/deployments')).body.deployments;
        return call(kiln, 'POST', `/environments/edge-dev/deployments/${latest.id}/cancel`, {
          token: OTHER_TEAM_TOKEN,
        });
      },
      status: 403,
      detail: /another team/,
    },
    {
      name: 'a malformed percent-encoding in the path',
      request: () => call(kiln, 'GET', '/environments/%E0%A4%A'),
      status: 400,
      detail: /not valid percent-encoding/,
    },
    {
      name: 'a malformed percent-encoding in a PUT path',
      request: () => call(kiln, 'PUT', '/environments/%ZZ', { body: environmentBody('9') }),
      status: 400,
      detail: /not valid percent-encoding/,
    },
    {
      name: 'an unknown route',
      request: () => call(kiln, 'GET', '/nowhere'),
      status: 404,
      detail: /no route/,
    },
    {
      name: 'a method a route does not have',
      request: () => call(kiln, 'PATCH', '/environments/edge-dev'),
      status: 405,
      detail: /PATCH/,
    },
  ];

  for (const c of cases) {
    it(`answers ${c.name} with ${c.status} problem+json and changes nothing`, async () => {
      const before = await snapshot();
      assertProblem(await c.request(), c.status, c.detail);
      assert.deepEqual(await snapshot(), before);
    });
  }

  it('lists only the caller team’s environments', async () => {
    const mine = await call(kiln, 'GET', '/environments');
    assert.deepEqual(
      mine.body.environments.map((e: { name: string }) => e.name),
      ['edge-dev'],
    );
    const theirs = await call(kiln, 'GET', '/environments', { token: OTHER_TEAM_TOKEN });
    assert.deepEqual(theirs.body.environments, []);
  });

  it('a PUT of the spec that is already live changes nothing and starts no deployment', async () => {
    const before = await snapshot();
    const again = await call(kiln, 'PUT', '/environments/edge-dev', {
      body: environmentBody('1.0.0', { capacity: 1 }),
    });
    assert.equal(again.status, 200);
    assert.equal(again.body.deploymentId, null);
    assert.deepEqual(await snapshot(), before);
  });
});
