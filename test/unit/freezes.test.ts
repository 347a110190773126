import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { safeParse } from 'zod/mini';
import {
  covers,
  durationSeconds,
  type Freeze,
  nextWindow,
  verdictOf,
  windowAt,
} from '../../functions/core/freezes.ts';
import { assessRisk, RISK_POLICY } from '../../functions/core/risk.ts';
import { nextFireTime } from '../../functions/core/schedule-expressions.ts';
import { putFreezeBody } from '../../functions/shared/freeze-schemas.ts';
import { sampleSpec } from '../support/specs.ts';

const base = {
  id: 'release',
  team: 'shop',
  mode: 'refuse' as const,
  reason: 'release week',
  createdBy: 'guard',
  createdAt: '2026-12-01T00:00:00.000Z',
  updatedAt: '2026-12-01T00:00:00.000Z',
  version: 1,
};
const once: Freeze = { ...base, start: '2026-12-24T00:00:00+01:00', end: '2026-12-27T00:00:00+01:00' };
/** Every weekend in Paris: Friday 17:00 to Monday 08:00 (63 hours). */
const weekends: Freeze = {
  ...base,
  id: 'weekends',
  cron: 'cron(0 17 ? * FRI *)',
  duration: 'P2DT15H',
  timezone: 'Europe/Paris',
};
const at = (instant: string) => new Date(instant);

describe('freeze windows', () => {
  it('a one-off window covers [start, end), in the instants given with their offsets', () => {
    assert.equal(windowAt(once, at('2026-12-23T22:59:59Z'), nextFireTime), undefined);
    assert.deepEqual(windowAt(once, at('2026-12-23T23:00:00Z'), nextFireTime), {
      start: '2026-12-23T23:00:00.000Z',
      end: '2026-12-26T23:00:00.000Z',
    });
    assert.equal(windowAt(once, at('2026-12-26T23:00:00Z'), nextFireTime), undefined);
    assert.deepEqual(
      nextWindow(once, at('2026-12-01T00:00:00Z'), nextFireTime)?.start,
      '2026-12-23T23:00:00.000Z',
    );
    assert.equal(nextWindow(once, at('2026-12-25T00:00:00Z'), nextFireTime), undefined);
  });

  it('a recurring window starts at each cron fire in its time zone and lasts its duration', () => {
    // Friday 4 December 2026, 17:00 in Paris (CET, UTC+1) is 16:00Z; Monday 08:00 is 07:00Z.
    const weekend = { start: '2026-12-04T16:00:00.000Z', end: '2026-12-07T07:00:00.000Z' };
    assert.equal(windowAt(weekends, at('2026-12-04T15:59:00Z'), nextFireTime), undefined);
    assert.deepEqual(windowAt(weekends, at('2026-12-04T16:00:00Z'), nextFireTime), weekend);
    assert.deepEqual(windowAt(weekends, at('2026-12-06T12:00:00Z'), nextFireTime), weekend);
    assert.equal(windowAt(weekends, at('2026-12-07T07:00:00Z'), nextFireTime), undefined);
    assert.deepEqual(nextWindow(weekends, at('2026-12-07T07:00:00Z'), nextFireTime), {
      start: '2026-12-11T16:00:00.000Z',
      end: '2026-12-14T07:00:00.000Z',
    });
  });

  it('windows that overlap are one window, to the end of the last', () => {
    // Every day at 00:00 UTC for 36 hours: each window reaches into the next.
    const daily: Freeze = { ...base, cron: 'cron(0 0 * * ? *)', duration: 'PT36H' };
    const window = windowAt(daily, at('2026-12-05T12:00:00Z'), nextFireTime);
    assert.ok(window, 'covered');
    assert.ok(Date.parse(window.end) - Date.parse('2026-12-05T12:00:00Z') > 36 * 3_600_000);
  });

  it('reads durations of days, hours and minutes', () => {
    assert.equal(durationSeconds('P2DT15H'), (2 * 24 + 15) * 3600);
    assert.equal(durationSeconds('PT90M'), 5400);
    assert.equal(durationSeconds('P1D'), 86_400);
    assert.throws(() => durationSeconds('P1W'));
  });

  it('covers only its own team’s environments its selector names', () => {
    const env = { name: 'shop-prod', team: 'shop', tier: 'prod' as const };
    assert.equal(covers(once, env), true, 'no selector: all of the team');
    assert.equal(covers(once, { ...env, team: 'other' }), false, 'never another team');
    assert.equal(covers({ ...once, selector: { tiers: ['prod'] } }, env), true);
    assert.equal(covers({ ...once, selector: { tiers: ['dev', 'staging'] } }, env), false);
    assert.equal(covers({ ...once, selector: { environments: ['shop-dev'] } }, env), false);
    assert.equal(covers({ ...once, selector: { tiers: ['prod'], environments: ['shop-prod'] } }, env), true);
  });

  it('refuses when any covering freeze refuses, holds to the latest end otherwise; break-glass passes both', () => {
    const window = (end: string) => ({ start: '2026-12-01T00:00:00.000Z', end });
    const hold = {
      freeze: { ...once, id: 'h', mode: 'hold' as const },
      window: window('2026-12-02T00:00:00.000Z'),
    };
    const later = {
      freeze: { ...once, id: 'l', mode: 'hold' as const },
      window: window('2026-12-03T00:00:00.000Z'),
    };
    const refuse = { freeze: once, window: window('2026-12-02T00:00:00.000Z') };
    assert.deepEqual(verdictOf([], false), { kind: 'open' });
    assert.deepEqual(verdictOf([hold, later], false), {
      kind: 'held',
      by: [hold, later],
      until: '2026-12-03T00:00:00.000Z',
    });
    assert.deepEqual(verdictOf([hold, refuse], false), { kind: 'refused', by: refuse });
    assert.deepEqual(verdictOf([hold, refuse], true), { kind: 'broken', by: [hold, refuse] });
  });

  it('scores a break-glass change as high risk: above the threshold even in dev', () => {
    const spec = sampleSpec({ version: '2.0.0', capacity: 2 });
    const facts = {
      environment: { tier: 'dev' as const, liveSpec: sampleSpec({ version: '1.0.0', capacity: 2 }) },
      spec,
      trigger: 'api' as const,
      launches: 2,
    };
    assert.equal(assessRisk(RISK_POLICY, facts).needsApproval, false);
    const broken = assessRisk(RISK_POLICY, { ...facts, breakGlass: true });
    assert.equal(broken.needsApproval, true, JSON.stringify(broken));
    assert.ok(
      broken.terms.some((term) => term.term === 'break-glass' && term.points === RISK_POLICY.breakGlass),
    );
  });
});

describe('PUT /freezes/{id} body', () => {
  const parse = (body: object) => safeParse(putFreezeBody, { team: 'shop', reason: 'release', ...body });
  const messages = (body: object) => {
    const result = parse(body);
    return result.success
      ? []
      : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
  };

  it('takes a one-off window or a recurring one, refusing by default', () => {
    const one = parse({ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z' });
    assert.ok(one.success);
    assert.equal(one.data.mode, 'refuse');
    const recurring = parse({
      cron: 'cron(0 17 ? * FRI *)',
      duration: 'P2DT15H',
      timezone: 'Europe/Paris',
      mode: 'hold',
    });
    assert.ok(recurring.success, JSON.stringify(recurring));
    assert.deepEqual(
      { ...recurring.data },
      {
        team: 'shop',
        reason: 'release',
        mode: 'hold',
        cron: 'cron(0 17 ? * FRI *)',
        duration: 'P2DT15H',
        timezone: 'Europe/Paris',
      },
    );
  });

  it('says what is wrong with a window', () => {
    assert.deepEqual(messages({}), ['start: give either start and end, or cron and duration']);
    assert.deepEqual(
      messages({ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z', cron: 'cron(0 17 ? * FRI *)' }),
      ['start: give either start and end, or cron and duration'],
    );
    assert.deepEqual(messages({ start: '2026-12-24T00:00:00Z' }), ['end: is required with start']);
    assert.deepEqual(messages({ start: '2026-12-24T00:00:00Z', end: '2026-12-23T00:00:00Z' }), [
      'end: must be after start',
    ]);
    assert.deepEqual(messages({ start: '2026-01-01T00:00:00Z', end: '2026-12-31T00:00:00Z' }), [
      'end: must be at most 90 days after start',
    ]);
    assert.deepEqual(messages({ cron: 'cron(0 17 ? * FRI *)', duration: 'PT30S' }), [
      'duration: must be an ISO 8601 duration of days, hours and minutes, such as PT12H or P2D',
    ]);
    assert.deepEqual(messages({ cron: 'cron(0 17 ? * FRI *)', duration: 'PT0M' }), [
      'duration: must be at least a minute',
    ]);
    assert.ok(
      messages({ cron: 'cron(0 17 ? * FRI *)', duration: 'P1D', timezone: 'Mars/Olympus' })[0]?.startsWith(
        'timezone:',
      ),
    );
    assert.ok(messages({ cron: 'cron(0 17 ? * FRX *)', duration: 'P1D' }).length > 0, 'a bad cron');
    assert.ok(
      messages({ start: '2026-12-24T00:00:00Z', end: '2026-12-27T00:00:00Z', mode: 'pause' })[0]?.startsWith(
        'mode:',
      ),
    );
    assert.ok(
      messages({ start: '2026-12-24', end: '2026-12-27' }).length > 0,
      'instants need a time and offset',
    );
  });
});
