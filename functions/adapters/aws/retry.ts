import { setTimeout } from 'node:timers/promises';

/** Waits `ms` milliseconds. Adapters take one so that tests skip the waiting. */
export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = async (ms) => {
  await setTimeout(ms);
};

/** Exponential backoff: the first delay, doubled after every wait, never above the maximum. */
export interface Backoff {
  firstDelayMs: number;
  maxDelayMs: number;
}

export interface RetryPolicy extends Backoff {
  /** Calls in all, the first one included. */
  attempts: number;
  /** Whether another attempt may succeed where this error failed (throttling, momentary capacity). */
  isRetryable(error: unknown): boolean;
  sleep: Sleep;
}

/** Delay before retry number `retry` (0 for the first retry). */
export function backoffDelay(backoff: Backoff, retry: number): number {
  return Math.min(backoff.firstDelayMs * 2 ** retry, backoff.maxDelayMs);
}

/**
 * Calls `operation` until it succeeds, the error is not retryable, or the attempts are used up; the
 * last error propagates unchanged. `operation` receives the attempt number (0 first), so it can reuse
 * what the caller already read on the first attempt and read afresh on later ones.
 */
export async function retry<T>(operation: (attempt: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt + 1 >= policy.attempts || !policy.isRetryable(error)) throw error;
      await policy.sleep(backoffDelay(policy, attempt));
    }
  }
}
