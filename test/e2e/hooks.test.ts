import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKilnWithEnvironment } from '../support/embedded-kiln.ts';
import { awaitDeployment, call, quickEnvironmentBody, removeDataDir } from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';
import { SteadyLoad } from '../support/steady-load.ts';

const ENV = 'hooks-dev';

/**
 * Issue 10's verification hooks in the deploy workflow, on the embedded runtime: the hook functions of
 * infra/local/hooks/ invoked through the embedded Lambda Invoke API, against the new stack's test route,
 * with requests flowing through the environment's endpoint (50 req/s) and every answer counted.
 */
describe('verification hooks', { timeout: 300_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  let endpoint: string;

  before(async () => {
    ({ kiln, dataDir, endpoint } = await startTestKilnWithEnvironment('kiln-hooks-', ENV, '1.0.0'));
  });
  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  /** Deploys `version` with `hooks` while requests flow; the deployment and what the endpoint served. */
  async function deployWith(version: string, hooks: Record<string, unknown>) {
    const load = new SteadyLoad(50);
    load.start(endpoint);
    const body = quickEnvironmentBody(version);
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, {
      body: { ...body, spec: { ...body.spec, hooks } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const deployment = await awaitDeployment(kiln, ENV, put.body.deploymentId);
    await load.stop();
    assert.deepEqual(load.failures, [], 'no request failed');
    return { deployment, served: load.served };
  }

  function stepDetail(deployment: { steps: { name: string; detail?: string }[] }, name: string) {
    return deployment.steps.find((step) => step.name === name)?.detail;
  }

  it('a failing beforeTraffic hook stops the deployment before the new stack gets any request', async () => {
    const { deployment, served } = await deployWith('2.0.0', { beforeTraffic: { function: 'always-fails' } });
    assert.equal(deployment.status, 'rolled_back', JSON.stringify(deployment));
    assert.equal(deployment.error.name, 'HookFailedError');
    assert.match(
      deployment.error.message,
      /beforeTraffic hook always-fails failed: always-fails refuses hooks-dev-v0002/,
    );
    assert.match(stepDetail(deployment, 'Verify beforeTraffic') ?? '', /^Failed: always-fails refuses/);
    assert.equal(served.get('200 sample-app 2.0.0'), undefined, 'the new stack served nothing');
    assert.ok(!deployment.steps.some((step: { name: string }) => step.name === 'CutOver'));
    assert.equal((await call(kiln, 'GET', `/environments/${ENV}`)).body.liveStack.version, '1.0.0');
    await awaitInvariants(dataDir, [ENV]);
  });

  it('a passing beforeTraffic hook (a smoke test through the test route) lets it go live', async () => {
    const { deployment } = await deployWith('3.0.0', { beforeTraffic: { function: 'smoke-test' } });
    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
    assert.match(stepDetail(deployment, 'Verify beforeTraffic') ?? '', /^Succeeded/);
    assert.equal((await call(kiln, 'GET', `/environments/${ENV}`)).body.liveStack.version, '3.0.0');
  });

  it('a failing afterTraffic hook undoes the cutover: the previous stack serves again, the new one is removed', async () => {
    const { deployment, served } = await deployWith('4.0.0', { afterTraffic: { function: 'always-fails' } });
    assert.equal(deployment.status, 'rolled_back', JSON.stringify(deployment));
    assert.match(deployment.error.message, /afterTraffic hook always-fails failed/);
    assert.equal(stepDetail(deployment, 'RevertCutover'), 'all traffic back on hooks-dev-v0003');
    assert.ok((served.get('200 sample-app 3.0.0') ?? 0) > 0);
    const environment = (await call(kiln, 'GET', `/environments/${ENV}`)).body;
    assert.equal(environment.liveStack.version, '3.0.0');
    assert.equal(environment.status, 'live');
    const stacks = (await call(kiln, 'GET', `/environments/${ENV}/stacks`)).body.stacks as {
      stackId: string;
      status: string;
    }[];
    assert.equal(stacks.find((stack) => stack.stackId === 'hooks-dev-v0004')?.status, 'failed');
    await awaitInvariants(dataDir, [ENV]);
  });
});
