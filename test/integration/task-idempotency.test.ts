import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import type { Actor } from '../../functions/core/actors.ts';
import { finishDeployment } from '../../functions/core/deployment/finish.ts';
import { checkHealth } from '../../functions/core/deployment/health-wait.ts';
import { acquireLease, type LeaseOutcome } from '../../functions/core/deployment/lease.ts';
import { provisionStack } from '../../functions/core/deployment/provision.ts';
import { decommissionStack, drainStack } from '../../functions/core/deployment/retire.ts';
import { cutOver, restoreTraffic } from '../../functions/core/deployment/traffic.ts';
import { ConflictError, InvalidTransitionError, LeaseHeldError } from '../../functions/core/errors.ts';
import type { HealthProgress } from '../../functions/core/health.ts';
import { systemClock } from '../../functions/core/ports/clock.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import type { WorkflowInput, WorkflowName, Workflows } from '../../functions/core/ports/workflows.ts';
import { cancelDeployment, putEnvironment, requestDeployment } from '../../functions/core/requests.ts';
import type { WaitProgress } from '../../functions/core/waits.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { sampleSpec } from '../support/specs.ts';
import { edgeTwins } from '../support/twins.ts';

/** Records starts instead of running workflows: this test plays the workflow itself, task by task. */
class RecordingWorkflows implements Workflows {
  readonly started: WorkflowInput[] = [];
  readonly running = new Set<string>();
  async start(_workflow: WorkflowName, input: WorkflowInput) {
    this.started.push(input);
  }
  async isRunning(_workflow: WorkflowName, id: string) {
    return this.running.has(id);
  }
  async answerTask() {}
}

const caller: Actor = {
  trigger: 'api',
  principal: 'arn:aws:sts::000000000000:assumed-role/kiln-team-platform/t',
  team: 'platform',
};
const ENV = 'idem-dev';

/**
 * Design rule 3: every side effect is idempotent. Each task of the deploy workflow runs twice in a row
 * (as an at-least-once retry would) against the real store, real processes and the real proxy; the
 * second run must change nothing.
 */
describe('workflow tasks under retry', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let ports: Ports;
  let workflows: RecordingWorkflows;
  let compute: ProcessCompute;
  let traffic: ProxyTraffic;

  before(async () => {
    database = await startTestDatabase();
    workflows = new RecordingWorkflows();
    compute = new ProcessCompute({
      artifactsDir: fileURLToPath(new URL('../../infra/local/artifacts', import.meta.url)),
    });
    traffic = new ProxyTraffic();
    ports = {
      store: database.store,
      compute,
      traffic,
      workflows,
      ...edgeTwins(),
      clock: systemClock,
    };
  });

  after(async () => {
    await traffic.close();
    await compute.shutdown();
    await database.close();
  });

  async function state(deploymentId: string) {
    const [environment, stacks, deployment, audit] = await Promise.all([
      ports.store.getEnvironment(ENV),
      ports.store.listStacks(ENV),
      ports.store.getDeployment(ENV, deploymentId),
      ports.store.listAudit(ENV),
    ]);
    const instances = await Promise.all(stacks.map((s) => compute.describeStack(s.stackId)));
    return { environment, stacks, deployment, audit, instances, weights: await traffic.getWeights(ENV) };
  }

  /** Runs a task twice; the second run must leave every record, instance and weight as the first left them. */
  async function twice<T>(deploymentId: string, task: () => Promise<T>): Promise<T> {
    const first = await task();
    const afterFirst = await state(deploymentId);
    const second = await task();
    assert.deepEqual(await state(deploymentId), afterFirst);
    assert.deepEqual(second, first);
    return first;
  }

  /**
   * A drain or a decommission as the workflow runs it, every run retried: the act, then checks until done.
   * A retry may find the loop further on (the processes exited meanwhile); once done, it changes nothing
   * and answers done (its other fields only pace the Wait state).
   */
  async function untilDone(
    deploymentId: string,
    run: (progress?: WaitProgress) => Promise<WaitProgress>,
  ): Promise<void> {
    let progress: WaitProgress | undefined;
    do {
      const previous = progress;
      if (previous) await new Promise((resolve) => setTimeout(resolve, 200));
      const first = await run(previous);
      const afterFirst = await state(deploymentId);
      progress = await run(previous);
      if (first.done) {
        assert.deepEqual(await state(deploymentId), afterFirst);
        assert.equal(progress.done, true);
      }
    } while (!progress.done);
  }

  async function deploy(deploymentId: string): Promise<LeaseOutcome> {
    const input = { environment: ENV, deploymentId };
    workflows.running.add(deploymentId);
    const lease: LeaseOutcome = await twice(deploymentId, () => acquireLease(ports, input));
    assert.equal(lease.proceed, true);
    const provisioned: string = await twice(deploymentId, () =>
      provisionStack(ports, input).then(({ stackId }) => stackId),
    );
    let health: HealthProgress = {
      consecutive: 0,
      healthy: false,
      deadline: new Date(Date.now() + 20_000).toISOString(),
      waitSeconds: 0,
      since: new Date().toISOString(),
    };
    while (!health.healthy) {
      await new Promise((r) => setTimeout(r, 300));
      health = await checkHealth(ports, { ...input, health });
    }
    assert.equal((await ports.store.getStack(ENV, Number(provisioned.slice(-4))))?.status, 'healthy');
    await twice(deploymentId, () => checkHealth(ports, { ...input, health }));
    await twice(deploymentId, () => cutOver(ports, input));
    if (lease.fromStackId) {
      const old = { ...input, stackId: lease.fromStackId };
      await untilDone(deploymentId, (progress) =>
        drainStack(ports, { ...old, ...(progress ? { progress } : {}) }),
      );
      await untilDone(deploymentId, (progress) =>
        decommissionStack(ports, { ...old, outcome: 'decommissioned', ...(progress ? { progress } : {}) }),
      );
    }
    await twice(deploymentId, () => finishDeployment(ports, input));
    workflows.running.delete(deploymentId);
    return lease;
  }

  it('runs a first deployment with every task retried, ending live with one stack', async () => {
    const accepted = await putEnvironment(ports, caller, {
      name: ENV,
      team: 'platform',
      tier: 'dev',
      spec: sampleSpec({ capacity: 1 }),
    });
    assert.ok(accepted.deploymentId);
    await deploy(accepted.deploymentId);
    const { environment, stacks, deployment } = await state(accepted.deploymentId);
    assert.equal(environment?.status, 'live');
    assert.equal(environment?.lease, undefined);
    assert.deepEqual(
      stacks.map((s) => [s.stackId, s.status]),
      [[`${ENV}-v0001`, 'live']],
    );
    assert.deepEqual(environment?.weights, { [`${ENV}-v0001`]: 100 });
    assert.equal(deployment?.status, 'succeeded');
  });

  it('refuses to decommission or drain the live stack outside a teardown (rule: never remove the last healthy stack)', async () => {
    const accepted = await requestDeployment(ports, caller, ENV, { version: '1.0.1' });
    assert.ok(accepted.deploymentId);
    const live = { environment: ENV, deploymentId: accepted.deploymentId, stackId: `${ENV}-v0001` };
    workflows.running.add(accepted.deploymentId);
    assert.equal((await acquireLease(ports, live)).proceed, true);
    await assert.rejects(decommissionStack(ports, live), InvalidTransitionError);
    await assert.rejects(drainStack(ports, live), InvalidTransitionError);
    assert.equal((await ports.store.getStack(ENV, 1))?.status, 'live');
    assert.deepEqual(await traffic.getWeights(ENV), { [`${ENV}-v0001`]: 100 });
    assert.equal(
      (await compute.describeStack(`${ENV}-v0001`)).filter((i) => i.state === 'running').length,
      1,
    );
    await deploy(accepted.deploymentId);
  });

  it('a task of a deployment that does not hold the lease changes nothing', async () => {
    const queued = await requestDeployment(ports, caller, ENV, { version: '1.0.2' });
    assert.ok(queued.deploymentId);
    const input = { environment: ENV, deploymentId: queued.deploymentId };
    const before = await state(queued.deploymentId);
    await provisionStack(ports, input);
    await cutOver(ports, input);
    await restoreTraffic(ports, { ...input, lease: { proceed: true, fromStackId: `${ENV}-v0002` } });
    await drainStack(ports, { ...input, stackId: `${ENV}-v0002` });
    await decommissionStack(ports, { ...input, stackId: `${ENV}-v0002` });
    assert.deepEqual(await state(queued.deploymentId), before);
    await ports.store.updateDeployment(ENV, queued.deploymentId, {
      status: 'cancelled',
      endedAt: new Date().toISOString(),
    });
  });

  it('replaces the live stack with every task retried: old stack decommissioned, its instances gone', async () => {
    const stacks = await ports.store.listStacks(ENV);
    assert.deepEqual(
      stacks.map((s) => [s.stackId, s.status]),
      [
        [`${ENV}-v0001`, 'decommissioned'],
        [`${ENV}-v0002`, 'live'],
      ],
    );
    const old = await compute.describeStack(`${ENV}-v0001`);
    assert.ok(old.every((i) => i.state === 'terminated'));
    assert.deepEqual(await traffic.getWeights(ENV), { [`${ENV}-v0002`]: 100 });
  });

  it('every task of a finished deployment, run again at any later time, changes nothing', async () => {
    const latest = (await ports.store.listDeployments(ENV, 10)).find((d) => d.status === 'succeeded');
    assert.ok(latest?.fromStackId && latest.toStackId);
    const input = { environment: ENV, deploymentId: latest.id };
    const lease = { proceed: true, fromStackId: latest.fromStackId, toStackId: latest.toStackId };
    const before = await state(latest.id);
    const health = {
      consecutive: 0,
      healthy: false,
      deadline: new Date().toISOString(),
      waitSeconds: 0,
      since: latest.requestedAt,
    };
    const progress = {
      done: false,
      deadline: new Date().toISOString(),
      waitSeconds: 1,
      since: latest.requestedAt,
    };
    const reruns: [string, () => Promise<unknown>][] = [
      ['AcquireLease', () => acquireLease(ports, input)],
      ['ProvisionStack', () => provisionStack(ports, input)],
      ['CheckInstances', () => provisionStack(ports, { ...input, launch: progress })],
      ['CheckHealth', () => checkHealth(ports, { ...input, health })],
      ['CutOver', () => cutOver(ports, input)],
      ['RestoreTraffic', () => restoreTraffic(ports, { ...input, lease })],
      [
        'DecommissionNewStack',
        () => decommissionStack(ports, { ...input, stackId: latest.toStackId as string, outcome: 'failed' }),
      ],
      [
        'CheckNewStackTermination',
        () =>
          decommissionStack(ports, {
            ...input,
            stackId: latest.toStackId as string,
            outcome: 'failed',
            progress,
          }),
      ],
      ['DrainOldStack', () => drainStack(ports, { ...input, stackId: latest.fromStackId as string })],
      [
        'CheckOldStackDrain',
        () => drainStack(ports, { ...input, stackId: latest.fromStackId as string, progress }),
      ],
      [
        'DecommissionOldStack',
        () => decommissionStack(ports, { ...input, stackId: latest.fromStackId as string }),
      ],
      [
        'CheckOldStackTermination',
        () => decommissionStack(ports, { ...input, stackId: latest.fromStackId as string, progress }),
      ],
      [
        'FinishDeployment',
        () => finishDeployment(ports, { ...input, error: { Error: 'Late', Cause: 'late' } }),
      ],
    ];
    for (const [name, rerun] of reruns) {
      await rerun();
      assert.deepEqual(await state(latest.id), before, `${name} run again changed something`);
    }
  });

  it('a queued deployment that is cancelled never starts', async () => {
    const queued = await requestDeployment(ports, caller, ENV, { version: '2.5' });
    assert.ok(queued.deploymentId);
    await cancelDeployment(ports, caller, ENV, queued.deploymentId);
    const again = await cancelDeployment(ports, caller, ENV, queued.deploymentId);
    assert.ok(again.cancelRequest, 'a repeated cancel is a no-op');
    const input = { environment: ENV, deploymentId: queued.deploymentId };
    assert.deepEqual(await acquireLease(ports, input), { proceed: false });
    const deployment = await ports.store.getDeployment(ENV, queued.deploymentId);
    assert.equal(deployment?.status, 'cancelled');
    assert.equal((await ports.store.getEnvironment(ENV))?.lease, undefined, 'it never took the lease');
    await assert.rejects(cancelDeployment(ports, caller, ENV, queued.deploymentId), ConflictError);
  });

  it('a second deployment cannot take the lease while the holder still runs, and reclaims it once the holder is gone', async () => {
    const first = await requestDeployment(ports, caller, ENV, { version: '3' });
    const second = await requestDeployment(ports, caller, ENV, { version: '4' });
    assert.ok(first.deploymentId && second.deploymentId);
    workflows.running.add(first.deploymentId);
    // The older request is superseded by the newer one: it never takes the lease.
    assert.deepEqual(await acquireLease(ports, { environment: ENV, deploymentId: first.deploymentId }), {
      proceed: false,
    });
    assert.equal((await ports.store.getDeployment(ENV, first.deploymentId))?.status, 'superseded');
    // Simulate a holder whose workflow is still running: the newer one must wait.
    await ports.store.acquireLease(ENV, { holder: first.deploymentId, acquiredAt: new Date().toISOString() });
    await assert.rejects(
      acquireLease(ports, { environment: ENV, deploymentId: second.deploymentId }),
      LeaseHeldError,
    );
    // Once that workflow is gone, its lease is reclaimed.
    workflows.running.delete(first.deploymentId);
    const lease = await acquireLease(ports, { environment: ENV, deploymentId: second.deploymentId });
    assert.equal(lease.proceed, true);
    assert.equal((await ports.store.getEnvironment(ENV))?.lease?.holder, second.deploymentId);
  });
});
