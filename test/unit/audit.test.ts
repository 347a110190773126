import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  auditHash,
  chainAuditEvent,
  describeVerification,
  GENESIS_HASH,
  verifyAuditChain,
} from '../../functions/core/audit.ts';
import type { AuditEvent, ChainedAuditEvent } from '../../functions/core/types.ts';

function event(n: number, extra: Partial<AuditEvent> = {}): AuditEvent {
  return {
    id: `d-${n}:requested`,
    environment: 'shop',
    at: `2026-12-01T00:00:${String(n).padStart(2, '0')}.000Z`,
    actor: 'arn:aws:sts::000000000000:assumed-role/kiln-team-platform/alice',
    trigger: 'api',
    action: 'deployment.requested',
    detail: { deploymentId: `d-${n}`, generation: n },
    ...extra,
  };
}

/** A chain of `count` events, appended in order. */
function chainOf(count: number): ChainedAuditEvent[] {
  const chain: ChainedAuditEvent[] = [];
  for (let n = 1; n <= count; n++) chain.push(chainAuditEvent(event(n), chain.at(-1)));
  return chain;
}

describe('audit hash chain', () => {
  it('hashes the canonical JSON (RFC 8785) of everything the event records but its hash', () => {
    const chained = chainAuditEvent(event(1, { reason: 'new release' }));
    // JCS: keys sorted by code point, no whitespace; the same bytes whatever order the fields came in.
    const canonical =
      '{"action":"deployment.requested","actor":"arn:aws:sts::000000000000:assumed-role/kiln-team-platform/alice",' +
      '"at":"2026-12-01T00:00:01.000Z","detail":{"deploymentId":"d-1","generation":1},"environment":"shop",' +
      `"id":"d-1:requested","previousHash":"${GENESIS_HASH}","reason":"new release","sequence":1,"trigger":"api"}`;
    assert.equal(chained.hash, createHash('sha256').update(canonical).digest('hex'));
    const reordered = Object.fromEntries(Object.entries(chained).reverse()) as ChainedAuditEvent;
    assert.equal(auditHash(reordered), chained.hash);
  });

  it('links each event to the one before it, from sequence 1 and the genesis hash', () => {
    const [first, second] = chainOf(2);
    assert.deepEqual([first?.sequence, first?.previousHash], [1, GENESIS_HASH]);
    assert.deepEqual([second?.sequence, second?.previousHash], [2, first?.hash]);
  });

  it('chains the JSON form of the event, as the table stores it', () => {
    const chained = chainAuditEvent(event(1, { detail: { missing: undefined, list: [1, undefined] } }));
    assert.deepEqual(chained.detail, { list: [1, null] });
    assert.equal(chained.hash, auditHash(JSON.parse(JSON.stringify(chained))));
  });

  it('finds an intact chain intact, with its count and newest hash', () => {
    const chain = chainOf(5);
    const verification = verifyAuditChain('shop', { beforeChain: [event(0)], chain });
    assert.deepEqual(verification, {
      environment: 'shop',
      events: 5,
      beforeChain: 1,
      intact: true,
      newest: { sequence: 5, hash: chain[4]?.hash },
    });
    assert.match(describeVerification(verification), /shop is intact: 5 chained events; 1 recorded before/);
  });

  it('names an edited event: its hash no longer matches its content', () => {
    const chain = chainOf(5);
    chain[2] = { ...(chain[2] as ChainedAuditEvent), actor: 'mallory' };
    const { intact, mismatch } = verifyAuditChain('shop', { beforeChain: [], chain });
    assert.equal(intact, false);
    assert.deepEqual([mismatch?.sequence, mismatch?.id, mismatch?.problem], [3, 'd-3:requested', 'hash']);
  });

  it('names the event after one that was replaced with its hash recomputed: the link breaks', () => {
    const chain = chainOf(5);
    const forged = { ...(chain[1] as ChainedAuditEvent), reason: 'nothing to see' };
    chain[1] = { ...forged, hash: auditHash(forged) };
    const { mismatch } = verifyAuditChain('shop', { beforeChain: [], chain });
    assert.deepEqual([mismatch?.sequence, mismatch?.problem], [3, 'previous-hash']);
  });

  it('names the event after a deleted one: its sequence is not the one expected there', () => {
    const chain = chainOf(5);
    chain.splice(1, 1);
    const { mismatch } = verifyAuditChain('shop', { beforeChain: [], chain });
    assert.deepEqual([mismatch?.sequence, mismatch?.problem], [3, 'sequence']);
    assert.match(mismatch?.message ?? '', /expected event 2 here, found event 3/);
  });

  it('names the first event out of order when two are swapped', () => {
    const chain = chainOf(5);
    [chain[1], chain[3]] = [chain[3] as ChainedAuditEvent, chain[1] as ChainedAuditEvent];
    const verification = verifyAuditChain('shop', { beforeChain: [], chain });
    assert.deepEqual([verification.mismatch?.sequence, verification.mismatch?.problem], [4, 'sequence']);
    assert.match(describeVerification(verification), /shop is broken at event 4 \(d-4:requested\), sequence/);
  });

  it('names a deleted first event', () => {
    const { mismatch } = verifyAuditChain('shop', { beforeChain: [], chain: chainOf(3).slice(1) });
    assert.deepEqual([mismatch?.sequence, mismatch?.problem], [2, 'sequence']);
  });
});
