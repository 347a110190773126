import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKilnWithEnvironment } from '../support/embedded-kiln.ts';
import {
  awaitDeployment,
  call,
  eventually,
  quickCanaryBody,
  removeDataDir,
} from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';

const ENV = 'canary-dev';

/**
 * Issue 10's canary strategy on the embedded runtime: real sample-app processes behind the real proxy,
 * the real deploy ASL (its Bake states are Wait states), with no traffic but the test's own calls. Canaries
 * judged on live traffic (a healthy one promoted, an erring one rolled back at its first judged step, no
 * request failing meanwhile) are in test/e2e/delivery-under-load.test.ts.
 */
describe('canary deployments', { timeout: 300_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;

  before(async () => {
    ({ kiln, dataDir } = await startTestKilnWithEnvironment('kiln-canary-', ENV, '1.0.0'));
  });
  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  it('shows the step a canary is at and the split while it runs; too few requests to judge is recorded, and it goes on', async () => {
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, { body: quickCanaryBody('2.0.0') });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const midway = await eventually('the canary at its first step', async () => {
      const running = (await call(kiln, 'GET', `/environments/${ENV}/deployments/${put.body.deploymentId}`))
        .body;
      return Object.values(running.weights ?? {}).includes(20) ? running : undefined;
    });
    assert.deepEqual(Object.values(midway.weights).sort(), [20, 80]);
    assert.equal(midway.steps.at(-1).name, 'Canary step 1: 20 %');
    const deployment = await awaitDeployment(kiln, ENV, put.body.deploymentId);

    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
    const judged = deployment.steps.find((step: { name: string }) => step.name === 'Judge step 1: 20 %');
    assert.match(judged.detail, /not enough data: 0 requests, 0 errors \(0 % ≤ 5 %\); 10 needed$/);
    assert.equal((await call(kiln, 'GET', `/environments/${ENV}`)).body.liveStack.version, '2.0.0');
    await awaitInvariants(dataDir, [ENV]);
  });

  it('refuses canary steps that do not rise to 100, naming the problem', async () => {
    const body = quickCanaryBody('4.0.0');
    const bad = {
      ...body,
      spec: {
        ...body.spec,
        strategy: {
          ...body.spec.strategy,
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
