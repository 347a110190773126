import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  awaitDeployment,
  BLUE_GREEN_STEPS,
  call,
  environmentBody,
  eventually,
  fetchText,
  type KilnProcess,
  processesOfStack,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';

/**
 * The whole system as a user runs it: `infra/local/main.ts` (what `npm start` runs) in a child process,
 * driven only through its HTTP API and the environment's endpoint.
 */
describe('embedded Kiln, end to end', { timeout: 300_000 }, () => {
  let kiln: KilnProcess;

  before(async () => {
    kiln = await startKilnProcess();
  });

  after(async () => {
    await kiln?.stop();
    await removeDataDir(kiln.dataDir);
  });

  it('deploys v1 then v2 blue/green: the endpoint serves each, v1 is decommissioned and its processes exit', async () => {
    const created = await call(kiln, 'PUT', '/environments/shop-dev', { body: environmentBody('1.0.0') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.headers.get('etag'), '"2"');
    const first = await awaitDeployment(kiln, 'shop-dev', created.body.deploymentId);
    assert.equal(first.status, 'succeeded', JSON.stringify(first));

    const env1 = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(env1.body.status, 'live');
    assert.equal(env1.body.liveStack.stackId, 'shop-dev-v0001');
    assert.match(env1.body.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await fetchText(env1.body.endpoint), 'sample-app 1.0.0\n');

    const v2 = await call(kiln, 'PUT', '/environments/shop-dev', {
      body: environmentBody('2.0.0'),
      headers: { 'if-match': env1.headers.get('etag') ?? '' },
    });
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    const second = await awaitDeployment(kiln, 'shop-dev', v2.body.deploymentId);
    assert.equal(second.status, 'succeeded', JSON.stringify(second));
    assert.equal(second.fromStackId, 'shop-dev-v0001');
    assert.equal(second.toStackId, 'shop-dev-v0002');
    // Scored before anything was provisioned: a dev version change stays under the threshold.
    assert.deepEqual(
      { score: second.risk.score, needsApproval: second.risk.needsApproval },
      { score: 27, needsApproval: false },
    );
    assert.deepEqual(
      second.risk.terms.map((t: { term: string; points: number }) => `${t.term} ${t.points}`),
      ['instances 2', 'routing 25', 'tier dev -20', 'strategy blue-green 10', 'change new-artifact 10'],
    );
    const stepNames = second.steps.map((s: { name: string }) => s.name);
    for (const step of [...BLUE_GREEN_STEPS, 'Drain shop-dev-v0001', 'Decommission shop-dev-v0001']) {
      assert.ok(stepNames.includes(step), `steps ${stepNames} include ${step}`);
    }
    for (const step of second.steps) {
      assert.ok(
        Date.parse(step.startedAt) <= Date.parse(step.endedAt),
        `${step.name} has ordered timestamps`,
      );
    }

    assert.equal(await fetchText(env1.body.endpoint), 'sample-app 2.0.0\n');
    const stacks = await call(kiln, 'GET', '/environments/shop-dev/stacks');
    const byId = Object.fromEntries(stacks.body.stacks.map((s: { stackId: string }) => [s.stackId, s]));
    assert.equal(byId['shop-dev-v0001'].status, 'decommissioned');
    assert.equal(byId['shop-dev-v0001'].weight, 0);
    assert.ok(byId['shop-dev-v0001'].instances.every((i: { state: string }) => i.state === 'terminated'));
    assert.equal(byId['shop-dev-v0002'].status, 'live');
    assert.equal(byId['shop-dev-v0002'].weight, 100);
    assert.deepEqual(await processesOfStack('shop-dev-v0001'), []);
    assert.equal((await processesOfStack('shop-dev-v0002')).length, 2);
    for (const instance of byId['shop-dev-v0001'].instances) {
      assert.match(await fetchText(instance.address), /^error:/, `${instance.address} no longer answers`);
    }
  });

  it('rolls back a version that never becomes healthy: the old version serves throughout, the lease is released and a later deployment succeeds', async () => {
    const env = await call(kiln, 'GET', '/environments/shop-dev');
    const endpoint = env.body.endpoint;
    const broken = await call(kiln, 'PUT', '/environments/shop-dev', {
      body: environmentBody('3.0.0-broken', { env: { SAMPLE_HEALTH: 'fail' }, deadlineSeconds: 5 }),
    });
    assert.equal(broken.status, 200, JSON.stringify(broken.body));

    const served = new Set<string>();
    let outcome: { status: string } | undefined;
    while (!outcome) {
      served.add(await fetchText(endpoint));
      const d = await call(kiln, 'GET', `/environments/shop-dev/deployments/${broken.body.deploymentId}`);
      if (!['queued', 'running'].includes(d.body.status)) outcome = d.body;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(
      [...served],
      ['sample-app 2.0.0\n'],
      'only the old version answered during the failed deployment',
    );
    const record = await awaitDeployment(kiln, 'shop-dev', broken.body.deploymentId);
    assert.equal(record.status, 'rolled_back');
    assert.equal(record.error.name, 'StackNotHealthyError');
    assert.match(record.error.message, /shop-dev-v0003 was not healthy within 5s/);
    assert.ok(record.steps.some((s: { name: string }) => s.name === 'RestoreTraffic'));

    const stacks = await call(kiln, 'GET', '/environments/shop-dev/stacks');
    const failed = stacks.body.stacks.find((s: { stackId: string }) => s.stackId === 'shop-dev-v0003');
    assert.equal(failed.status, 'failed');
    assert.deepEqual(await processesOfStack('shop-dev-v0003'), []);

    const after = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(after.body.status, 'live');
    assert.equal(after.body.liveStack.stackId, 'shop-dev-v0002');
    assert.equal(after.body.deploymentInProgress, null, 'the lease is released');

    // The broken spec is still the desired state: fix it (a plain POST would redeploy it as it is).
    const fixed = await call(kiln, 'PUT', '/environments/shop-dev', { body: environmentBody('4.0.0') });
    assert.equal(fixed.status, 200);
    const done = await awaitDeployment(kiln, 'shop-dev', fixed.body.deploymentId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    assert.equal(await fetchText(endpoint), 'sample-app 4.0.0\n');
  });

  it('never runs two deployments of one environment at once: requests queue, the newest wins and skipped ones are superseded', async () => {
    const requests = await Promise.all(
      ['5.0.0', '6.0.0', '7.0.0'].map((version) =>
        call(kiln, 'POST', '/environments/shop-dev/deployments', {
          body: { version, reason: `race ${version}` },
        }),
      ),
    );
    assert.deepEqual(
      requests.map((r) => r.status),
      [202, 202, 202],
    );
    const records = await Promise.all(
      requests.map((r) => awaitDeployment(kiln, 'shop-dev', r.body.deploymentId)),
    );
    const ran = records.filter((d) => d.status === 'succeeded');
    const superseded = records.filter((d) => d.status === 'superseded');
    assert.equal(ran.length + superseded.length, 3, JSON.stringify(records.map((d) => d.status)));
    assert.ok(ran.length >= 1);
    // Whatever ran, ran one at a time: no two running intervals overlap.
    const intervals = ran
      .map((d) => [Date.parse(d.startedAt), Date.parse(d.endedAt)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < intervals.length; i++) {
      assert.ok((intervals[i]?.[0] ?? 0) >= (intervals[i - 1]?.[1] ?? 0), 'deployments did not overlap');
    }
    // The newest request always wins.
    const newest = records.reduce((a, b) => (a.generation > b.generation ? a : b));
    assert.equal(newest.status, 'succeeded');
    const env = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(await fetchText(env.body.endpoint), `sample-app ${newest.version}\n`);
  });

  it('a request made while a deployment runs waits for the lease, then runs after it', async () => {
    const first = await call(kiln, 'POST', '/environments/shop-dev/deployments', {
      body: { version: '8.0.0' },
    });
    await eventually('the first deployment to run', async () => {
      const d = await call(kiln, 'GET', `/environments/shop-dev/deployments/${first.body.deploymentId}`);
      return d.body.status === 'running' ? d.body : undefined;
    });
    const second = await call(kiln, 'POST', '/environments/shop-dev/deployments', {
      body: { version: '9.0.0' },
    });
    assert.equal(second.status, 202);
    const waiting = await call(kiln, 'GET', `/environments/shop-dev/deployments/${second.body.deploymentId}`);
    assert.equal(waiting.body.status, 'queued', 'the second request waits while the first holds the lease');
    const [a, b] = await Promise.all([
      awaitDeployment(kiln, 'shop-dev', first.body.deploymentId),
      awaitDeployment(kiln, 'shop-dev', second.body.deploymentId),
    ]);
    assert.equal(a.status, 'succeeded');
    assert.equal(b.status, 'succeeded');
    assert.ok(Date.parse(b.startedAt) >= Date.parse(a.endedAt), 'the second started after the first ended');
    const env = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(await fetchText(env.body.endpoint), 'sample-app 9.0.0\n');
  });

  it('keeps every environment and deployment record across a restart, and the endpoint serves again', async () => {
    const before = await call(kiln, 'GET', '/environments/shop-dev/deployments');
    const env = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(await kiln.stop(), 0, 'SIGTERM stops Kiln cleanly');
    assert.deepEqual(
      await processesOfStack(env.body.liveStack.stackId),
      [],
      'no stray instance after shutdown',
    );

    kiln = await startKilnProcess(kiln.dataDir);
    const again = await call(kiln, 'GET', '/environments/shop-dev/deployments');
    assert.deepEqual(again.body, before.body);
    const envAgain = await call(kiln, 'GET', '/environments/shop-dev');
    assert.deepEqual(envAgain.body, env.body);
    const text = await eventually(
      'the endpoint to serve after restart',
      async () => {
        const t = await fetchText(envAgain.body.endpoint);
        return t.startsWith('sample-app') ? t : undefined;
      },
      20_000,
    );
    assert.equal(text, `sample-app ${env.body.liveStack.version}\n`);
  });

  it('a deployment interrupted by a restart resumes and finishes after it', async () => {
    const started = await call(kiln, 'POST', '/environments/shop-dev/deployments', {
      body: { version: '10.0.0' },
    });
    await eventually('the deployment to run', async () => {
      const d = await call(kiln, 'GET', `/environments/shop-dev/deployments/${started.body.deploymentId}`);
      return d.body.status === 'running' ? d.body : undefined;
    });
    assert.equal(await kiln.stop(), 0);
    kiln = await startKilnProcess(kiln.dataDir);
    const done = await awaitDeployment(kiln, 'shop-dev', started.body.deploymentId);
    assert.equal(done.status, 'succeeded', JSON.stringify(done));
    const env = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(await fetchText(env.body.endpoint), 'sample-app 10.0.0\n');
    const stacks = await call(kiln, 'GET', '/environments/shop-dev/stacks');
    const running = stacks.body.stacks.filter(
      (s: { status: string }) => !['decommissioned', 'failed'].includes(s.status),
    );
    assert.deepEqual(
      running.map((s: { stackId: string }) => s.stackId),
      [env.body.liveStack.stackId],
      'only the live stack runs',
    );
  });

  it('cancelling a running deployment rolls it back and records it cancelled; the old version serves throughout', async () => {
    const env = await call(kiln, 'GET', '/environments/shop-dev');
    const live = env.body.liveStack;
    // A version that would wait a minute for health: long enough to be cancelled mid-way.
    const slow = await call(kiln, 'PUT', '/environments/shop-dev', {
      body: environmentBody('11.0.0-slow', { env: { SAMPLE_HEALTH: 'fail' }, deadlineSeconds: 60 }),
    });
    const id = slow.body.deploymentId;
    await eventually('the health wait to start (provisioning done)', async () => {
      const d = await call(kiln, 'GET', `/environments/shop-dev/deployments/${id}`);
      return d.body.steps?.some((s: { name: string }) => s.name === 'ProvisionStack') ? d.body : undefined;
    });
    const cancelled = await call(kiln, 'POST', `/environments/shop-dev/deployments/${id}/cancel`);
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    assert.ok(cancelled.body.cancelRequest.at);

    const record = await awaitDeployment(kiln, 'shop-dev', id, 20_000);
    assert.equal(record.status, 'cancelled', JSON.stringify(record));
    assert.equal(record.error.name, 'DeploymentCancelledError');
    assert.equal(await fetchText(env.body.endpoint), `sample-app ${live.version}\n`);
    const after = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(after.body.liveStack.stackId, live.stackId);
    assert.equal(after.body.deploymentInProgress, null);
    assert.deepEqual(await processesOfStack(record.toStackId), []);

    const again = await call(kiln, 'POST', `/environments/shop-dev/deployments/${id}/cancel`);
    assert.equal(again.status, 409);
    assert.match(again.body.detail, /already ended cancelled/);
  });

  it('DELETE tears every stack down and keeps the history', async () => {
    const env = await call(kiln, 'GET', '/environments/shop-dev');
    const deleted = await call(kiln, 'DELETE', '/environments/shop-dev');
    assert.equal(deleted.status, 202);
    const teardown = await awaitDeployment(kiln, 'shop-dev', deleted.body.deploymentId);
    assert.equal(teardown.status, 'succeeded', JSON.stringify(teardown));
    const gone = await call(kiln, 'GET', '/environments/shop-dev');
    assert.equal(gone.body.status, 'deleted');
    assert.equal(gone.body.endpoint, null);
    assert.match(await fetchText(env.body.endpoint), /^error:/);
    const stacks = await call(kiln, 'GET', '/environments/shop-dev/stacks');
    assert.ok(
      stacks.body.stacks.every((s: { status: string }) => ['decommissioned', 'failed'].includes(s.status)),
    );
    assert.deepEqual(await processesOfStack(env.body.liveStack.stackId), []);
    const history = await call(kiln, 'GET', '/environments/shop-dev/deployments');
    assert.ok(history.body.deployments.length >= 6, 'deployment history is kept');
  });
});
