import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKilnWithEnvironment } from '../support/embedded-kiln.ts';
import {
  awaitDeployment,
  call,
  eventually,
  OTHER_TEAM_TOKEN,
  quickEnvironmentBody,
  removeDataDir,
} from '../support/kiln-process.ts';
import { awaitInvariants } from '../support/real-state.ts';
import { SteadyLoad } from '../support/steady-load.ts';

const ENV = 'rollback-dev';

/**
 * Issue 10's warm rollback window on the embedded runtime (real processes, the real proxy, the real
 * deploy and teardown ASL, the real sweep on a 1 s period): the replaced stack stays warm at weight 0,
 * a rollback inside the window switches back to it in under 2 s with requests flowing and none failing,
 * the window's end retires the standby, and a rollback after it is a normal deployment of the previous
 * spec. DESIGN's invariants are checked over the real state after each step.
 */
describe('warm rollback window', { timeout: 300_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  let endpoint: string;

  before(async () => {
    ({ kiln, dataDir, endpoint } = await startTestKilnWithEnvironment('kiln-rollback-', ENV, '1.0.0', {
      upkeepPeriodSeconds: 1,
    }));
  });
  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  function body(version: string, rollbackWindowSeconds: number) {
    return { ...quickEnvironmentBody(version), rollbackWindowSeconds };
  }

  async function deploy(version: string, rollbackWindowSeconds: number) {
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, {
      body: body(version, rollbackWindowSeconds),
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const deployment = await awaitDeployment(kiln, ENV, put.body.deploymentId);
    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
    return deployment;
  }

  async function environment() {
    return (await call(kiln, 'GET', `/environments/${ENV}`)).body;
  }

  async function stacks() {
    return (await call(kiln, 'GET', `/environments/${ENV}/stacks`)).body.stacks as {
      stackId: string;
      status: string;
      weight: number;
      version: string;
    }[];
  }

  /** The version that answers a request to the endpoint right now. */
  async function servedVersion(): Promise<string | undefined> {
    const text = await (await fetch(endpoint)).text();
    return /^sample-app (\S+)/.exec(text)?.[1];
  }

  it('refuses a rollback with nothing to return to, changing nothing', async () => {
    const refused = await call(kiln, 'POST', `/environments/${ENV}/rollback`, { body: {} });
    assert.equal(refused.status, 409, JSON.stringify(refused.body));
    assert.match(refused.body.detail, /nothing to roll back to/);
    assert.equal((await environment()).liveStack.version, '1.0.0');
  });

  it('keeps the replaced stack warm at weight 0 for the window', async () => {
    const deployment = await deploy('2.0.0', 600);
    const standbyStep = deployment.steps.find((step: { name: string }) => step.name.startsWith('StandBy '));
    assert.ok(standbyStep, deployment.steps.map((step: { name: string }) => step.name).join(', '));
    const env = await environment();
    assert.equal(env.rollback.windowSeconds, 600);
    assert.equal(env.rollback.source, 'environment');
    assert.equal(env.rollback.previousVersion, '1.0.0');
    assert.equal(env.rollback.standby.stackId, `${ENV}-v0001`);
    const byId = new Map((await stacks()).map((stack) => [stack.stackId, stack]));
    assert.deepEqual(
      { status: byId.get(`${ENV}-v0001`)?.status, weight: byId.get(`${ENV}-v0001`)?.weight },
      { status: 'standby', weight: 0 },
    );
    assert.equal(byId.get(`${ENV}-v0002`)?.status, 'live');
    await awaitInvariants(dataDir, [ENV]);
  });

  it('refuses cross-team rollbacks and bad bodies', async () => {
    const foreign = await call(kiln, 'POST', `/environments/${ENV}/rollback`, {
      body: {},
      token: OTHER_TEAM_TOKEN,
    });
    assert.equal(foreign.status, 403, JSON.stringify(foreign.body));
    const unknownField = await call(kiln, 'POST', `/environments/${ENV}/rollback`, { body: { to: 'v1' } });
    assert.equal(unknownField.status, 400, JSON.stringify(unknownField.body));
    const badWindow = await call(kiln, 'PUT', `/environments/${ENV}`, { body: body('2.0.0', 86_401) });
    assert.equal(badWindow.status, 400, JSON.stringify(badWindow.body));
    assert.equal((await environment()).rollback.standby.stackId, `${ENV}-v0001`, 'nothing changed');
  });

  it('inside the window, moves traffic back to the warm stack in under 2 s, no request failing', async () => {
    const load = new SteadyLoad(50);
    load.start(endpoint);
    const asked = performance.now();
    const rollback = await call(kiln, 'POST', `/environments/${ENV}/rollback`, {
      body: { reason: 'checkout errors after 2.0.0' },
    });
    assert.equal(rollback.status, 202, JSON.stringify(rollback.body));
    await eventually('the warm stack to answer', async () =>
      (await servedVersion()) === '1.0.0' ? true : undefined,
    );
    const movedMs = performance.now() - asked;
    // Asked again while it runs: the same rollback.
    const again = await call(kiln, 'POST', `/environments/${ENV}/rollback`, { body: {} });
    const deployment = await awaitDeployment(kiln, ENV, rollback.body.deploymentId);
    await load.stop();

    assert.ok(movedMs < 2000, `traffic moved ${Math.round(movedMs)} ms after the request`);
    // While it runs, the same rollback; once it has ended, nothing (it never rolls forward again).
    if (again.status === 202) assert.equal(again.body.deploymentId, rollback.body.deploymentId);
    else assert.equal(again.status, 409, JSON.stringify(again.body));
    const twice = await call(kiln, 'POST', `/environments/${ENV}/rollback`, { body: {} });
    assert.equal(twice.status, 409, JSON.stringify(twice.body));
    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
    assert.equal(deployment.trigger, 'rollback');
    assert.equal(deployment.reason, 'checkout errors after 2.0.0');
    const steps = deployment.steps.map((step: { name: string }) => step.name);
    assert.ok(!steps.includes('ProvisionStack'), `nothing provisioned: ${steps.join(', ')}`);
    assert.ok(steps.includes('CutOver') && steps.includes(`Decommission ${ENV}-v0002`), steps.join(', '));
    assert.deepEqual(load.failures, [], 'no request failed');
    assert.ok(
      (load.served.get('200 sample-app 2.0.0') ?? 0) > 0,
      'the faulty version served until the switch',
    );

    const env = await environment();
    assert.deepEqual(
      { live: env.liveStack.stackId, desired: env.spec.version, standby: env.rollback.standby },
      { live: `${ENV}-v0001`, desired: '1.0.0', standby: null },
    );
    const byId = new Map((await stacks()).map((stack) => [stack.stackId, stack]));
    assert.equal(byId.get(`${ENV}-v0002`)?.status, 'decommissioned');
    await awaitInvariants(dataDir, [ENV]);
  });

  it('retires the standby when the window ends; a rollback after it deploys the previous spec anew', async () => {
    await deploy('3.0.0', 2);
    assert.equal((await environment()).rollback.standby.stackId, `${ENV}-v0001`);
    const retired = await eventually('the sweep to retire the standby', async () => {
      const env = await environment();
      return env.rollback.standby === null && env.deploymentInProgress === null ? env : undefined;
    });
    const retire = (await call(kiln, 'GET', `/environments/${ENV}/deployments`)).body.deployments.find(
      (d: { action: string }) => d.action === 'retire',
    );
    assert.equal(retire.status, 'succeeded', JSON.stringify(retire));
    assert.equal(retired.liveStack.version, '3.0.0');
    const byId = new Map((await stacks()).map((stack) => [stack.stackId, stack]));
    assert.equal(byId.get(`${ENV}-v0001`)?.status, 'decommissioned');
    await awaitInvariants(dataDir, [ENV]);

    const rollback = await call(kiln, 'POST', `/environments/${ENV}/rollback`, { body: {} });
    assert.equal(rollback.status, 202, JSON.stringify(rollback.body));
    const deployment = await awaitDeployment(kiln, ENV, rollback.body.deploymentId);
    assert.equal(deployment.status, 'succeeded', JSON.stringify(deployment));
    assert.equal(deployment.trigger, 'rollback');
    assert.ok(deployment.steps.some((step: { name: string }) => step.name === 'ProvisionStack'));
    assert.equal(await servedVersion(), '1.0.0');
    // A rollback replaces a stack known bad: it is not kept warm.
    assert.equal((await environment()).rollback.standby, null);
    await awaitInvariants(dataDir, [ENV]);
  });
});
