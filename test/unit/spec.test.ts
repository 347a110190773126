import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { generationOf, specsEqual, stackIdFor } from '../../functions/core/spec.ts';
import { sampleSpec } from '../support/specs.ts';

describe('stack ids', () => {
  it('names a stack after its environment and zero-padded generation', () => {
    assert.equal(stackIdFor('checkout-staging', 7), 'checkout-staging-v0007');
  });

  it('reads back the generation of any stack id it made', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z][a-z0-9-]{1,20}[a-z0-9]$/),
        fc.integer({ min: 1, max: 99_999 }),
        (env, gen) => {
          assert.equal(generationOf(stackIdFor(env, gen)), gen);
        },
      ),
    );
  });

  it('does not read a generation from an id Kiln did not make', () => {
    assert.equal(generationOf('checkout'), undefined);
    assert.equal(generationOf('checkout-v7'), undefined);
  });
});

describe('specsEqual', () => {
  it('ignores key order, including inside env', () => {
    const a = sampleSpec({ env: { A: '1', B: '2' } });
    const b = JSON.parse(JSON.stringify({ ...a, env: { B: '2', A: '1' } }));
    assert.ok(specsEqual(a, b));
  });

  it('sees a changed version, capacity or env value', () => {
    const a = sampleSpec();
    assert.ok(!specsEqual(a, { ...a, version: '2.0.0' }));
    assert.ok(!specsEqual(a, { ...a, capacity: a.capacity + 1 }));
    assert.ok(!specsEqual(a, { ...a, env: { X: 'y' } }));
  });

  it('treats a missing spec as equal only to another missing spec', () => {
    assert.ok(specsEqual(undefined, undefined));
    assert.ok(!specsEqual(sampleSpec(), undefined));
  });
});
