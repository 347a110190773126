import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../functions/adapters/local/free-port.ts';
import { OWNER_VARIABLE } from '../../functions/adapters/local/instance-processes.ts';
import { localLambdaContext } from '../../functions/adapters/local/lambda-context.ts';
import type { StackPorts } from '../../functions/core/ports/index.ts';
import { ORPHAN_GRACE_MS, type Reaped, reapOrphans } from '../../functions/core/upkeep/reaper.ts';
import type { Kiln } from '../../infra/local/runtime.ts';
import { startTestKiln } from '../support/embedded-kiln.ts';
import {
  awaitDeployment,
  call,
  fetchText,
  processesOfStack,
  quickEnvironmentBody,
  removeDataDir,
} from '../support/kiln-process.ts';
import { realStateViolations } from '../support/real-state.ts';

/** Removals in a stable order: entry points first, then stacks by id. */
function bySubject(reaped: Reaped[]): Reaped[] {
  return reaped.toSorted((a, b) => (a.stackId ?? '').localeCompare(b.stackId ?? ''));
}

const SAMPLE_APP = resolve(import.meta.dirname, '../../infra/local/artifacts/sample-app/server.ts');

/**
 * Issue 9 item 7, embedded: the reaper run against a real embedded Kiln (its dynalite, its process
 * compute, its traffic daemon), with instance processes and proxy registrations made behind the store's
 * back the way Kiln makes them: same artifact, same identity variables, the data folder's owner marker.
 */
describe('the orphan reaper, embedded', { timeout: 120_000 }, () => {
  let kiln: Kiln;
  let dataDir: string;
  const spawned: ChildProcess[] = [];

  before(async () => {
    ({ kiln, dataDir } = await startTestKiln('kiln-reaper-'));
  });

  after(async () => {
    for (const child of spawned)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await kiln?.close();
    await removeDataDir(dataDir);
  });

  /** An instance process of `stackId` launched behind the store's back, as process-compute launches one. */
  async function launchBehindTheStoresBack(stackId: string) {
    const { owner } = JSON.parse(await readFile(join(dataDir, 'compute.json'), 'utf8')) as { owner: string };
    const port = await freePort();
    const instanceId = `i-${stackId}-1`;
    const child = spawn(process.execPath, [SAMPLE_APP], {
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        APP_VERSION: '6.6.6',
        KILN_ENVIRONMENT: stackId.replace(/-v\d+$/, ''),
        KILN_STACK_ID: stackId,
        KILN_DEPLOYMENT_ID: 'd-behind-the-back',
        KILN_INSTANCE_ID: instanceId,
        [OWNER_VARIABLE]: owner,
      },
      stdio: 'ignore',
      detached: true,
    });
    child.unref();
    spawned.push(child);
    const instance = { id: instanceId, address: `http://127.0.0.1:${port}`, state: 'running' as const };
    for (let tries = 0; !(await fetchText(instance.address)).startsWith('sample-app'); tries++) {
      assert.ok(tries < 100, `${stackId} never answered`);
      await sleep(50);
    }
    return instance;
  }

  /** The embedded Kiln's own ports, with its clock moved on by `aheadMs`. */
  function portsAhead(aheadMs = 0): StackPorts {
    return { ...kiln.ports, clock: { now: () => new Date(Date.now() + aheadMs) } };
  }

  it('removes what no record wants once past the grace period, records it, and leaves the rest untouched', async () => {
    // A live environment, deployed by Kiln: its processes and registration are accounted for.
    const created = await call(kiln, 'PUT', '/environments/shop', { body: quickEnvironmentBody('1.0.0') });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await awaitDeployment(kiln, 'shop', created.body.deploymentId)).status, 'succeeded');
    const shop = (await call(kiln, 'GET', '/environments/shop')).body;
    const livePids = await processesOfStack(shop.liveStack.stackId);
    assert.equal(livePids.length, 1);

    // Behind the store's back: an instance of a stack nobody recorded, registered in the proxy under an
    // environment that does not exist; a stack registered (unweighted) in the live environment's proxy.
    const old = await launchBehindTheStoresBack('ghost-v0001');
    await kiln.ports.traffic.registerStack(
      'ghost',
      'ghost-v0001',
      [old],
      quickEnvironmentBody('x').spec.healthCheck,
    );
    await kiln.ports.traffic.registerStack(
      'shop',
      'shop-v0042',
      [old],
      quickEnvironmentBody('x').spec.healthCheck,
    );
    await sleep(4000);
    const young = await launchBehindTheStoresBack('ghost-v0002');

    // Within the default grace period, both orphan stacks are young, and so is the endpoint they are
    // behind. A registration without instances of its own goes at once: targets are registered only
    // after their stack is recorded, so they are never a launch in progress.
    const first = await reapOrphans(portsAhead());
    assert.deepEqual(
      first.reaped.map(({ environment, stackId, instanceIds, trafficIn }) => ({
        environment,
        stackId,
        instanceIds,
        trafficIn,
      })),
      [{ environment: 'shop', stackId: 'shop-v0042', instanceIds: [], trafficIn: ['shop'] }],
    );
    assert.deepEqual(first.spared.map((spared) => spared.stackId).sort(), ['ghost-v0001', 'ghost-v0002']);
    assert.equal((await processesOfStack('ghost-v0001')).length, 1);

    // With a 2 s grace period, the one launched 4 s ago goes, with its registration and the endpoint of
    // its environment, which does not exist; the young one stays.
    const second = await reapOrphans(portsAhead(), { graceMs: 2000 });
    assert.deepEqual(second.failed, []);
    assert.deepEqual(
      bySubject(second.reaped).map(({ environment, stackId, instanceIds, trafficIn }) => ({
        environment,
        stackId,
        instanceIds,
        trafficIn,
      })),
      [
        { environment: 'ghost', stackId: undefined, instanceIds: [], trafficIn: ['ghost'] },
        { environment: 'ghost', stackId: 'ghost-v0001', instanceIds: [old.id], trafficIn: ['ghost'] },
      ],
    );
    assert.deepEqual(
      second.spared.map((spared) => spared.stackId),
      ['ghost-v0002'],
    );
    assert.deepEqual(await processesOfStack('ghost-v0001'), []);
    assert.equal((await processesOfStack('ghost-v0002')).length, 1);
    assert.match(await fetchText(young.address), /^sample-app 6\.6\.6/);

    // Past the default grace period (an injected clock), the young one goes too.
    const third = await reapOrphans(portsAhead(ORPHAN_GRACE_MS + 60_000));
    assert.deepEqual(
      third.reaped.map((reaped) => reaped.stackId),
      ['ghost-v0002'],
    );
    assert.deepEqual(await processesOfStack('ghost-v0002'), []);

    // What the store accounts for is untouched: the same live processes serve through the same endpoint.
    assert.deepEqual(await processesOfStack(shop.liveStack.stackId), livePids);
    assert.deepEqual(await kiln.ports.traffic.listRegistrations(), [
      { environment: 'shop', endpoint: true, stackIds: [shop.liveStack.stackId] },
    ]);
    const served = await fetch(shop.endpoint);
    assert.equal(served.status, 200);
    assert.equal(await served.text(), 'sample-app 1.0.0\n');
    assert.deepEqual(await realStateViolations(dataDir, ['shop']), []);

    // Every removal is recorded on its environment, by Kiln, with what went and why.
    const reaped = async (environment: string) =>
      (await kiln.ports.store.listAudit(environment)).filter((event) => event.action === 'orphan.reaped');
    const ghost = await reaped('ghost');
    assert.ok(ghost.every(({ actor, trigger }) => actor === 'kiln' && trigger === 'schedule'));
    assert.deepEqual(ghost.map(({ detail }) => detail?.stackId ?? 'endpoint').sort(), [
      'endpoint',
      'ghost-v0001',
      'ghost-v0002',
    ]);
    const ghostStack = ghost.find((event) => event.detail?.stackId === 'ghost-v0001');
    assert.match(String(ghostStack?.reason), /no record of stack ghost-v0001/);
    assert.deepEqual(ghostStack?.detail?.instanceIds, [old.id]);
    const [onShop, ...more] = await reaped('shop');
    assert.equal(more.length, 0);
    assert.equal(onShop?.detail?.stackId, 'shop-v0042');
  });

  it("leaves a sleeping environment's parked endpoint, which wakes it", async () => {
    const slept = await call(kiln, 'POST', '/environments/shop/sleep');
    assert.equal(slept.status, 202, JSON.stringify(slept.body));
    assert.equal((await awaitDeployment(kiln, 'shop', slept.body.deploymentId)).status, 'succeeded');
    assert.equal((await call(kiln, 'GET', '/environments/shop')).body.status, 'sleeping');

    const report = await reapOrphans(portsAhead(ORPHAN_GRACE_MS + 60_000));

    assert.deepEqual(report, { reaped: [], spared: [], failed: [] });
    assert.deepEqual(await kiln.ports.traffic.listRegistrations(), [
      { environment: 'shop', endpoint: true, stackIds: [] },
    ]);
  });

  it('the reaper handler runs on the schedule input and finds nothing more to remove', async () => {
    const { handler } = await import('../../functions/handlers/schedules/reapOrphans.ts');
    const summary = await handler(
      { schedule: 'kiln-orphan-reaper', scheduledTime: new Date().toISOString(), executionId: 'test' },
      localLambdaContext('kiln-reapOrphans', 300_000),
    );
    assert.deepEqual(summary, { reaped: 0, spared: 0, failed: 0 });
  });
});
