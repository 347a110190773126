import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ProxyTraffic } from '../../functions/adapters/local/proxy-traffic.ts';
import type { Actor } from '../../functions/core/actors.ts';
import { UPKEEP_ACTIONS, UPKEEP_SHARDS, upkeepDueOf } from '../../functions/core/idle.ts';
import type { Ports } from '../../functions/core/ports/index.ts';
import { nextFireTime } from '../../functions/core/schedule-expressions.ts';
import { sweepIdle } from '../../functions/core/upkeep/sweep.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { countReads, RecordingWorkflows, seedFleet } from '../support/upkeep-fleet.ts';

const SWEEP: Actor = {
  trigger: 'schedule',
  principal: 'kiln-idle-sweep',
  schedule: { name: 'kiln-idle-sweep', scheduledAt: new Date().toISOString() },
};

/**
 * The idle sweep over the real store on the embedded DynamoDB: what it finds through the sparse upkeep
 * index, what it reads to find it (counted at the client), and what it decides for each environment.
 * Workflows only record what is started: the sleeps themselves run in test/e2e/idle-environments.test.ts.
 */
describe('idle sweep', () => {
  let db: TestDatabase;
  let traffic: ProxyTraffic;
  // Half an hour ahead of the wall clock: a request sent now is recent activity at the sweep's time.
  const now = new Date(Date.now() + 30 * 60_000);

  before(async () => {
    db = await startTestDatabase();
    traffic = new ProxyTraffic();
  });
  after(async () => {
    await traffic.close();
    await db.close();
  });

  function ports(workflows = new RecordingWorkflows()) {
    const counter = countReads(db.documentClient);
    const sweepPorts: Pick<Ports, 'store' | 'workflows' | 'events' | 'traffic' | 'clock'> = {
      store: db.store,
      workflows,
      events: { publish: async () => undefined },
      traffic,
      clock: { now: () => now },
    };
    return { sweepPorts, workflows, counter };
  }

  it('finds the idle environments by querying the upkeep index, reading one item per environment due, never scanning', async () => {
    const due = await seedFleet(db.store, { count: 200, due: 10, now });
    const { sweepPorts, workflows, counter } = ports();
    const report = await sweepIdle(sweepPorts, SWEEP);
    counter.stop();

    assert.equal(report.due, 10);
    assert.deepEqual(report.started.map((s) => s.environment).sort(), due);
    assert.ok(report.started.every((s) => s.action === 'sleep'));
    assert.equal(counter.commands.get('ScanCommand'), undefined, 'no Scan');
    assert.deepEqual(
      Object.fromEntries(counter.queries),
      // One per shard and action of the upkeep index; on the table, one per sleep's audit append (the
      // chain's newest events, none here).
      { byUpkeepDue: UPKEEP_ACTIONS.length * UPKEEP_SHARDS, table: due.length },
      'one query per shard and action',
    );
    assert.equal(counter.itemsRead, due.length, 'items read = environments due');
    assert.deepEqual(
      workflows.started.map((s) => s.workflow),
      due.map(() => 'teardown'),
    );
    for (const name of due) {
      const environment = await db.store.getEnvironment(name);
      assert.equal(environment?.upkeepDue, undefined, `${name} left the index while it sleeps`);
      const [sleep] = await db.store.listDeployments(name, 1);
      assert.equal(sleep?.action, 'sleep');
      assert.equal(sleep?.trigger, 'schedule');
      assert.equal(sleep?.actor, 'kiln-idle-sweep');
      assert.match(sleep?.reason ?? '', /sleep due at .* by its idle policy/);
    }
    const second = ports();
    const again = await sweepIdle(second.sweepPorts, SWEEP);
    second.counter.stop();
    assert.equal(again.due, 0, 'a second sweep finds nothing left');
  });

  it('wakes a sleeping environment at its wakeAt time with the exact spec that was live, leaving the desired spec alone', async () => {
    const base = await db.store.getEnvironment('fleet-000002');
    assert.ok(base);
    const { version: _v, upkeepDue: _u, liveStackId: _s, liveGeneration: _g, liveSpec, ...template } = base;
    assert.ok(liveSpec);
    const slept = { ...liveSpec, env: { GREETING: 'as it was' } };
    const sleeping = {
      ...template,
      name: 'office-hours',
      status: 'sleeping' as const,
      spec: { ...liveSpec, version: 'v2-desired' },
      sleptSpec: slept,
      sleepingSince: new Date(now.getTime() - 2 * 24 * 3600_000).toISOString(),
      idle: {
        afterMinutes: null,
        sleepAt: 'cron(0 19 ? * MON-FRI *)',
        wakeAt: 'cron(0 8 * * ? *)',
        timezone: 'Europe/Paris',
      },
      version: 1,
    };
    const due = upkeepDueOf(sleeping, nextFireTime);
    assert.equal(due?.action, 'wake');
    await db.store.createEnvironment({ ...sleeping, ...(due ? { upkeepDue: due } : {}) });

    const { sweepPorts, workflows, counter } = ports();
    const report = await sweepIdle(sweepPorts, SWEEP);
    counter.stop();
    assert.deepEqual(
      report.started.map((s) => [s.environment, s.action]),
      [['office-hours', 'wake']],
    );
    assert.deepEqual(
      workflows.started.map((s) => s.workflow),
      ['deploy'],
    );
    const [wake] = await db.store.listDeployments('office-hours', 1);
    assert.equal(wake?.trigger, 'wake');
    assert.equal(wake?.actor, 'kiln-idle-sweep');
    assert.deepEqual(wake?.spec, slept, 'the spec that was live, env included');
    assert.match(wake?.reason ?? '', /wake due at .* by its wakeAt schedule/);
    assert.equal((await db.store.getEnvironment('office-hours'))?.spec.version, 'v2-desired');
  });

  it('leaves a snoozed environment, one that never sleeps (prod), and one with requests since its last recorded activity', async () => {
    const longAgo = new Date(now.getTime() - 3 * 3600_000).toISOString();
    const base = await db.store.getEnvironment('fleet-000001');
    assert.ok(base);
    const { version: _v, upkeepDue: _u, ...template } = base;
    const prod = {
      ...template,
      name: 'prod-idle',
      tier: 'prod' as const,
      lastActivityAt: longAgo,
      version: 1,
    };
    assert.equal(upkeepDueOf(prod, nextFireTime), null, 'prod never sleeps by default');
    await db.store.createEnvironment(prod);
    for (const name of ['snoozed-idle', 'busy-idle']) {
      const environment = { ...template, name, lastActivityAt: longAgo, awakeSince: longAgo, version: 1 };
      await db.store.createEnvironment({
        ...environment,
        upkeepDue: upkeepDueOf(environment, nextFireTime) ?? undefined,
      });
    }
    // Snoozed after it was indexed: the index still says due, the record says otherwise.
    await db.store.updateDesiredState('snoozed-idle', 1, {
      snoozedUntil: new Date(now.getTime() + 3600_000).toISOString(),
      updatedAt: now.toISOString(),
    });
    // A request through busy-idle's endpoint, which the store has not heard of.
    const endpoint = await traffic.ensureEndpoint('busy-idle');
    await (await fetch(endpoint)).text();

    const { sweepPorts, workflows, counter } = ports();
    const report = await sweepIdle(sweepPorts, SWEEP);
    counter.stop();
    assert.deepEqual(report.started, []);
    assert.deepEqual(workflows.started, []);
    assert.deepEqual(report.notDue, ['snoozed-idle']);
    assert.deepEqual(report.active, ['busy-idle']);

    const snoozed = await db.store.getEnvironment('snoozed-idle');
    assert.equal(snoozed?.upkeepDue?.at, snoozed?.snoozedUntil, 're-indexed at the end of its snooze');
    const busy = await db.store.getEnvironment('busy-idle');
    assert.ok(busy?.lastActivityAt && busy.lastActivityAt > longAgo, 'the request is recorded as activity');
    assert.ok(busy?.upkeepDue && Date.parse(busy.upkeepDue.at) > now.getTime(), 'and it sleeps later');
  });
});
