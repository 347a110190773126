import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundError, VersionConflictError } from '../../functions/core/errors.ts';
import { type BackoffEnvironment, CONFLICT_BACKOFF, retryOnConflict } from '../../functions/core/requests.ts';

/** A clock that moves only when retryOnConflict sleeps, and records every sleep. */
function fakeTime(random = () => 0.999_999): BackoffEnvironment & { sleeps: number[] } {
  let now = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
    random,
    now: () => now,
  };
}

/** An attempt that loses to a concurrent writer `losses` times, then succeeds. */
function losing(losses: number) {
  let calls = 0;
  const attempt = async () => {
    calls++;
    if (calls <= losses)
      throw new VersionConflictError('environment e is at version 4, not the expected version 3');
    return 'done';
  };
  return { attempt, calls: () => calls };
}

describe('retrying after a concurrent writer won', () => {
  it('re-runs the attempt until it wins, sleeping in windows that double up to the cap', async () => {
    const time = fakeTime();
    const { attempt, calls } = losing(9);
    assert.equal(await retryOnConflict(undefined, attempt, CONFLICT_BACKOFF, time), 'done');
    assert.equal(calls(), 10);
    // random() just below 1: each sleep is just below its window: 10, 20, 40, ... ms, capped at 1 s.
    assert.deepEqual(time.sleeps, [9, 19, 39, 79, 159, 319, 639, 999, 999]);
  });

  it('sleeps a uniformly random part of each window (full jitter)', async () => {
    const draws = [0, 0.5, 0.25];
    const time = fakeTime(() => draws.shift() ?? 0);
    await retryOnConflict(undefined, losing(3).attempt, CONFLICT_BACKOFF, time);
    assert.deepEqual(time.sleeps, [0, 10, 10]);
  });

  it('gives a request with If-Match its conflict at once', async () => {
    const time = fakeTime();
    const { attempt, calls } = losing(1);
    await assert.rejects(retryOnConflict(3, attempt, CONFLICT_BACKOFF, time), /not the expected version 3/);
    assert.equal(calls(), 1);
    assert.deepEqual(time.sleeps, []);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    const attempt = async () => {
      calls++;
      throw new NotFoundError('environment e does not exist');
    };
    await assert.rejects(retryOnConflict(undefined, attempt, CONFLICT_BACKOFF, fakeTime()), NotFoundError);
    assert.equal(calls, 1);
  });

  it('stops once the time budget is spent, well inside API Gateway’s 29 s', async () => {
    const time = fakeTime();
    const { attempt, calls } = losing(1000);
    await assert.rejects(retryOnConflict(undefined, attempt, CONFLICT_BACKOFF, time), (error) => {
      assert.ok(error instanceof VersionConflictError);
      assert.match(error.message, /other requests kept changing the environment .*send the request again/);
      return true;
    });
    const slept = time.sleeps.reduce((a, b) => a + b, 0);
    assert.ok(
      slept >= CONFLICT_BACKOFF.budgetMs && slept < CONFLICT_BACKOFF.budgetMs + CONFLICT_BACKOFF.capMs,
    );
    assert.ok(calls() <= CONFLICT_BACKOFF.maxAttempts);
  });

  it('stops after maxAttempts however fast the attempts are', async () => {
    const time = fakeTime(() => 0);
    const { attempt, calls } = losing(1000);
    await assert.rejects(retryOnConflict(undefined, attempt, CONFLICT_BACKOFF, time), VersionConflictError);
    assert.equal(calls(), CONFLICT_BACKOFF.maxAttempts);
  });
});
