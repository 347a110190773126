import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { auditChainKey } from '../../functions/adapters/aws/table.ts';
import { JsonStateFile } from '../../functions/adapters/local/state-file.ts';
import { ROUTES } from '../../functions/manifest.ts';
import { LOCAL_CREDENTIALS } from '../../infra/local/database.ts';
import { type Kiln, RUNTIME_FILE, type RuntimeDescription } from '../../infra/local/runtime.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import {
  APPROVER_TOKEN,
  awaitDeployment,
  call,
  FREEZE_MANAGER_TOKEN,
  OTHER_TEAM_TOKEN,
  quickEnvironmentBody,
  requestRiskyChange,
} from '../support/kiln-process.ts';

const VERIFY_COMMAND = resolve(import.meta.dirname, '../../scripts/audit-verify.ts');
const run = promisify(execFile);

let kiln: Kiln;
let dataDir: string;

before(async () => {
  ({ kiln, dataDir } = await startTestKiln('kiln-audit-api-'));
});
after(async () => {
  await kiln.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Every event of a trail through GET …/audit, `limit` a page, following `next`. */
async function auditThroughApi(environment: string, limit = 3) {
  const events = [];
  let cursor: string | undefined;
  do {
    const page = await call(
      kiln,
      'GET',
      `/environments/${environment}/audit?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`,
    );
    assert.equal(page.status, 200, JSON.stringify(page.body));
    assert.ok(page.body.events.length <= limit);
    events.push(...page.body.events);
    cursor = page.body.next;
  } while (cursor);
  return events;
}

/** `npm run audit:verify -- <environment> --data-dir <dir>`: its exit code and what it printed. */
async function verifyCommand(environment: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout } = await run(process.execPath, [VERIFY_COMMAND, environment, '--data-dir', dataDir]);
    return { code: 0, output: stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, output: failed.stdout + failed.stderr };
  }
}

/** Runs a deployment request to its end; answers its deployment. */
async function settle(environment: string, response: { status: number; body: { deploymentId?: string } }) {
  assert.ok([200, 201, 202].includes(response.status), JSON.stringify(response.body));
  const id = response.body.deploymentId;
  return id ? awaitDeployment(kiln, environment, id) : undefined;
}

describe('audit trail through the API', { timeout: 240_000 }, () => {
  it('every state-changing route leaves an audit event with the caller as its actor', async () => {
    const name = 'audit-routes';
    const trailOf = { environment: name, template: 'template:audit-tpl' };
    const driven = new Set<string>();
    let caller: string | undefined;

    /** Sends one request and checks it appended an event of the caller to the trail it concerns. */
    async function changes(
      route: string,
      path: string,
      trail: string,
      body?: unknown,
      as?: { token: string; actor: string },
    ): Promise<{ status: number; body: { deploymentId?: string } }> {
      const before = new Set((await kiln.ports.store.listAudit(trail)).map((event) => event.id));
      const [method] = route.split(' ');
      const response = await call(kiln, method as string, path, {
        ...(body === undefined ? {} : { body }),
        ...(as ? { token: as.token } : {}),
      });
      assert.ok(response.status < 300, `${route}: ${response.status} ${JSON.stringify(response.body)}`);
      if (caller === undefined) {
        // The caller's principal, as the first deployment it asked for records it.
        const id = response.body.deploymentId as string;
        caller = (await call(kiln, 'GET', `/environments/${name}/deployments/${id}`)).body.actor;
      }
      const added = (await kiln.ports.store.listAudit(trail)).filter((event) => !before.has(event.id));
      const actor = as?.actor ?? caller;
      assert.ok(
        added.some((event) => event.actor === actor),
        `${route} appended no event of ${actor}: ${JSON.stringify(added)}`,
      );
      driven.add(route);
      return response;
    }

    const environmentPath = `/environments/${name}`;
    await settle(
      name,
      await changes('PUT /environments/{name}', environmentPath, name, quickEnvironmentBody('1.0.0')),
    );
    await settle(
      name,
      await changes('POST /environments/{name}/deployments', `${environmentPath}/deployments`, name, {
        version: '2.0.0',
      }),
    );
    await settle(
      name,
      await changes('POST /environments/{name}/rollback', `${environmentPath}/rollback`, name, {
        reason: 'bad release',
      }),
    );
    const third = await call(kiln, 'POST', `${environmentPath}/deployments`, { body: { version: '3.0.0' } });
    await changes(
      'POST /environments/{name}/deployments/{id}/cancel',
      `${environmentPath}/deployments/${third.body.deploymentId}/cancel`,
      name,
    );
    await settle(name, third);
    await settle(
      name,
      await changes('POST /environments/{name}/sleep', `${environmentPath}/sleep`, name, {}),
    );
    await settle(name, await changes('POST /environments/{name}/wake', `${environmentPath}/wake`, name, {}));
    const until = new Date(Date.now() + 2 * 3_600_000).toISOString();
    await changes('POST /environments/{name}/snooze', `${environmentPath}/snooze`, name, { until });
    // Two changes above the risk threshold (50 instances) wait for approval: the first is approved and then
    // superseded by the second (launching nothing), which is rejected.
    const approver = { token: APPROVER_TOKEN, actor: 'approver' };
    const approved = await requestRiskyChange(kiln, name, '4.0.0');
    const rejected = await requestRiskyChange(kiln, name, '4.0.1');
    await changes(
      'POST /environments/{name}/deployments/{id}/approve',
      `${environmentPath}/deployments/${approved}/approve`,
      name,
      { comment: 'go' },
      approver,
    );
    await changes(
      'POST /environments/{name}/deployments/{id}/reject',
      `${environmentPath}/deployments/${rejected}/reject`,
      name,
      { comment: 'not now' },
      approver,
    );
    assert.equal((await awaitDeployment(kiln, name, approved)).status, 'superseded');
    assert.equal((await awaitDeployment(kiln, name, rejected)).status, 'rejected');
    await settle(name, await changes('DELETE /environments/{name}', environmentPath, name));
    const template = {
      team: 'platform',
      tier: 'dev',
      source: { provider: 'github', repository: 'octo/shop', branches: 'feature/*' },
      spec: quickEnvironmentBody('1.0.0').spec,
    };
    await changes('PUT /templates/{name}', '/templates/audit-tpl', trailOf.template, template);
    await changes('DELETE /templates/{name}', '/templates/audit-tpl', trailOf.template);
    // A freeze's trail is `freeze:<id>`; only a freeze-manager makes one (a window far ahead: it holds nothing here).
    const guard = { token: FREEZE_MANAGER_TOKEN, actor: 'guard' };
    const freeze = {
      team: 'platform',
      start: '2099-12-24T00:00:00Z',
      end: '2099-12-27T00:00:00Z',
      reason: 'holidays',
    };
    await changes('PUT /freezes/{id}', '/freezes/audit-freeze', 'freeze:audit-freeze', freeze, guard);
    await changes('DELETE /freezes/{id}', '/freezes/audit-freeze', 'freeze:audit-freeze', undefined, guard);

    // Every route a person changes state through, as the manifest lists them: a new one joins this test.
    const stateChanging = ROUTES.filter((route) => route.method !== 'GET' && route.auth === 'iam').map(
      (route) => `${route.method} ${route.path}`,
    );
    assert.deepEqual([...driven].sort(), stateChanging.sort());

    const events = await auditThroughApi(name);
    assert.deepEqual(
      events.map((event) => event.sequence),
      events.map((_, index) => index + 1),
      'the pages hold the whole chain, oldest first',
    );
    const verified = await call(kiln, 'GET', `${environmentPath}/audit/verify`);
    assert.deepEqual(
      { intact: verified.body.intact, events: verified.body.events },
      { intact: true, events: events.length },
    );
  });

  it('the route and the command name exactly the event edited directly in the table', async () => {
    const name = 'audit-tamper';
    await settle(
      name,
      await call(kiln, 'PUT', `/environments/${name}`, { body: quickEnvironmentBody('1.0.0') }),
    );
    await settle(
      name,
      await call(kiln, 'POST', `/environments/${name}/deployments`, { body: { version: '2.0.0' } }),
    );
    const events = await auditThroughApi(name);
    assert.ok(events.length >= 4, JSON.stringify(events));
    assert.equal((await verifyCommand(name)).code, 0);

    // Someone with write access to the table rewrites who asked for the second deployment.
    const target = events.find(
      (event) => event.action === 'deployment.requested' && event.detail.version === '2.0.0',
    );
    // Straight to the table, at the endpoint the running Kiln publishes, as an operator could.
    const runtime = await new JsonStateFile<RuntimeDescription>(join(dataDir, RUNTIME_FILE)).read();
    const client = new DynamoDBClient({
      endpoint: runtime?.databaseEndpoint,
      region: 'local',
      credentials: LOCAL_CREDENTIALS,
    });
    await DynamoDBDocumentClient.from(client).send(
      new UpdateCommand({
        TableName: runtime?.tableName,
        Key: auditChainKey(name, target.sequence),
        UpdateExpression: 'SET #actor = :someone',
        ExpressionAttributeNames: { '#actor': 'actor' },
        ExpressionAttributeValues: {
          ':someone': 'arn:aws:sts::000000000000:assumed-role/kiln-team-platform/someone',
        },
      }),
    );
    client.destroy();

    const verified = await call(kiln, 'GET', `/environments/${name}/audit/verify`);
    assert.equal(verified.status, 200);
    assert.equal(verified.body.intact, false);
    assert.deepEqual(
      [verified.body.mismatch.sequence, verified.body.mismatch.id, verified.body.mismatch.problem],
      [target.sequence, target.id, 'hash'],
    );
    const command = await verifyCommand(name);
    assert.equal(command.code, 1, command.output);
    assert.match(command.output, new RegExp(`broken at event ${target.sequence} \\(${target.id}\\), hash`));
  });

  it('refuses another team, a bad limit and a foreign cursor', async () => {
    const name = 'audit-tamper';
    for (const path of [`/environments/${name}/audit`, `/environments/${name}/audit/verify`]) {
      const foreign = await call(kiln, 'GET', path, { token: OTHER_TEAM_TOKEN });
      assert.equal(foreign.status, 403, JSON.stringify(foreign.body));
    }
    for (const query of [
      'limit=0',
      'limit=101',
      'cursor=%2F%2F',
      `cursor=${Buffer.from('META').toString('base64url')}`,
    ]) {
      const bad = await call(kiln, 'GET', `/environments/${name}/audit?${query}`);
      assert.equal(bad.status, 400, `${query}: ${JSON.stringify(bad.body)}`);
      assert.equal(bad.headers.get('content-type'), 'application/problem+json');
    }
  });
});
