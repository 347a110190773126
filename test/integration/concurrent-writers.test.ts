import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeploymentStatus } from '../../functions/core/types.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import { call, eventually, quickEnvironmentBody, removeDataDir } from '../support/kiln-process.ts';

/** A deployment as the API lists it. */
interface DeploymentView {
  id: string;
  generation: number;
  status: DeploymentStatus;
  version?: string;
  startedAt?: string;
  endedAt?: string;
}

/**
 * Many writers at once, through the real gateway and handlers: without If-Match nobody sees a
 * conflict (Kiln re-reads and retries with backoff), one deployment runs at a time and the newest wins.
 */
describe('concurrent writers', { timeout: 240_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-race-'));
  });

  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  /** Every deployment of the environment, once none is queued or running. */
  async function settledDeployments(name: string): Promise<DeploymentView[]> {
    return eventually(
      `every deployment of ${name} to end`,
      async () => {
        const { body } = await call(kiln, 'GET', `/environments/${name}/deployments?limit=100`);
        const deployments = body.deployments as DeploymentView[];
        return deployments.some((d) => d.status === 'queued' || d.status === 'running')
          ? undefined
          : deployments;
      },
      180_000,
    );
  }

  /** One deployment at a time; the newest ran and succeeded; every one that never ran was superseded. */
  async function assertSerializedNewestWins(name: string, deployments: DeploymentView[]) {
    const ran = deployments
      .filter((d) => d.startedAt)
      .sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
    for (const [i, d] of ran.entries()) {
      assert.ok(d.endedAt, `${d.id} ran and has an end`);
      const previous = ran[i - 1];
      if (previous) {
        assert.ok(
          (d.startedAt ?? '') >= (previous.endedAt ?? ''),
          `${d.id} started ${d.startedAt} before ${previous.id} ended ${previous.endedAt}`,
        );
      }
    }
    const newest = deployments.reduce((a, b) => (b.generation > a.generation ? b : a));
    assert.equal(newest.status, 'succeeded', JSON.stringify(newest));
    for (const d of deployments.filter((d) => !d.startedAt)) {
      assert.equal(d.status, 'superseded', `${d.id} never ran`);
    }
    const environment = (await call(kiln, 'GET', `/environments/${name}`)).body;
    assert.equal(environment.latestDeploymentId, newest.id);
    assert.equal(environment.liveStack?.version, newest.version);
    assert.equal(environment.spec.version, newest.version);
  }

  it('50 concurrent PUTs with different specs and no If-Match all succeed', async (t) => {
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        call(kiln, 'PUT', '/environments/race-dev', { body: quickEnvironmentBody(`1.0.${i}`) }),
      ),
    );
    const elapsed = Date.now() - started;
    t.diagnostic(`50 PUTs answered in ${elapsed} ms`);
    const statuses = answers.map((a) => a.status);
    assert.ok(
      statuses.every((s) => s === 200 || s === 201),
      `statuses: ${JSON.stringify(answers.filter((a) => a.status >= 300).map((a) => a.body))}`,
    );
    assert.equal(statuses.filter((s) => s === 201).length, 1, 'exactly one creator answers 201');
    // API Gateway's integration timeout: every writer must be answered before it.
    assert.ok(elapsed < 29_000, `50 writers took ${elapsed} ms`);
    const deployments = await settledDeployments('race-dev');
    assert.equal(deployments.length, 50, 'each different spec asked for its own deployment');
    await assertSerializedNewestWins('race-dev', deployments);
  });

  it('20 concurrent POST …/deployments all get 202; one runs at a time and the newest wins', async (t) => {
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        call(kiln, 'POST', '/environments/race-dev/deployments', { body: { version: `2.0.${i}` } }),
      ),
    );
    assert.deepEqual(
      answers.map((a) => a.status),
      Array(20).fill(202),
      JSON.stringify(answers.filter((a) => a.status !== 202).map((a) => a.body)),
    );
    t.diagnostic(`20 POSTs answered in ${Date.now() - started} ms`);
    const ids = new Set(answers.map((a) => a.body.deploymentId));
    assert.equal(ids.size, 20);
    const deployments = (await settledDeployments('race-dev')).filter((d) => ids.has(d.id));
    assert.equal(deployments.length, 20);
    await assertSerializedNewestWins('race-dev', deployments);
  });

  it('a stale If-Match still gets 409 and changes nothing', async () => {
    const before = (await call(kiln, 'GET', '/environments/race-dev')).body;
    const stale = await call(kiln, 'PUT', '/environments/race-dev', {
      body: quickEnvironmentBody('3.0.0'),
      headers: { 'if-match': `"${before.version - 1}"` },
    });
    assert.equal(stale.status, 409);
    assert.match(stale.body.detail, new RegExp(`is at version ${before.version}, not ${before.version - 1}`));
    const deploy = await call(kiln, 'POST', '/environments/race-dev/deployments', {
      body: { version: '3.0.1' },
      headers: { 'if-match': `"${before.version - 1}"` },
    });
    assert.equal(deploy.status, 409);
    assert.deepEqual((await call(kiln, 'GET', '/environments/race-dev')).body, before);
  });
});
