import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROUTES } from '../../functions/manifest.ts';
import { parseTokens } from '../../infra/local/config.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import {
  type ApiResponse,
  awaitDeployment,
  call,
  OTHER_TEAM_TOKEN,
  quickEnvironmentBody,
  removeDataDir,
  requestRiskyChange,
  TOKEN,
} from '../support/kiln-process.ts';
import { type MatrixRow, OWNER, type Role, readMatrix, type Side } from '../support/matrix.ts';

/**
 * docs/authorization.md's matrix, cell by cell, through the real gateway and handlers: a token for each
 * role of two teams calls every route on the owning team's environment and template. Refused cells must
 * answer their status and change nothing; allowed cells must answer theirs. A route in the manifest
 * without a row (or without a way to call it here) fails the suite, so no route skips the matrix.
 */

const MATRIX = readMatrix(readFileSync(resolve(import.meta.dirname, '../../docs/authorization.md'), 'utf8'));
const ENV = 'authz-dev';
const TEMPLATE = 'authz-web';
const FREEZE = 'authz-freeze';

const token = (side: Side, role: Role) => `${side}-${role}-token`;
const teamOf = (side: Side) => (side === 'own' ? OWNER : 'other');
const TOKENS = [
  `${TOKEN}=${OWNER}`,
  `${OTHER_TEAM_TOKEN}=other`,
  ...(['own', 'other'] as const).flatMap((side) =>
    (['member', 'approver', 'freeze-manager'] as const).map(
      (role) =>
        `${token(side, role)}=${teamOf(side)}:${teamOf(side)}-${role}${role === 'member' ? '' : `:${role}`}`,
    ),
  ),
].join(',');

/** What the routes act on, found as the suite goes. */
interface Fixture {
  /** A deployment of ENV that has ended. */
  endedId: string;
  /** A deployment of ENV still queued (set by POST .../deployments, cancelled by .../cancel). */
  queuedId?: string;
  /** A deployment of ENV waiting for approval (set by the approve and reject recipes' preparation). */
  awaitingId?: string;
}

/**
 * Asks (as the owner) for a change above the risk threshold (50 instances) and waits until it waits for
 * approval. Approved, it would launch them: `superseded` asks for a second one, which the first is then
 * superseded by when it takes the lease, launching nothing.
 */
async function awaitingApproval(kiln: Kiln, fixture: Fixture, superseded = false): Promise<void> {
  fixture.awaitingId = await requestRiskyChange(kiln, ENV, `9.${Date.now()}`);
  if (superseded) await requestRiskyChange(kiln, ENV, `9.${Date.now()}.1`);
}

/** How to make a well-formed request to a route as a given team: its path and body. */
interface Recipe {
  path(fixture: Fixture): string;
  body?(team: string): unknown;
  /** Run (as the owner) before each allowed call: what the call needs to find. */
  prepare?(kiln: Kiln, fixture: Fixture): Promise<void>;
}

const templateBody = (team: string) => ({
  team,
  tier: 'dev',
  source: { provider: 'github', repository: 'octo/authz', branches: 'feature/*' },
  spec: quickEnvironmentBody('template').spec,
});

/** A freeze far ahead: it covers the team's environments, and holds nothing while the suite runs. */
const freezeBody = (team: string) => ({
  team,
  start: '2099-12-24T00:00:00Z',
  end: '2099-12-27T00:00:00Z',
  reason: 'holidays',
});

/** Makes FREEZE again (as the owning team's freeze-manager) for a call that needs it. */
async function putFreeze(kiln: Kiln): Promise<void> {
  const put = await call(kiln, 'PUT', `/freezes/${FREEZE}`, {
    token: token('own', 'freeze-manager'),
    body: freezeBody(OWNER),
  });
  assert.ok(put.status < 300, JSON.stringify(put.body));
}

/**
 * Every route's recipe, in the order the allowed calls run: reads first, then writes in an order where
 * each finds the state it needs (a rollback needs a previous spec, a cancel a queued deployment).
 */
const RECIPES: ReadonlyMap<string, Recipe> = new Map<string, Recipe>([
  ['GET /environments', { path: () => '/environments' }],
  ['GET /environments/{name}', { path: () => `/environments/${ENV}` }],
  ['GET /environments/{name}/deployments', { path: () => `/environments/${ENV}/deployments` }],
  [
    'GET /environments/{name}/deployments/{id}',
    { path: (f) => `/environments/${ENV}/deployments/${f.endedId}` },
  ],
  ['GET /environments/{name}/stacks', { path: () => `/environments/${ENV}/stacks` }],
  ['GET /environments/{name}/pushes', { path: () => `/environments/${ENV}/pushes` }],
  ['GET /environments/{name}/audit', { path: () => `/environments/${ENV}/audit` }],
  ['GET /environments/{name}/audit/verify', { path: () => `/environments/${ENV}/audit/verify` }],
  ['GET /templates', { path: () => '/templates' }],
  ['GET /templates/{name}', { path: () => `/templates/${TEMPLATE}` }],
  ['PUT /templates/{name}', { path: () => `/templates/${TEMPLATE}`, body: templateBody }],
  [
    'DELETE /templates/{name}',
    {
      path: () => `/templates/${TEMPLATE}`,
      prepare: async (kiln) => {
        assert.ok(
          (await call(kiln, 'PUT', `/templates/${TEMPLATE}`, { body: templateBody(OWNER) })).status < 300,
        );
      },
    },
  ],
  ['GET /freezes', { path: () => '/freezes' }],
  ['GET /freezes/{id}', { path: () => `/freezes/${FREEZE}` }],
  ['PUT /freezes/{id}', { path: () => `/freezes/${FREEZE}`, body: freezeBody }],
  ['DELETE /freezes/{id}', { path: () => `/freezes/${FREEZE}`, prepare: putFreeze }],
  [
    'PUT /environments/{name}',
    { path: () => `/environments/${ENV}`, body: (team) => ({ ...quickEnvironmentBody('2.0.0'), team }) },
  ],
  [
    'POST /environments/{name}/snooze',
    {
      path: () => `/environments/${ENV}/snooze`,
      body: () => ({ until: new Date(Date.now() + 3_600_000).toISOString() }),
    },
  ],
  [
    'POST /environments/{name}/rollback',
    {
      path: () => `/environments/${ENV}/rollback`,
      body: () => ({}),
      // A rollback leaves nothing to roll back to: each one needs a deployment (settled) before it.
      prepare: async (kiln) => {
        const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
        if (environment.latestDeploymentId) await awaitDeployment(kiln, ENV, environment.latestDeploymentId);
        const put = await call(kiln, 'PUT', `/environments/${ENV}`, {
          body: quickEnvironmentBody(`2.1.${environment.generation}`),
        });
        assert.equal((await awaitDeployment(kiln, ENV, put.body.deploymentId)).status, 'succeeded');
      },
    },
  ],
  [
    'POST /environments/{name}/deployments',
    { path: () => `/environments/${ENV}/deployments`, body: () => ({ version: '3.0.0' }) },
  ],
  [
    'POST /environments/{name}/deployments/{id}/cancel',
    {
      path: (f) => `/environments/${ENV}/deployments/${f.queuedId ?? f.endedId}/cancel`,
      // Each cancel needs a deployment that has not ended yet: a cancelled one may end at once.
      prepare: async (kiln, fixture) => {
        const queued = await call(kiln, 'POST', `/environments/${ENV}/deployments`, {
          body: { version: `3.${Date.now()}` },
        });
        assert.equal(queued.status, 202, JSON.stringify(queued.body));
        fixture.queuedId = queued.body.deploymentId;
      },
    },
  ],
  ['POST /environments/{name}/sleep', { path: () => `/environments/${ENV}/sleep`, body: () => ({}) }],
  ['POST /environments/{name}/wake', { path: () => `/environments/${ENV}/wake`, body: () => ({}) }],
  [
    'POST /environments/{name}/deployments/{id}/approve',
    {
      path: (f) => `/environments/${ENV}/deployments/${f.awaitingId ?? f.endedId}/approve`,
      body: () => ({}),
      prepare: (kiln, fixture) => awaitingApproval(kiln, fixture, true),
    },
  ],
  [
    'POST /environments/{name}/deployments/{id}/reject',
    {
      path: (f) => `/environments/${ENV}/deployments/${f.awaitingId ?? f.endedId}/reject`,
      body: () => ({ comment: 'not now' }),
      prepare: (kiln, fixture) => awaitingApproval(kiln, fixture),
    },
  ],
  ['DELETE /environments/{name}', { path: () => `/environments/${ENV}` }],
]);

const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;
const isList = (row: MatrixRow) => row.action === 'list';
/** The rows of routes that exist, with people as callers (the webhook has no caller). */
const DRIVEN = MATRIX.filter((row) => !row.planned && row.action !== 'open');

describe('the authorization matrix (docs/authorization.md)', () => {
  it('has a row for every route of the manifest, and a recipe here for every row with callers', () => {
    const rows = new Map(MATRIX.map((row) => [routeKey(row), row]));
    for (const route of ROUTES) {
      const row = rows.get(routeKey(route));
      assert.ok(
        row,
        `${routeKey(route)} is in functions/manifest.ts but has no row in docs/authorization.md`,
      );
      assert.ok(
        !row.planned,
        `${routeKey(route)} exists now: its row is no longer planned, give it a recipe here`,
      );
      assert.equal(
        row.action === 'open',
        route.auth === 'none',
        `${routeKey(route)}: only open routes are "open"`,
      );
    }
    const routes = new Set(ROUTES.map(routeKey));
    for (const row of MATRIX.filter((r) => !r.planned)) {
      assert.ok(
        routes.has(routeKey(row)),
        `${routeKey(row)} has a row but no route: mark it planned or remove it`,
      );
    }
    for (const row of DRIVEN) assert.ok(RECIPES.has(routeKey(row)), `no recipe for ${routeKey(row)}`);
  });

  it('gives every route with callers a cell for each role, of the owning team and of another', () => {
    for (const row of DRIVEN)
      assert.equal(row.cells.length, 6, `${routeKey(row)} has ${row.cells.length} cells`);
  });
});

describe('every cell of the authorization matrix, through the gateway', { timeout: 180_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  const fixture: Fixture = { endedId: '' };

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-authz-', { tokens: parseTokens(TOKENS) }));
    // Live at 2.0.0 with 1.0.0 before it: what a rollback needs.
    for (const version of ['1.0.0', '2.0.0']) {
      const put = await call(kiln, 'PUT', `/environments/${ENV}`, { body: quickEnvironmentBody(version) });
      assert.ok(put.status < 300, JSON.stringify(put.body));
      assert.equal((await awaitDeployment(kiln, ENV, put.body.deploymentId)).status, 'succeeded');
      fixture.endedId = put.body.deploymentId;
    }
    const template = await call(kiln, 'PUT', `/templates/${TEMPLATE}`, { body: templateBody(OWNER) });
    assert.equal(template.status, 201, JSON.stringify(template.body));
    await putFreeze(kiln);
  });

  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  const request = (row: MatrixRow, side: Side, role: Role): Promise<ApiResponse> => {
    const recipe = RECIPES.get(routeKey(row));
    assert.ok(recipe, `no recipe for ${routeKey(row)}`);
    const body = recipe.body?.(teamOf(side));
    return call(kiln, row.method, recipe.path(fixture), {
      token: token(side, role),
      ...(body === undefined ? {} : { body }),
    });
  };

  /** Everything of the owner's that a refused request must leave as it was, read by the owner. */
  async function ownersRecords() {
    const paths = [
      `/environments/${ENV}`,
      `/environments/${ENV}/deployments`,
      `/environments/${ENV}/stacks`,
      `/environments/${ENV}/pushes`,
      `/templates/${TEMPLATE}`,
      `/freezes/${FREEZE}`,
    ];
    return Promise.all(paths.map(async (path) => (await call(kiln, 'GET', path)).body));
  }

  // Refusals run first, while the owner's records are at rest, so any change is the request's doing.
  it('refuses every refused cell with problem+json, changing nothing; lists show only the caller’s team', async () => {
    let records = await ownersRecords();
    for (const row of DRIVEN) {
      for (const cell of row.cells.filter((c) => c.status >= 400 || (isList(row) && c.side === 'other'))) {
        const what = `${routeKey(row)} as ${cell.role} of the ${cell.side} team`;
        const response = await request(row, cell.side, cell.role);
        assert.equal(response.status, cell.status, `${what}: ${JSON.stringify(response.body)}`);
        if (isList(row)) {
          assert.ok(!JSON.stringify(response.body).includes(`"${ENV}"`), `${what} lists ${ENV}`);
          assert.ok(!JSON.stringify(response.body).includes(`"${TEMPLATE}"`), `${what} lists ${TEMPLATE}`);
          assert.ok(!JSON.stringify(response.body).includes(`"${FREEZE}"`), `${what} lists ${FREEZE}`);
        } else {
          assert.equal(response.headers.get('content-type'), 'application/problem+json', what);
          assert.match(
            response.body.detail,
            /belongs to another team|you act for other|needs the [a-z-]+ role/,
          );
        }
        const now = await ownersRecords();
        assert.deepEqual(now, records, `${what} changed the owner's records`);
        records = now;
      }
    }
  });

  it('allows every allowed cell with its status', async () => {
    const order = [...RECIPES.keys()];
    const rows = [...DRIVEN].sort((a, b) => order.indexOf(routeKey(a)) - order.indexOf(routeKey(b)));
    for (const row of rows) {
      for (const cell of row.cells.filter((c) => c.status < 400 && c.side === 'own')) {
        await RECIPES.get(routeKey(row))?.prepare?.(kiln, fixture);
        const response = await request(row, cell.side, cell.role);
        const what = `${routeKey(row)} as ${cell.role} of the owning team`;
        assert.equal(response.status, cell.status, `${what}: ${JSON.stringify(response.body)}`);
        if (routeKey(row) === 'POST /environments/{name}/deployments') {
          fixture.queuedId = response.body.deploymentId;
          // The deployment records the person who asked for it, not their credential.
          const queued = await call(kiln, 'GET', `/environments/${ENV}/deployments/${fixture.queuedId}`);
          assert.equal(queued.body.actor, `${OWNER}-${cell.role}`);
        }
      }
    }
  });
});
