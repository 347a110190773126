import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROUTES } from '../../functions/manifest.ts';
import { parseTokens } from '../../infra/local/config.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import { type ApiResponse, call, removeDataDir } from '../support/kiln-process.ts';
import { type MatrixRow, OWNER, type Role, readMatrix, type Side } from '../support/matrix.ts';
import {
  ENV,
  type Fixture,
  FREEZE,
  prepareRouteFixture,
  RECIPES,
  ROUTE_TOKENS,
  routeKey,
  TEMPLATE,
  teamOf,
  token,
} from '../support/route-recipes.ts';

/**
 * docs/authorization.md's matrix, cell by cell, through the real gateway and handlers: a token for each
 * role of two teams calls every route on the owning team's environment and template. Refused cells must
 * answer their status and change nothing; allowed cells must answer theirs. A route in the manifest
 * without a row (or without a way to call it here) fails the suite, so no route skips the matrix.
 */

const MATRIX = readMatrix(readFileSync(resolve(import.meta.dirname, '../../docs/authorization.md'), 'utf8'));

const isList = (row: MatrixRow) => row.action === 'list';
/** The rows of routes that exist, with people as callers (the webhook has no caller). */
const DRIVEN = MATRIX.filter((row) => !row.planned && row.action !== 'open');

describe('the authorization matrix (docs/authorization.md)', () => {
  it('has a row for every route of the manifest, and a recipe (test/support/route-recipes.ts) for every row with callers', () => {
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
  let fixture: Fixture;

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-authz-', { tokens: parseTokens(ROUTE_TOKENS) }));
    fixture = await prepareRouteFixture(kiln);
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
