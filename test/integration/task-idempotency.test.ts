import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ProcessCompute } from '../../functions/adapters/local/process-compute.ts';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import type { Caller } from '../../functions/core/caller.ts';
import {
  acquireLease,
  checkHealth,
  cutOver,
  decommissionStack,
  drainStack,
  finishDeployment,
  type LeaseOutcome,
  markLive,
  provisionStack,
} from '../../functions/core/deployment-tasks.ts';
import { ConflictError, InvalidTransitionError, LeaseHeldError } from '../../functions/core/errors.ts';
import type { HealthProgress } from '../../functions/core/health.ts';
import { systemClock } from '../../functions/core/ports/clock.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import type { WorkflowInput, WorkflowName, Workflows } from '../../functions/core/ports/workflows.ts';
import { cancelDeployment, putEnvironment, requestDeployment } from '../../functions/core/requests.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { sampleSpec } from '../support/specs.ts';

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
}

const caller: Caller = {
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
    ports = { store: database.store, compute, traffic, workflows, clock: systemClock };
  });

  after(async () => {
    await traffic.close();
    await compute.shutdown();
    await database.close();
  });

  async function state(deploymentId: string) {
    const [environment, stacks, deployment, steps] = await Promise.all([
      ports.store.getEnvironment(ENV),
      ports.store.listStacks(ENV),
      ports.store.getDeployment(ENV, deploymentId),
      ports.store.listSteps(ENV, deploymentId),
    ]);
    const instances = await Promise.all(stacks.map((s) => compute.describeStack(s.stackId)));
    return { environment, stacks, deployment, steps, instances, weights: await traffic.getWeights(ENV) };
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

  async function deploy(deploymentId: string): Promise<LeaseOutcome> {
    const input = { environment: ENV, deploymentId };
    workflows.running.add(deploymentId);
    const lease = await twice(deploymentId, () => acquireLease(ports, input));
    assert.equal(lease.proceed, true);
    const provisioned = await twice(deploymentId, () =>
      provisionStack(ports, input).then(({ stackId }) => stackId),
    );
    let health: HealthProgress = {
      consecutive: 0,
      healthy: false,
      deadline: new Date(Date.now() + 20_000).toISOString(),
      waitSeconds: 0,
    };
    while (!health.healthy) {
      await new Promise((r) => setTimeout(r, 300));
      health = await checkHealth(ports, { ...input, health });
    }
    assert.equal((await ports.store.getStack(ENV, Number(provisioned.slice(-4))))?.status, 'healthy');
    await twice(deploymentId, () => cutOver(ports, { ...input, lease }));
    await twice(deploymentId, () => markLive(ports, input));
    if (lease.fromStackId) {
      const old = { ...input, stackId: lease.fromStackId };
      await twice(deploymentId, () => drainStack(ports, old));
      await twice(deploymentId, () => decommissionStack(ports, { ...old, outcome: 'decommissioned' }));
    }
    await twice(deploymentId, () => finishDeployment(ports, { ...input, lease }));
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
      stacks.map((s) => [s.stackId, s.status, s.weight]),
      [[`${ENV}-v0001`, 'live', 100]],
    );
    assert.equal(deployment?.status, 'succeeded');
  });

  it('refuses to decommission the live stack outside a teardown (rule: never remove the last healthy stack)', async () => {
    const accepted = await requestDeployment(ports, caller, ENV, { version: '1.0.1' });
    assert.ok(accepted.deploymentId);
    await assert.rejects(
      decommissionStack(ports, {
        environment: ENV,
        deploymentId: accepted.deploymentId,
        stackId: `${ENV}-v0001`,
      }),
      InvalidTransitionError,
    );
    assert.equal((await ports.store.getStack(ENV, 1))?.status, 'live');
    await deploy(accepted.deploymentId);
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
