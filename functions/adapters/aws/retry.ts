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

export interface PollPolicy extends Backoff {
  /**
   * Time the poll may spend sleeping before it gives up. Counted from the sleeps (not the wall clock) so
   * that the bound holds with an injected sleep; the API calls in between add a little real time, which the
   * task timeouts in the state machines leave room for.
   */
  budgetMs: number;
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

/**
 * Checks `done` until it holds or the budget is spent, backing off between checks; resolves to whether it
 * held. Every wait for AWS to converge (instances running or terminated, targets drained) goes through
 * here, so none of them can outlive the task that runs it.
 */
export async function pollUntil(done: () => Promise<boolean>, policy: PollPolicy): Promise<boolean> {
  let waited = 0;
  for (let check = 0; ; check++) {
    if (await done()) return true;
    if (waited >= policy.budgetMs) return false;
    const delay = Math.min(backoffDelay(policy, check), policy.budgetMs - waited);
    await policy.sleep(delay);
    waited += delay;
  }
}
