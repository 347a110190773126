import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKilnWithEnvironment } from '../support/embedded-kiln.ts';
import {
  awaitDeployment,
  call,
  eventually,
  quickEnvironmentBody,
  removeDataDir,
} from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';
import { SteadyLoad } from '../support/steady-load.ts';

const ENV = 'canary-dev';
const CANARY = {
  type: 'canary',
  steps: [
    { weight: 20, bakeSeconds: 3 },
    { weight: 50, bakeSeconds: 3 },
    { weight: 100, bakeSeconds: 0 },
  ],
  analysis: { maxErrorRate: 0.05, minRequests: 10 },
};

/**
 * Issue 10's canary strategy on the embedded runtime: real sample-app processes behind the real proxy,
 * the real deploy ASL (its Bake states are Wait states), requests flowing at 50 req/s throughout and
 * every answer counted. A healthy new version earns its traffic step by step; one answering errors is
 * rolled back at its first judged step while the old version keeps serving.
 */
describe('canary deployments', { timeout: 300_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  let endpoint: string;

  before(async () => {
    ({ kiln, dataDir, endpoint } = await startTestKilnWithEnvironment('kiln-canary-', ENV, '1.0.0'));
  });
  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  function canaryBody(version: string, env: Record<string, string> = {}) {
    const body = quickEnvironmentBody(version);
    return { ...body, spec: { ...body.spec, env, strategy: CANARY } };
  }

  it('a healthy version earns its traffic step by step, judged at each, with no failed request', async () => {
    const load = new SteadyLoad(50);
    load.start(endpoint);
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, { body: canaryBody('2.0.0') });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    // While it runs, GET shows the step it is at and the split.
    const midway = await eventually('the canary at its first step', async () => {
      const running = (await call(kiln, 'GET', `/environments/${ENV}/deployments/${put.body.deploymentId}`))
        .body;
      return Object.values(running.weights ?? {}).includes(20) ? running : undefined;
    });
    assert.deepEqual(Object.values(midway.weights).sort(), [20, 80]);
    assert.equal(midway.steps.at(-1).name, 'Canary step 1: 20 %');
    const deployment = await awaitDeployment(kiln, ENV, put.body.deploymentId);
    await load.stop();

    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
    const steps = deployment.steps.map((step: { name: string }) => step.name);
    for (const name of [
      'Canary step 1: 20 %',
      'Judge step 1: 20 %',
      'Canary step 2: 50 %',
      'Judge step 2: 50 %',
      'CutOver',
    ]) {
      assert.ok(steps.includes(name), `${name} in ${steps.join(', ')}`);
    }
    const judged = deployment.steps.find((step: { name: string }) => step.name === 'Judge step 1: 20 %');
    assert.match(judged.detail, /^passed: \d+ requests, 0 errors \(0 % ≤ 5 %\), p99 \d+(\.\d+)? ms$/);
    assert.deepEqual(load.failures, [], 'no request failed');
    assert.ok((load.served.get('200 sample-app 1.0.0') ?? 0) > 0, 'the old version served during the canary');
    assert.ok((load.served.get('200 sample-app 2.0.0') ?? 0) > 0, 'and so did the new one');
    assert.equal((await call(kiln, 'GET', `/environments/${ENV}`)).body.liveStack.version, '2.0.0');
    await awaitInvariants(dataDir, [ENV]);
  });

  it('a version answering errors is rolled back at its first judged step; the old version serves throughout', async () => {
    const load = new SteadyLoad(50);
    load.start(endpoint);
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, {
      body: canaryBody('3.0.0', { SAMPLE_ERROR_RATE: '0.5' }),
    });
    const deployment = await awaitDeployment(kiln, ENV, put.body.deploymentId);
    await load.stop();

    assert.equal(deployment.status, 'rolled_back', JSON.stringify(deployment));
    assert.equal(deployment.error.name, 'CanaryAnalysisFailedError');
    assert.match(
      deployment.error.message,
      /canary step 1 \(20 %\) failed its analysis: \d+ requests, \d+ errors \(\d+(\.\d+)? % > 5 %\)/,
    );
    const steps = deployment.steps.map((step: { name: string }) => step.name);
    assert.ok(!steps.includes('Canary step 2: 50 %'), 'it never reached the second step');
    assert.ok(!steps.includes('CutOver'));
    // Only the new version's own error answers, while it had its 20 %: nothing failed otherwise.
    assert.deepEqual(
      [...new Set(load.failures.map((failure) => failure.replace(/^\S+ /, '')))],
      load.failures.length > 0 ? ['status 500: sample-app failed\n'] : [],
    );
    assert.ok((load.served.get('200 sample-app 2.0.0') ?? 0) > 0, 'the old version kept serving');
    const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
    assert.equal(environment.liveStack.version, '2.0.0');
    assert.equal(environment.status, 'live');
    await awaitInvariants(dataDir, [ENV]);
  });

  it('refuses canary steps that do not rise to 100, naming the problem', async () => {
    const body = quickEnvironmentBody('4.0.0');
    const bad = {
      ...body,
      spec: {
        ...body.spec,
        strategy: {
          ...CANARY,
          steps: [
            { weight: 50, bakeSeconds: 1 },
            { weight: 20, bakeSeconds: 1 },
          ],
        },
      },
    };
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, { body: bad });
    assert.equal(put.status, 400);
    assert.match(JSON.stringify(put.body), /weights must rise/);
  });
});
