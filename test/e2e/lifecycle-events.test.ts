import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type BusListener, type ReceivedEvent, startBusListener } from '../support/bus-listener.ts';
import {
  awaitDeployment,
  call,
  environmentBody,
  eventually,
  type KilnProcess,
  removeDataDir,
  startKilnProcess,
} from '../support/kiln-process.ts';

const ENV = 'events-dev';
const DEPLOYMENT_FIELDS = [
  'eventId',
  'environment',
  'team',
  'tier',
  'deploymentId',
  'action',
  'generation',
  'status',
  'trigger',
  'actor',
  'version',
  'toStackId',
  'at',
];

/**
 * Issue 7: lifecycle events, end to end. `npm start` runs with KILN_EVENT_WEBHOOKS naming a listener of
 * this test (an API destination of the embedded bus); deployments are driven over HTTP; the listener
 * receives exactly one event per status transition, in order, in the documented shape (README,
 * "Lifecycle events").
 */
describe('lifecycle events on the embedded bus', { timeout: 180_000 }, () => {
  let kiln: KilnProcess;
  let listener: BusListener;
  let received: ReceivedEvent[];

  before(async () => {
    listener = await startBusListener();
    received = listener.received;
    kiln = await startKilnProcess(undefined, { KILN_EVENT_WEBHOOKS: listener.url });
  });

  after(async () => {
    await kiln?.stop();
    if (kiln) await removeDataDir(kiln.dataDir);
    await listener?.close();
  });

  /** The events received about one deployment, as `<detail-type>:<status>` in arrival order. */
  function transitionsOf(deploymentId: string): string[] {
    return received
      .filter((event) => event.detail.deploymentId === deploymentId)
      .map((event) => `${event['detail-type']}: ${event.detail.status}`);
  }

  async function settled(deploymentId: string, count: number): Promise<void> {
    await eventually(`${count} events about ${deploymentId}`, async () =>
      transitionsOf(deploymentId).length >= count ? true : undefined,
    );
    // Nothing more arrives: exactly one event per transition.
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  it('creating an environment: it becomes pending, its first deployment is queued, runs and succeeds, the environment goes live', async () => {
    const created = await call(kiln, 'PUT', `/environments/${ENV}`, {
      body: environmentBody('1.0.0', { capacity: 1 }),
    });
    assert.equal(created.status, 201);
    const id = created.body.deploymentId as string;
    assert.equal((await awaitDeployment(kiln, ENV, id)).status, 'succeeded');
    await settled(id, 6);
    assert.deepEqual(transitionsOf(id), [
      'Environment Status Changed: pending',
      'Deployment Status Changed: queued',
      'Environment Status Changed: deploying',
      'Deployment Status Changed: running',
      'Environment Status Changed: live',
      'Deployment Status Changed: succeeded',
    ]);
  });

  it('a blue/green deployment: exactly one event per status transition, in order, in the documented shape', async () => {
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, {
      body: environmentBody('2.0.0', { capacity: 1 }),
    });
    const id = put.body.deploymentId as string;
    assert.equal((await awaitDeployment(kiln, ENV, id)).status, 'succeeded');
    await settled(id, 5);
    assert.deepEqual(transitionsOf(id), [
      'Deployment Status Changed: queued',
      'Environment Status Changed: deploying',
      'Deployment Status Changed: running',
      'Environment Status Changed: live',
      'Deployment Status Changed: succeeded',
    ]);

    const events = received.filter((event) => event.detail.deploymentId === id);
    for (const event of events) {
      assert.equal(event.version, '0');
      assert.equal(event.source, 'kiln');
      assert.match(event.id, /^[0-9a-f-]{36}$/);
      assert.equal(Date.parse(event.time) > 0, true);
      assert.equal(typeof event.account, 'string');
      assert.equal(typeof event.region, 'string');
    }
    const succeeded = events.at(-1)?.detail;
    assert.deepEqual(Object.keys(succeeded).sort(), [...DEPLOYMENT_FIELDS, 'fromStackId'].sort());
    assert.equal(succeeded.eventId, `${id}:succeeded`);
    assert.equal(succeeded.environment, ENV);
    assert.equal(succeeded.team, 'platform');
    assert.equal(succeeded.tier, 'dev');
    assert.equal(succeeded.action, 'deploy');
    assert.equal(succeeded.trigger, 'api');
    // The person behind the test's token=team token: a fingerprint, never the token.
    assert.match(succeeded.actor, /^token-[0-9a-f]{12}$/);
    assert.equal(succeeded.version, '2.0.0');
    assert.equal(succeeded.fromStackId, `${ENV}-v0001`);
    assert.equal(succeeded.toStackId, `${ENV}-v0002`);
    const live = events.find((event) => event.detail.status === 'live')?.detail;
    assert.deepEqual(Object.keys(live).sort(), [
      'at',
      'deploymentId',
      'environment',
      'eventId',
      'liveStackId',
      'status',
      'team',
      'tier',
    ]);
    assert.equal(live.liveStackId, `${ENV}-v0002`);
    const ids = events.map((event) => event.detail.eventId);
    assert.equal(new Set(ids).size, ids.length, 'every event has its own stable id');
  });

  it('a rolled-back deployment: queued, running, rolled back, with the error; the environment stays live', async () => {
    const put = await call(kiln, 'PUT', `/environments/${ENV}`, {
      body: environmentBody('3.0.0', { capacity: 1, env: { SAMPLE_HEALTH: 'fail' }, deadlineSeconds: 5 }),
    });
    const id = put.body.deploymentId as string;
    assert.equal((await awaitDeployment(kiln, ENV, id)).status, 'rolled_back');
    await settled(id, 5);
    assert.deepEqual(transitionsOf(id), [
      'Deployment Status Changed: queued',
      'Environment Status Changed: deploying',
      'Deployment Status Changed: running',
      'Environment Status Changed: live',
      'Deployment Status Changed: rolled_back',
    ]);
    const rolledBack = received.findLast((event) => event.detail.deploymentId === id)?.detail;
    assert.equal(rolledBack.error.name, 'StackNotHealthyError');
    assert.equal(rolledBack.eventId, `${id}:rolled_back`);
  });
});
