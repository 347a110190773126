import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { localLambdaContext } from '../../functions/adapters/local/lambda-context.ts';
import { stackIdFor } from '../../functions/core/spec.ts';
import { MAX_REPAIRS_PER_HOUR, repairDrift } from '../../functions/core/upkeep/drift.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import {
  awaitDeployment,
  call,
  eventually,
  fetchText,
  processesOfStack,
  quickEnvironmentBody,
  removeDataDir,
} from '../support/kiln-process.ts';
import { realStateViolations } from '../support/real-state.ts';
import { sampleSpec } from '../support/specs.ts';

/**
 * Issue 9 item 8, end to end on an embedded Kiln: real instance processes killed with SIGKILL, the drift
 * check run as its schedule runs it, the repair deployed by the real deploy workflow, and the endpoint
 * answering through the real proxy.
 */
describe('drift repair, embedded', { timeout: 180_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-drift-'));
  });

  after(async () => {
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  async function environment(name: string) {
    return (await call(kiln, 'GET', `/environments/${name}`)).body;
  }

  /** SIGKILLs every process of the stack (capacity 1: its only instance) and waits until it is gone. */
  async function killInstancesOf(stackId: string): Promise<void> {
    const pids = await processesOfStack(stackId);
    assert.equal(pids.length, 1, `${stackId} runs one instance`);
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    await eventually(`${stackId} to be gone`, async () =>
      (await processesOfStack(stackId)).length === 0 ? true : undefined,
    );
  }

  async function driftAudit(name: string) {
    return (await kiln.ports.store.listAudit(name)).filter((event) => event.action.startsWith('drift.'));
  }

  it('repairs a killed live instance with a new stack of the same spec, and does not repair the repair', async () => {
    const created = await call(kiln, 'PUT', '/environments/drifty', { body: quickEnvironmentBody('1.0.0') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await awaitDeployment(kiln, 'drifty', created.body.deploymentId)).status, 'succeeded');
    const before = await environment('drifty');
    assert.equal(await fetchText(before.endpoint), 'sample-app 1.0.0\n');

    // Nothing drifted yet: the check changes nothing.
    const calm = await repairDrift(kiln.ports);
    assert.deepEqual(
      { ...calm, checked: 0 },
      { checked: 0, repaired: [], unrepaired: [], skipped: [], failed: [] },
    );
    assert.ok(calm.checked >= 1);

    await killInstancesOf(before.liveStack.stackId);
    assert.notEqual(await fetchText(before.endpoint), 'sample-app 1.0.0\n', 'nothing serves it now');

    // The schedule's handler, as the scheduler invokes it.
    const { handler } = await import('../../functions/handlers/schedules/repairDrift.ts');
    const summary = await handler(
      { schedule: 'kiln-drift-check', scheduledTime: new Date().toISOString(), executionId: 'test' },
      localLambdaContext('kiln-repairDrift', 60_000),
    );
    assert.equal(summary.repaired, 1);
    const [detected] = await driftAudit('drifty');
    assert.equal(detected?.action, 'drift.detected');
    assert.equal(detected?.actor, 'kiln');
    assert.deepEqual(
      {
        stackId: detected?.detail?.stackId,
        healthy: detected?.detail?.healthy,
        capacity: detected?.detail?.capacity,
      },
      { stackId: before.liveStack.stackId, healthy: 0, capacity: 1 },
    );

    const repairId = (await environment('drifty')).latestDeploymentId;
    // While the repair is in flight, another check leaves the environment alone.
    const during = await repairDrift(kiln.ports);
    assert.deepEqual(
      during.skipped.map((skipped) => skipped.environment),
      ['drifty'],
    );
    const repair = await awaitDeployment(kiln, 'drifty', repairId);
    assert.equal(repair.status, 'succeeded');
    assert.equal(repair.trigger, 'drift-repair');
    assert.equal(repair.actor, 'kiln');
    assert.match(repair.reason, /^drift repair: 0 of 1 instances of drifty-v0001 healthy$/);

    // The endpoint serves the same version again, from a new stack of the same spec; the desired spec
    // is what it was.
    const repaired = await environment('drifty');
    assert.equal(repaired.liveStack.stackId, stackIdFor('drifty', 2));
    assert.deepEqual(repaired.spec, before.spec);
    const served = await fetch(repaired.endpoint);
    assert.equal(served.status, 200);
    assert.equal(await served.text(), 'sample-app 1.0.0\n');
    assert.deepEqual(await realStateViolations(dataDir, ['drifty']), []);

    // The repaired stack drifts too, right after: no second repair, recorded as unrepaired, once.
    await killInstancesOf(repaired.liveStack.stackId);
    const refused = await repairDrift(kiln.ports);
    assert.deepEqual(refused.repaired, []);
    assert.equal(refused.unrepaired.length, 1);
    assert.match(
      refused.unrepaired[0]?.reason ?? '',
      /drifty-v0002 is the stack repair .* made, and it drifted too/,
    );
    await repairDrift(kiln.ports);
    assert.equal((await environment('drifty')).latestDeploymentId, repairId, 'no deployment started');
    assert.deepEqual(
      (await driftAudit('drifty')).map((event) => `${event.action} ${event.detail?.stackId}`),
      ['drift.detected drifty-v0001', 'drift.detected drifty-v0002', 'drift.unrepaired drifty-v0002'],
    );
    const { stacks } = (await call(kiln, 'GET', '/environments/drifty/stacks')).body;
    const live = stacks.find((stack: { stackId: string }) => stack.stackId === 'drifty-v0002');
    assert.match(
      live?.statusReason ?? '',
      /^drifted: 0 of 1 instances of drifty-v0002 healthy; not repaired: /,
    );
  });

  it(`refuses more than ${MAX_REPAIRS_PER_HOUR} repairs of an environment within an hour`, async () => {
    const { store } = kiln.ports;
    const at = new Date();
    const spec = sampleSpec({ capacity: 2 });
    await store.createEnvironment({
      name: 'flaky',
      team: 'platform',
      tier: 'dev',
      spec,
      version: 1,
      generation: 4,
      status: 'pending',
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
    });
    // Three repairs within the hour, each to a stack that is not the live one.
    for (let generation = 1; generation <= 3; generation++) {
      await store.createDeployment({
        id: `d-flaky-${generation}`,
        environment: 'flaky',
        action: 'deploy',
        generation,
        trigger: 'drift-repair',
        actor: 'kiln',
        status: 'succeeded',
        spec,
        requestedAt: new Date(at.getTime() - (40 - generation) * 60_000).toISOString(),
      });
    }
    await store.putStackIfAbsent({
      environment: 'flaky',
      stackId: 'flaky-v0004',
      generation: 4,
      deploymentId: 'd-flaky-4',
      spec,
      status: 'live',
      instances: [],
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
    });
    // Live, but registered nowhere: no healthy instance at all.
    await store.updateObservedState('flaky', {
      status: 'live',
      liveStackId: 'flaky-v0004',
      liveGeneration: 4,
      liveSpec: spec,
    });
    const report = await repairDrift(kiln.ports);

    const flaky = report.unrepaired.find((drift) => drift.environment === 'flaky');
    assert.deepEqual(flaky, {
      environment: 'flaky',
      stackId: 'flaky-v0004',
      healthy: 0,
      capacity: 2,
      reason: `3 repairs started within the last hour (at most ${MAX_REPAIRS_PER_HOUR})`,
    });
    assert.equal((await kiln.ports.store.listDeployments('flaky', 10)).length, 3, 'no deployment started');
    assert.deepEqual(
      (await driftAudit('flaky')).map((event) => event.action),
      ['drift.detected', 'drift.unrepaired'],
    );
  });
});
