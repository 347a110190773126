import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { AuditEvent, ChainedAuditEvent } from './types.ts';

/**
 * The audit trail's hash chain. Each environment's events form one chain: event n records the hash of
 * event n-1, and its own hash covers everything it records (who, what, when, why, its trigger, its
 * sequence number and that previous hash). Changing, removing or reordering an event inside the chain
 * breaks it at that event, which `verifyAuditChain` names. The chain cannot show a cut tail (its newest
 * events removed): keeping the newest `sequence` and `hash` elsewhere does (see README "Audit trail").
 *
 * Appending is the store's (StateStore.appendAudit): one conditional write at the next sequence number.
 */

/** The previous hash of an environment's first chained event. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * An append finds a retried event among this many newest events of its chain, and then appends nothing.
 * Tasks and requests are retried within seconds, a few events later; one retried after this many other
 * events of the same environment would be appended again, as a new event.
 */
export const AUDIT_DEDUPE_WINDOW = 32;

/** SHA-256 (hex) of the event's canonical JSON (RFC 8785 JCS), everything but its `hash` included. */
export function auditHash(event: Omit<ChainedAuditEvent, 'hash'> & { hash?: unknown }): string {
  const { hash: _hash, ...hashed } = event;
  return createHash('sha256')
    .update(canonicalize(hashed) ?? '')
    .digest('hex');
}

/**
 * `event` as the next event of its chain after `previous` (the chain's newest event; undefined when the
 * chain is empty). The event is taken in its JSON form, as the store keeps it and the verifier reads it.
 */
export function chainAuditEvent(event: AuditEvent, previous?: ChainedAuditEvent): ChainedAuditEvent {
  const linked = {
    ...(JSON.parse(JSON.stringify(event)) as AuditEvent),
    sequence: (previous?.sequence ?? 0) + 1,
    previousHash: previous?.hash ?? GENESIS_HASH,
  };
  return { ...linked, hash: auditHash(linked) };
}

/** An environment's audit trail as stored, oldest first. */
export interface AuditTrail {
  /** Events an older Kiln recorded before the chain existed: listed, not covered by the chain. */
  beforeChain: AuditEvent[];
  /** The chain's events, in the order of their sequence numbers' keys. */
  chain: ChainedAuditEvent[];
}

/** The first chained event that does not match, and what is wrong with it. */
export interface AuditMismatch {
  sequence: number;
  id: string;
  /**
   * `hash`: its content is not what its hash was computed over (it was edited); `sequence`: it is not the
   * event expected at its place (one before it is missing, or events were reordered); `previous-hash`: it
   * does not link to the event before it (that one was replaced, its hash recomputed).
   */
  problem: 'hash' | 'sequence' | 'previous-hash';
  message: string;
}

export interface AuditVerification {
  environment: string;
  intact: boolean;
  /** Chained events checked. */
  events: number;
  /** Events recorded before the chain existed (not covered by it). */
  beforeChain: number;
  /** The newest chained event: kept elsewhere, it lets a later verification show a cut tail. */
  newest?: { sequence: number; hash: string };
  /** When not intact: the first event that does not match. */
  mismatch?: AuditMismatch;
}

/** Recomputes an environment's chain from its first event and names the first that does not match. */
export function verifyAuditChain(environment: string, trail: AuditTrail): AuditVerification {
  const result = { environment, events: trail.chain.length, beforeChain: trail.beforeChain.length };
  let previous: ChainedAuditEvent | undefined;
  for (const event of trail.chain) {
    const mismatch = mismatchOf(event, previous);
    if (mismatch) return { ...result, intact: false, mismatch };
    previous = event;
  }
  return {
    ...result,
    intact: true,
    ...(previous ? { newest: { sequence: previous.sequence, hash: previous.hash } } : {}),
  };
}

/** What is wrong with `event` as the successor of `previous` (undefined: the chain's first), if anything. */
function mismatchOf(event: ChainedAuditEvent, previous?: ChainedAuditEvent): AuditMismatch | undefined {
  const expected = (previous?.sequence ?? 0) + 1;
  const name = `event ${event.sequence} (${event.id})`;
  const recomputed = auditHash(event);
  if (recomputed !== event.hash) {
    return {
      sequence: event.sequence,
      id: event.id,
      problem: 'hash',
      message: `${name} was changed after it was recorded: its content hashes to ${recomputed}, not to its recorded hash ${event.hash}`,
    };
  }
  if (event.sequence !== expected) {
    return {
      sequence: event.sequence,
      id: event.id,
      problem: 'sequence',
      message: `expected event ${expected} here, found ${name}: an event before it is missing or the events are out of order`,
    };
  }
  const previousHash = previous?.hash ?? GENESIS_HASH;
  if (event.previousHash !== previousHash) {
    return {
      sequence: event.sequence,
      id: event.id,
      problem: 'previous-hash',
      message: `${name} does not follow the event before it: it records the previous hash ${event.previousHash}, the chain has ${previousHash}`,
    };
  }
  return undefined;
}

/** One line (or two) a person reads: intact with its count, or where and how it is broken. */
export function describeVerification(verification: AuditVerification): string {
  const { environment, events, beforeChain, newest, mismatch } = verification;
  const unchained = beforeChain > 0 ? `; ${beforeChain} recorded before the chain (not covered)` : '';
  if (mismatch) {
    return `audit trail of ${environment} is broken at event ${mismatch.sequence} (${mismatch.id}), ${mismatch.problem}:\n  ${mismatch.message}`;
  }
  const tip = newest ? `; newest: event ${newest.sequence}, hash ${newest.hash}` : '';
  return `audit trail of ${environment} is intact: ${events} chained events${unchained}${tip}`;
}
