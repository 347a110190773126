import assert from 'node:assert/strict';
import type { Kiln } from '../../infra/local/runtime.ts';
import {
  awaitDeployment,
  call,
  OTHER_TEAM_TOKEN,
  quickEnvironmentBody,
  requestRiskyChange,
  TOKEN,
} from './kiln-process.ts';
import { OWNER, type Role, type Side } from './matrix.ts';

/**
 * How to make each route of the REST API succeed, on an embedded Kiln prepared by `prepareRouteFixture`:
 * what test/integration/authorization.test.ts calls cell by cell and test/integration/openapi-contract.test.ts
 * checks against the OpenAPI document. A new route needs its recipe here (both tests refuse a route without
 * one).
 */

/** The environment, the template and the freeze the recipes act on, of team OWNER. */
export const ENV = 'authz-dev';
export const TEMPLATE = 'authz-web';
export const FREEZE = 'authz-freeze';

/** The token of the person of `role` in the owning team (`own`) or in another. */
export const token = (side: Side, role: Role) => `${side}-${role}-token`;
export const teamOf = (side: Side) => (side === 'own' ? OWNER : 'other');
/** KILN_TOKENS for the recipes: TOKEN (owner), OTHER_TEAM_TOKEN, and each role of both teams (`token`). */
export const ROUTE_TOKENS = [
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
export interface Fixture {
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
export interface Recipe {
  path(fixture: Fixture): string;
  body?(team: string): unknown;
  /** Run (as the owner) before each allowed call: what the call needs to find. */
  prepare?(kiln: Kiln, fixture: Fixture): Promise<void>;
}

export const templateBody = (team: string) => ({
  team,
  tier: 'dev',
  source: { provider: 'github', repository: 'octo/authz', branches: 'feature/*' },
  spec: quickEnvironmentBody('template').spec,
});

/** A freeze far ahead: it covers the team's environments, and holds nothing while the suites run. */
export const freezeBody = (team: string) => ({
  team,
  start: '2099-12-24T00:00:00Z',
  end: '2099-12-27T00:00:00Z',
  reason: 'holidays',
});

/** Makes FREEZE (again), as the owning team's freeze-manager. */
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
export const RECIPES: ReadonlyMap<string, Recipe> = new Map<string, Recipe>([
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

export const routeKey = (route: { method: string; path: string }) => `${route.method} ${route.path}`;

/**
 * What the recipes start from: ENV live at 2.0.0 with 1.0.0 before it (what a rollback needs), TEMPLATE
 * and FREEZE; answers the fixture, the last deployment ended.
 */
export async function prepareRouteFixture(kiln: Kiln): Promise<Fixture> {
  const fixture: Fixture = { endedId: '' };
  for (const version of ['1.0.0', '2.0.0']) {
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, { body: quickEnvironmentBody(version) });
    assert.ok(put.status < 300, JSON.stringify(put.body));
    assert.equal((await awaitDeployment(kiln, ENV, put.body.deploymentId)).status, 'succeeded');
    fixture.endedId = put.body.deploymentId;
  }
  const template = await call(kiln, 'PUT', `/templates/${TEMPLATE}`, { body: templateBody(OWNER) });
  assert.equal(template.status, 201, JSON.stringify(template.body));
  await putFreeze(kiln);
  return fixture;
}
