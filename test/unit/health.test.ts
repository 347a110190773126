import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allTrafficTo } from '../../functions/core/blue-green.ts';
import {
  deadlinePassed,
  foldProbeRound,
  healthDeadline,
  type TargetHealth,
} from '../../functions/core/health.ts';
import { sampleSpec } from '../support/specs.ts';

const check = sampleSpec().healthCheck;
const SINCE = '2026-01-01T00:00:00.000Z';
const healthy = (n: number): TargetHealth[] =>
  Array.from({ length: n }, (_, i) => ({ instanceId: `i-${i}`, healthy: true }));

describe('health wait', () => {
  it('is healthy after healthyThreshold good rounds in a row', () => {
    let progress = { consecutive: 0, deadline: '2099-01-01T00:00:00.000Z', since: SINCE };
    const first = foldProbeRound(progress, healthy(2), 2, check);
    assert.equal(first.healthy, false);
    progress = first;
    const second = foldProbeRound(progress, healthy(2), 2, check);
    assert.equal(second.healthy, true);
    assert.equal(second.consecutive, 2);
  });

  it('resets the count on any bad round and says which instance failed', () => {
    const round = [...healthy(1), { instanceId: 'i-9', healthy: false, reason: 'status 503' }];
    const progress = foldProbeRound(
      { consecutive: 5, deadline: '2099-01-01T00:00:00.000Z', since: SINCE },
      round,
      2,
      check,
    );
    assert.equal(progress.consecutive, 0);
    assert.equal(progress.healthy, false);
    assert.match(progress.lastFailure ?? '', /i-9: status 503/);
  });

  it('does not count a round that is missing instances, however healthy the others are', () => {
    const progress = foldProbeRound(
      { consecutive: 1, deadline: '2099-01-01T00:00:00.000Z', since: SINCE },
      healthy(1),
      2,
      check,
    );
    assert.equal(progress.consecutive, 0);
    assert.match(progress.lastFailure ?? '', /1 of 2 instances/);
  });

  it('healthy exactly when the last `healthyThreshold` rounds were all good (any sequence)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 30 }),
        fc.integer({ min: 1, max: 5 }),
        (rounds, threshold) => {
          const hc = { ...check, healthyThreshold: threshold };
          let progress = {
            consecutive: 0,
            deadline: '2099-01-01T00:00:00.000Z',
            since: SINCE,
            healthy: false,
          };
          for (const good of rounds) {
            progress = foldProbeRound(progress, [{ instanceId: 'i', healthy: good }], 1, hc);
          }
          const tail = rounds.slice(-threshold);
          assert.equal(progress.healthy, tail.length === threshold && tail.every(Boolean));
        },
      ),
    );
  });

  it('passes its deadline deadlineSeconds after launch', () => {
    const launched = new Date('2026-01-01T00:00:00Z');
    const deadline = healthDeadline(launched, { ...check, deadlineSeconds: 30 });
    assert.equal(deadlinePassed({ deadline }, new Date('2026-01-01T00:00:30Z')), false);
    assert.equal(deadlinePassed({ deadline }, new Date('2026-01-01T00:00:31Z')), true);
  });
});

describe('traffic split', () => {
  it('sends all traffic to one stack and zero to every other registered stack', () => {
    assert.deepEqual(allTrafficTo('e-v0002', ['e-v0001', 'e-v0002']), { 'e-v0002': 100, 'e-v0001': 0 });
    assert.deepEqual(allTrafficTo('e-v0001', []), { 'e-v0001': 100 });
  });

  it('zeroes a stack a lost deployment left weighted, whatever the split was', () => {
    assert.deepEqual(allTrafficTo('e-v0001', ['e-v0001', 'e-v0002', 'e-v0003']), {
      'e-v0001': 100,
      'e-v0002': 0,
      'e-v0003': 0,
    });
  });

  it('sends traffic nowhere when there is no stack to send it to', () => {
    assert.deepEqual(allTrafficTo(undefined, ['e-v0001']), { 'e-v0001': 0 });
  });

  it('always leaves exactly one stack weighted, at 100 (any registered set)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1 }), { maxLength: 8 }),
        fc.string({ minLength: 1 }),
        (registered, target) => {
          const weights = allTrafficTo(target, registered);
          assert.deepEqual(
            Object.entries(weights).filter(([, w]) => w > 0),
            [[target, 100]],
          );
          for (const id of registered) assert.ok(id in weights);
        },
      ),
    );
  });
});
