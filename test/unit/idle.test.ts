import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  IDLE_DEFAULTS,
  idlePolicyOf,
  type UpkeepFacts,
  upkeepDue,
  upkeepDueOf,
} from '../../functions/core/idle.ts';
import { nextFireTime } from '../../functions/core/schedule-expressions.ts';

const live = (facts: Partial<UpkeepFacts>): UpkeepFacts => ({
  tier: 'dev',
  status: 'live',
  liveStackId: 'x-v0001',
  lastActivityAt: '2026-03-27T10:00:00.000Z',
  awakeSince: '2026-03-27T09:00:00.000Z',
  ...facts,
});

/** The upkeep due, read with the real calendar. */
const dueOf = (facts: UpkeepFacts) => upkeepDueOf(facts, nextFireTime);

describe('the upkeep calendar', () => {
  it('applies the tier defaults: dev 60 minutes, staging 240, prod never', () => {
    assert.deepEqual(IDLE_DEFAULTS, {
      dev: { afterMinutes: 60 },
      staging: { afterMinutes: 240 },
      prod: { afterMinutes: null },
    });
    assert.deepEqual(dueOf(live({})), { action: 'sleep', at: '2026-03-27T11:00:00.000Z' });
    assert.deepEqual(dueOf(live({ tier: 'staging' })), {
      action: 'sleep',
      at: '2026-03-27T14:00:00.000Z',
    });
    assert.equal(dueOf(live({ tier: 'prod' })), null);
    assert.deepEqual(idlePolicyOf({ tier: 'prod', idle: { afterMinutes: 30 } }), { afterMinutes: 30 });
  });

  it('sleeps at the first sleepAt time after it woke, in its time zone, across a DST change', () => {
    const officeHours = { afterMinutes: null, sleepAt: 'cron(0 19 ? * MON-FRI *)', timezone: 'Europe/Paris' };
    // Friday 27 March 2026: Paris is UTC+1; the clocks go forward on Sunday the 29th.
    assert.deepEqual(dueOf(live({ idle: officeHours })), {
      action: 'sleep',
      at: '2026-03-27T18:00:00.000Z',
    });
    // Woken on Saturday: the next weekday 19:00 is Monday the 30th, in summer time (UTC+2).
    const monday = dueOf(live({ idle: officeHours, awakeSince: '2026-03-28T09:00:00.000Z' }));
    assert.deepEqual(monday, { action: 'sleep', at: '2026-03-30T17:00:00.000Z' });
    // The earlier of idleness and the calendar.
    const both = dueOf(live({ idle: { ...officeHours, afterMinutes: 30 } }));
    assert.deepEqual(both, { action: 'sleep', at: '2026-03-27T10:30:00.000Z' });
  });

  it('does not sleep before a snooze ends, and owes nothing while changed or without a live stack', () => {
    const snoozed = dueOf(live({ snoozedUntil: '2026-03-28T00:00:00.000Z' }));
    assert.deepEqual(snoozed, { action: 'sleep', at: '2026-03-28T00:00:00.000Z' });
    assert.equal(dueOf(live({ lease: { holder: 'd-1', acquiredAt: '2026-03-27T10:00:00Z' } })), null);
    assert.equal(dueOf(live({ status: 'deploying' })), null);
    assert.equal(dueOf(live({ liveStackId: undefined })), null);
  });

  it('retires a standby stack when its rollback window ends, unless sleep comes first', () => {
    const standby = { stackId: 'x-v0001', until: '2026-03-27T10:15:00.000Z' };
    assert.deepEqual(dueOf(live({ standby })), { action: 'retire', at: standby.until });
    // Prod never sleeps by default: the standby is still retired.
    assert.deepEqual(dueOf(live({ standby, tier: 'prod' })), { action: 'retire', at: standby.until });
    // Sleeping first removes every stack, the standby with them.
    const late = { ...standby, until: '2026-03-27T12:00:00.000Z' };
    assert.deepEqual(dueOf(live({ standby: late })), {
      action: 'sleep',
      at: '2026-03-27T11:00:00.000Z',
    });
    assert.equal(dueOf(live({ standby, lease: { holder: 'd-1', acquiredAt: standby.until } })), null);
  });

  it('reads the same whether the calendar is loaded up front or on demand (only for a policy with crons)', async () => {
    const officeHours = { afterMinutes: 60, sleepAt: 'cron(0 19 ? * MON-FRI *)', timezone: 'Europe/Paris' };
    for (const facts of [live({}), live({ idle: officeHours }), live({ tier: 'prod' })]) {
      assert.deepEqual(await upkeepDue(facts), dueOf(facts));
    }
    const withoutCalendar = () => assert.fail('a policy without crons never reads the calendar');
    assert.deepEqual(upkeepDueOf(live({}), withoutCalendar), dueOf(live({})));
  });

  it('wakes a sleeping environment at its next wakeAt time, and never without one', () => {
    const asleep = {
      status: 'sleeping' as const,
      liveStackId: undefined,
      sleepingSince: '2026-03-27T18:00:00.000Z',
    };
    const wakeAt = { afterMinutes: 60, wakeAt: 'cron(0 8 ? * MON-FRI *)', timezone: 'Europe/Paris' };
    assert.deepEqual(dueOf(live({ ...asleep, idle: wakeAt })), {
      action: 'wake',
      at: '2026-03-30T06:00:00.000Z',
    });
    assert.equal(dueOf(live(asleep)), null);
  });
});
