import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalScheduler, ManualClock } from '../../functions/adapters/local/local-scheduler.ts';
import {
  checkScheduleExpression,
  InvalidScheduleExpressionError,
  nextFireTime,
} from '../../functions/core/schedule-expressions.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** The next `count` fire times after `from`, as ISO strings. */
function fires(expression: string, from: string, count: number, timezone?: string): string[] {
  const times: string[] = [];
  let after = new Date(from);
  for (let index = 0; index < count; index++) {
    const next = nextFireTime(expression, after, timezone);
    if (!next) break;
    times.push(next.toISOString());
    after = next;
  }
  return times;
}

/** A scheduler on a ManualClock whose one schedule records the inputs it is invoked with. */
function scheduled(
  start: string,
  schedule: { expression: string; timezone?: string; input?: Record<string, unknown> },
  target: (input: Record<string, unknown>) => Promise<void> = async () => {},
) {
  const clock = new ManualClock(new Date(start));
  const logs: string[] = [];
  const scheduler = new LocalScheduler({ clock, log: (message) => logs.push(message) });
  const invocations: { at: string; input: Record<string, unknown> }[] = [];
  scheduler.add({
    name: 'idle-sweep',
    input: { scheduledTime: '<aws.scheduler.scheduled-time>' },
    ...schedule,
    target: async (input: Record<string, unknown>) => {
      invocations.push({ at: clock.now().toISOString(), input });
      await target(input);
    },
  });
  return { clock, scheduler, invocations, logs };
}

describe('rate expressions', () => {
  it('fire every interval of minutes, hours or days', () => {
    assert.deepEqual(fires('rate(1 minute)', '2026-01-01T00:00:00Z', 2), [
      '2026-01-01T00:01:00.000Z',
      '2026-01-01T00:02:00.000Z',
    ]);
    assert.deepEqual(fires('rate(15 minutes)', '2026-01-01T00:00:00Z', 2), [
      '2026-01-01T00:15:00.000Z',
      '2026-01-01T00:30:00.000Z',
    ]);
    assert.deepEqual(fires('rate(2 hours)', '2026-01-01T00:00:00Z', 1), ['2026-01-01T02:00:00.000Z']);
    assert.deepEqual(fires('rate(1 day)', '2026-01-01T00:00:00Z', 1), ['2026-01-02T00:00:00.000Z']);
  });

  it('count days as 24 hours across a DST change, whatever the time zone', () => {
    // Berlin springs forward on 2026-03-29: a day is still 24 hours, so the wall-clock time moves.
    assert.deepEqual(fires('rate(1 day)', '2026-03-28T12:00:00Z', 2, 'Europe/Berlin'), [
      '2026-03-29T12:00:00.000Z',
      '2026-03-30T12:00:00.000Z',
    ]);
  });

  it('fire at start (Scheduler starts a rate schedule without StartDate at once), then every interval', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-01-01T10:00:00Z', {
      expression: 'rate(5 minutes)',
    });
    scheduler.start();
    await clock.advance(20 * MINUTE);
    assert.deepEqual(
      invocations.map(({ at }) => at),
      ['00', '05', '10', '15', '20'].map((minute) => `2026-01-01T10:${minute}:00.000Z`),
    );
    assert.deepEqual(
      invocations.map(({ input }) => input.scheduledTime),
      ['00', '05', '10', '15', '20'].map((minute) => `2026-01-01T10:${minute}:00Z`),
    );
    await scheduler.stop();
  });
});

describe('cron expressions in a time zone with daylight saving time', () => {
  // Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST (02:30 does not exist);
  //                2026-10-25 03:00 CEST → 02:00 CET (02:30 occurs twice).
  // America/New_York: 2026-03-08 02:00 EST → 03:00 EDT (02:30 does not exist);
  //                   2026-11-01 02:00 EDT → 01:00 EST (01:30 occurs twice, 02:30 once).
  // Scheduler skips a time that does not exist, and runs a time that occurs twice only once.

  it('Europe/Berlin: 02:30 is skipped the day clocks spring forward over it', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-03-27T12:00:00Z', {
      expression: 'cron(30 2 * * ? *)',
      timezone: 'Europe/Berlin',
    });
    scheduler.start();
    await clock.advance(4 * DAY);
    assert.deepEqual(
      invocations.map(({ at }) => at),
      [
        '2026-03-28T01:30:00.000Z', // 02:30 CET
        // 2026-03-29: no 02:30
        '2026-03-30T00:30:00.000Z', // 02:30 CEST
        '2026-03-31T00:30:00.000Z',
      ],
    );
    await scheduler.stop();
  });

  it('Europe/Berlin: 02:30 runs once the day clocks fall back over it', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-10-23T12:00:00Z', {
      expression: 'cron(30 2 * * ? *)',
      timezone: 'Europe/Berlin',
    });
    scheduler.start();
    await clock.advance(4 * DAY);
    assert.deepEqual(
      invocations.map(({ at }) => at),
      [
        '2026-10-24T00:30:00.000Z', // 02:30 CEST
        '2026-10-25T00:30:00.000Z', // the first 02:30 (CEST); not again at 01:30Z (CET)
        '2026-10-26T01:30:00.000Z', // 02:30 CET
        '2026-10-27T01:30:00.000Z',
      ],
    );
    await scheduler.stop();
  });

  it('America/New_York: 02:30 is skipped in spring and runs once (it exists once) in the fall', () => {
    assert.deepEqual(fires('cron(30 2 * * ? *)', '2026-03-06T12:00:00Z', 3, 'America/New_York'), [
      '2026-03-07T07:30:00.000Z', // 02:30 EST
      '2026-03-09T06:30:00.000Z', // 02:30 EDT; 2026-03-08 has no 02:30
      '2026-03-10T06:30:00.000Z',
    ]);
    assert.deepEqual(fires('cron(30 2 * * ? *)', '2026-10-31T12:00:00Z', 2, 'America/New_York'), [
      '2026-11-01T07:30:00.000Z', // 02:30 EST
      '2026-11-02T07:30:00.000Z',
    ]);
  });

  it('America/New_York: 01:30, which occurs twice when clocks fall back, runs once', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-10-31T12:00:00Z', {
      expression: 'cron(30 1 * * ? *)',
      timezone: 'America/New_York',
    });
    scheduler.start();
    await clock.advance(2 * DAY);
    assert.deepEqual(
      invocations.map(({ at }) => at),
      ['2026-11-01T05:30:00.000Z', '2026-11-02T06:30:00.000Z'], // 01:30 EDT (not 01:30 EST), then 01:30 EST
    );
    await scheduler.stop();
  });

  it('an interval cron keeps running through the repeated hour only once', () => {
    // Every 20 minutes from 01:00 to 02:59, New York, the day clocks fall back.
    assert.deepEqual(fires('cron(0/20 1-2 * * ? *)', '2026-11-01T04:30:00Z', 6, 'America/New_York'), [
      '2026-11-01T05:00:00.000Z', // 01:00 EDT
      '2026-11-01T05:20:00.000Z',
      '2026-11-01T05:40:00.000Z',
      '2026-11-01T07:00:00.000Z', // 02:00 EST: the repeated 01:xx (EST) are not run again
      '2026-11-01T07:20:00.000Z',
      '2026-11-01T07:40:00.000Z',
    ]);
  });

  it('reads UTC when no time zone is given', () => {
    assert.deepEqual(fires('cron(30 2 * * ? *)', '2026-03-28T12:00:00Z', 2), [
      '2026-03-29T02:30:00.000Z',
      '2026-03-30T02:30:00.000Z',
    ]);
  });
});

describe('cron fields as AWS defines them', () => {
  it('numbers the days of the week 1-7 from Sunday, and takes their names', () => {
    // 2026-01-04 is a Sunday.
    assert.deepEqual(fires('cron(0 9 ? * 1 *)', '2026-01-01T00:00:00Z', 2), [
      '2026-01-04T09:00:00.000Z',
      '2026-01-11T09:00:00.000Z',
    ]);
    assert.deepEqual(fires('cron(0 9 ? * 7 *)', '2026-01-01T00:00:00Z', 1), ['2026-01-03T09:00:00.000Z']);
    assert.deepEqual(fires('cron(0 9 ? * SUN *)', '2026-01-01T00:00:00Z', 1), ['2026-01-04T09:00:00.000Z']);
    assert.deepEqual(fires('cron(0 18 ? * MON-FRI *)', '2026-01-02T19:00:00Z', 2), [
      '2026-01-05T18:00:00.000Z', // Friday evening → Monday
      '2026-01-06T18:00:00.000Z',
    ]);
    assert.deepEqual(fires('cron(0 9 ? * 2-6 *)', '2026-01-02T19:00:00Z', 1), ['2026-01-05T09:00:00.000Z']);
  });

  it('takes L as the last day of the month, or of the week, and dL as the last such day', () => {
    assert.deepEqual(fires('cron(0 9 L * ? *)', '2028-01-15T00:00:00Z', 3), [
      '2028-01-31T09:00:00.000Z',
      '2028-02-29T09:00:00.000Z', // a leap year
      '2028-03-31T09:00:00.000Z',
    ]);
    assert.deepEqual(fires('cron(0 9 ? * L *)', '2026-01-01T00:00:00Z', 1), ['2026-01-03T09:00:00.000Z']); // SAT
    assert.deepEqual(fires('cron(0 9 ? * 6L *)', '2026-01-01T00:00:00Z', 2), [
      '2026-01-30T09:00:00.000Z', // the last Friday of January
      '2026-02-27T09:00:00.000Z',
    ]);
  });

  it('takes d#n as the nth such day of the month', () => {
    assert.deepEqual(fires('cron(0 9 ? * 2#1 *)', '2026-01-01T00:00:00Z', 3), [
      '2026-01-05T09:00:00.000Z', // the first Monday
      '2026-02-02T09:00:00.000Z',
      '2026-03-02T09:00:00.000Z',
    ]);
    assert.deepEqual(fires('cron(0 9 ? * 3#2 *)', '2026-01-01T00:00:00Z', 1), ['2026-01-13T09:00:00.000Z']);
  });

  it('takes W as the weekday nearest a day of the month', () => {
    // 2026-02-15 is a Sunday: 15W is Monday the 16th.
    assert.deepEqual(fires('cron(0 9 15W * ? *)', '2026-02-01T00:00:00Z', 1), ['2026-02-16T09:00:00.000Z']);
  });

  it('counts a/n from a, and year steps from 1970', () => {
    assert.deepEqual(fires('cron(5/20 * * * ? *)', '2026-01-01T00:00:00Z', 3), [
      '2026-01-01T00:05:00.000Z',
      '2026-01-01T00:25:00.000Z',
      '2026-01-01T00:45:00.000Z',
    ]);
    assert.deepEqual(fires('cron(0 0 1 1 ? */2)', '2026-06-01T00:00:00Z', 2), [
      '2028-01-01T00:00:00.000Z',
      '2030-01-01T00:00:00.000Z',
    ]);
  });

  it('stops when the years of the year field are over', () => {
    assert.deepEqual(fires('cron(0 0 1 1 ? 2027)', '2026-06-01T00:00:00Z', 3), ['2027-01-01T00:00:00.000Z']);
  });
});

describe('malformed expressions', () => {
  const refused: [expression: string, problem: RegExp, timezone?: string][] = [
    ['every 5 minutes', /rate\(value unit\), cron\(fields\) or at/],
    ['rate(5 minute)', /plural otherwise: rate\(5 minutes\)/],
    ['rate(1 minutes)', /singular for 1.*rate\(1 minute\)/],
    ['rate(0 minutes)', /positive whole value/],
    ['rate(2 weeks)', /minutes, hours or days/],
    ['cron(0 9 * * *)', /6 fields .* not 5/],
    ['cron(0 9 * * * *)', /exactly one of day-of-month and day-of-week must be \?/],
    ['cron(0 9 ? * ? *)', /exactly one of day-of-month and day-of-week must be \?/],
    ['cron(60 9 * * ? *)', /minutes "60": 60 is outside 0-59/],
    ['cron(0 24 * * ? *)', /hours "24"/],
    ['cron(0 9 ? * 0 *)', /day-of-week "0": 0 is outside 1-7/],
    ['cron(0 9 ? * 8 *)', /day-of-week "8"/],
    ['cron(0 9 ? * 2#6 *)', /#n counts 1 to 5/],
    ['cron(0 9 ? * 3#1,6#3 *)', /stand alone in day-of-week/],
    ['cron(0 9 ? * MON/2 *)', /day-of-week "MON\/2"/],
    ['cron(0 9 32 * ? *)', /day-of-month "32"/],
    ['cron(0 9 L-3 * ? *)', /stand alone in day-of-month/],
    ['cron(0 9 * 13 ? *)', /month "13"/],
    ['cron(0 9 * FOO ? *)', /month "FOO"/],
    ['cron(0 9 * * ? 1969)', /year "1969": 1969 is outside 1970-2199/],
    ['cron(0 22-2 * * ? *)', /runs backwards/],
    ['cron(0/90 9 * * ? *)', /not a step/],
    ['at(2026-02-30T10:00:00)', /not a date and time/],
    ['at(2026-03-29T02:30:00)', /does not exist in Europe\/Berlin/, 'Europe/Berlin'],
    ['rate(5 minutes)', /"Mars\/Olympus" is not an IANA time zone/, 'Mars/Olympus'],
  ];

  for (const [expression, problem, timezone] of refused) {
    it(`refuses ${expression}${timezone ? ` in ${timezone}` : ''}`, () => {
      const problems = checkScheduleExpression(expression, timezone);
      assert.ok(
        problems.some((one) => problem.test(one)),
        `expected a problem matching ${problem}, got ${JSON.stringify(problems)}`,
      );
      assert.throws(() => nextFireTime(expression, new Date(), timezone), InvalidScheduleExpressionError);
    });
  }

  it('are refused when a schedule is added', () => {
    const scheduler = new LocalScheduler({ clock: new ManualClock(new Date('2026-01-01T00:00:00Z')) });
    assert.throws(
      () =>
        scheduler.add({ name: 'bad', expression: 'cron(0 9 * * * *)', input: {}, target: async () => {} }),
      InvalidScheduleExpressionError,
    );
  });

  it('accepts what AWS documents', () => {
    for (const expression of [
      'rate(1 minute)',
      'rate(1 hour)',
      'rate(12 hours)',
      'rate(1 day)',
      'cron(0 10 * * ? *)',
      'cron(15 12 * * ? *)',
      'cron(0 18 ? * MON-FRI *)',
      'cron(0 8 1 * ? *)',
      'cron(0/15 * * * ? *)',
      'cron(0/10 * ? * MON-FRI *)',
      'cron(0/5 8-17 ? * MON-FRI *)',
      'cron(0 9 ? * 2#1 *)',
      'cron(0 9 LW * ? *)',
      'cron(0 0 1 JAN,APR,JUL,OCT ? 2026-2030)',
      'at(2026-11-02T09:30:00)',
    ]) {
      assert.deepEqual(checkScheduleExpression(expression), [], expression);
    }
  });
});

describe('one-time schedules', () => {
  it('fire once at the local time in their time zone', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-11-01T00:00:00Z', {
      expression: 'at(2026-11-02T09:30:00)',
      timezone: 'Europe/Berlin',
    });
    scheduler.start();
    await clock.advance(3 * DAY);
    assert.deepEqual(
      invocations.map(({ at }) => at),
      ['2026-11-02T08:30:00.000Z'],
    );
    assert.equal(scheduler.nextFire('idle-sweep'), undefined);
    await scheduler.stop();
  });

  it('never fire when their time is past', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-11-03T00:00:00Z', {
      expression: 'at(2026-11-02T09:30:00)',
    });
    scheduler.start();
    await clock.advance(DAY);
    assert.equal(invocations.length, 0);
    await scheduler.stop();
  });
});

describe('the embedded scheduler', () => {
  it('substitutes the Scheduler context attributes in the input at each invocation', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-01-01T09:59:30Z', {
      expression: 'cron(0 10 * * ? *)',
      input: {
        job: 'idle-sweep',
        scheduledTime: '<aws.scheduler.scheduled-time>',
        executionId: '<aws.scheduler.execution-id>',
        attempt: '<aws.scheduler.attempt-number>',
        trace: ['<aws.scheduler.schedule-arn> at <aws.scheduler.scheduled-time>'],
      },
    });
    scheduler.start();
    await clock.advance(DAY + MINUTE);
    const [first, second] = invocations.map(({ input }) => input);
    assert.equal(first?.job, 'idle-sweep');
    assert.equal(first?.scheduledTime, '2026-01-01T10:00:00Z');
    assert.equal(second?.scheduledTime, '2026-01-02T10:00:00Z');
    assert.equal(first?.attempt, '1');
    assert.match(String(first?.executionId), /^[0-9a-f]{16}$/);
    assert.notEqual(first?.executionId, second?.executionId);
    assert.deepEqual(first?.trace, [
      'arn:aws:scheduler:local:000000000000:schedule/default/idle-sweep at 2026-01-01T10:00:00Z',
    ]);
    await scheduler.stop();
  });

  it('retries a failed invocation with the same execution id and the next attempt number', async () => {
    let failures = 1;
    const { clock, scheduler, invocations, logs } = scheduled(
      '2026-01-01T09:59:00Z',
      {
        expression: 'cron(0 10 * * ? *)',
        input: { executionId: '<aws.scheduler.execution-id>', attempt: '<aws.scheduler.attempt-number>' },
      },
      async () => {
        if (failures-- > 0) throw new Error('store unavailable');
      },
    );
    scheduler.start();
    await clock.advance(2 * MINUTE);
    assert.deepEqual(
      invocations.map(({ at, input }) => [at, input.attempt]),
      [
        ['2026-01-01T10:00:00.000Z', '1'],
        ['2026-01-01T10:00:01.000Z', '2'],
      ],
    );
    assert.equal(invocations[0]?.input.executionId, invocations[1]?.input.executionId);
    assert.match(logs.join('\n'), /failed \(attempt 1\), retrying in 1000 ms: store unavailable/);
    await scheduler.stop();
  });

  it('logs an invocation as undeliverable once its retries are spent', async () => {
    const { clock, scheduler, invocations, logs } = scheduled(
      '2026-01-01T09:59:00Z',
      { expression: 'cron(0 10 * * ? *)' },
      async () => {
        throw new Error('store unavailable');
      },
    );
    scheduler.start();
    await clock.advance(2 * MINUTE);
    assert.deepEqual(
      invocations.map(({ at }) => at),
      ['2026-01-01T10:00:00.000Z', '2026-01-01T10:00:01.000Z', '2026-01-01T10:00:03.000Z'],
    );
    assert.match(logs.join('\n'), /undeliverable after 3 attempt\(s\): store unavailable/);
    await scheduler.stop();
  });

  it('does not catch up the fires missed while stopped', async () => {
    const { clock, scheduler, invocations } = scheduled('2026-01-01T10:00:00Z', {
      expression: 'rate(10 minutes)',
    });
    scheduler.start();
    await clock.advance(10 * MINUTE); // 10:00, 10:10
    await scheduler.stop();
    await clock.advance(HOUR + 5 * MINUTE); // 10:20 ... 11:10 missed
    scheduler.start();
    assert.equal(scheduler.nextFire('idle-sweep')?.toISOString(), '2026-01-01T11:20:00.000Z');
    await clock.advance(10 * MINUTE);
    assert.deepEqual(
      invocations.map(({ at }) => at),
      ['2026-01-01T10:00:00.000Z', '2026-01-01T10:10:00.000Z', '2026-01-01T11:20:00.000Z'],
    );
    await scheduler.stop();
  });

  it('arms the next fire before invoking the target, so that a slow target never delays it', async () => {
    const clock = new ManualClock(new Date('2026-01-01T10:00:00Z'));
    const scheduler = new LocalScheduler({ clock });
    const nextWhileRunning: (string | undefined)[] = [];
    scheduler.add({
      name: 'slow',
      expression: 'rate(1 minute)',
      input: {},
      target: async () => {
        nextWhileRunning.push(scheduler.nextFire('slow')?.toISOString());
      },
    });
    scheduler.start();
    await clock.advance(MINUTE);
    assert.deepEqual(nextWhileRunning, ['2026-01-01T10:01:00.000Z', '2026-01-01T10:02:00.000Z']);
    await scheduler.stop();
  });

  it('waits for the invocations under way when stopped, and drops the waiting retries', async () => {
    const { promise: release, resolve } = Promise.withResolvers<void>();
    let finished = false;
    const clock = new ManualClock(new Date('2026-01-01T10:00:00Z'));
    const scheduler = new LocalScheduler({ clock });
    scheduler.add({
      name: 'slow',
      expression: 'rate(1 hour)',
      input: {},
      target: async () => {
        await release;
        finished = true;
      },
    });
    scheduler.start();
    const firing = clock.advance(0);
    const stopping = scheduler.stop();
    resolve();
    await stopping;
    assert.equal(finished, true);
    await firing;
    assert.equal(clock.pendingTimers, 0);
  });

  it('drops the retries still waiting when stopped', async () => {
    const { clock, scheduler, invocations, logs } = scheduled(
      '2026-01-01T09:59:00Z',
      { expression: 'cron(0 10 * * ? *)' },
      async () => {
        throw new Error('store unavailable');
      },
    );
    scheduler.start();
    await clock.advance(MINUTE); // the first attempt fails; its retry waits a second
    await scheduler.stop();
    await clock.advance(HOUR);
    assert.equal(invocations.length, 1);
    assert.equal(clock.pendingTimers, 0);
    assert.match(logs.join('\n'), /1 waiting retries dropped/);
  });

  it('refuses a bad or taken schedule name', () => {
    const scheduler = new LocalScheduler({ clock: new ManualClock(new Date('2026-01-01T00:00:00Z')) });
    const schedule = { expression: 'rate(5 minutes)', input: {}, target: async () => {} };
    scheduler.add({ name: 'idle-sweep', ...schedule });
    assert.throws(() => scheduler.add({ name: 'idle-sweep', ...schedule }), /already exists/);
    assert.throws(() => scheduler.add({ name: 'idle sweep', ...schedule }), /1 to 64/);
  });
});

describe('the system clock', () => {
  it('drives a scheduler in real time: a rate schedule fires at start', async () => {
    const scheduler = new LocalScheduler();
    const { promise: fired, resolve } = Promise.withResolvers<unknown>();
    scheduler.add({
      name: 'now',
      expression: 'rate(1 hour)',
      input: { at: '<aws.scheduler.scheduled-time>' },
      target: async (input) => resolve(input),
    });
    const started = Date.now();
    scheduler.start();
    const input = (await fired) as { at: string };
    assert.ok(Math.abs(Date.parse(input.at) - started) < 2000);
    assert.ok((scheduler.nextFire('now')?.getTime() ?? 0) - started >= HOUR - 1000);
    await scheduler.stop();
  });
});

describe('the manual clock', () => {
  it('fires due timers in time order, awaiting each, with now() at each timer', async () => {
    const clock = new ManualClock(new Date('2026-01-01T00:00:00Z'));
    const seen: string[] = [];
    clock.setTimer(new Date('2026-01-01T00:02:00Z'), () => seen.push(`b ${clock.now().toISOString()}`));
    clock.setTimer(new Date('2026-01-01T00:01:00Z'), async () => {
      await new Promise((done) => setImmediate(done));
      seen.push(`a ${clock.now().toISOString()}`);
      // Set while advancing, due within the advance: fires in it.
      clock.setTimer(new Date('2026-01-01T00:01:30Z'), () => seen.push(`a2 ${clock.now().toISOString()}`));
    });
    const cancelled = clock.setTimer(new Date('2026-01-01T00:01:10Z'), () => seen.push('cancelled'));
    cancelled();
    clock.setTimer(new Date('2026-01-01T00:05:00Z'), () => seen.push('later'));
    await clock.advance(3 * MINUTE);
    assert.deepEqual(seen, [
      'a 2026-01-01T00:01:00.000Z',
      'a2 2026-01-01T00:01:30.000Z',
      'b 2026-01-01T00:02:00.000Z',
    ]);
    assert.equal(clock.now().toISOString(), '2026-01-01T00:03:00.000Z');
    assert.equal(clock.pendingTimers, 1);
  });
});
