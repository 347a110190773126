import type { LifecycleEvent } from '../../functions/core/lifecycle-events.ts';
import type { EventPublisher } from '../../functions/core/ports/events.ts';
import type { HookPayload, HookResult, Hooks } from '../../functions/core/ports/hooks.ts';
import type { PushQueue } from '../../functions/core/ports/push-queue.ts';
import type { Secrets } from '../../functions/core/ports/secrets.ts';
import type { Push } from '../../functions/core/pushes.ts';

/** In-memory twins of the edges a test of the core does not exercise (STYLE: small twins of ports). */

/** The event bus: it keeps what was published, in order. */
export class RecordingEvents implements EventPublisher {
  readonly published: LifecycleEvent[] = [];

  async publish(events: readonly LifecycleEvent[]): Promise<void> {
    this.published.push(...structuredClone(events));
  }
}

/** The push queue: it keeps what was enqueued, in order. */
export class RecordingPushQueue implements PushQueue {
  readonly enqueued: Push[] = [];

  async enqueue(push: Push): Promise<void> {
    this.enqueued.push(structuredClone(push));
  }
}

/** Secrets with fixed values. */
export class FixedSecrets implements Secrets {
  readonly #github: string;

  constructor(github = 'test-webhook-secret') {
    this.#github = github;
  }

  async githubWebhookSecret(): Promise<string> {
    return this.#github;
  }
}

/** Lambda's Invoke for hooks: it keeps each invocation and answers `verdict`. */
export class RecordingHooks implements Hooks {
  readonly invoked: { fn: string; payload: HookPayload; timeoutSeconds: number }[] = [];
  verdict: HookResult = { status: 'Succeeded' };

  async invoke(fn: string, payload: HookPayload, timeoutSeconds: number): Promise<HookResult> {
    this.invoked.push({ fn, payload: structuredClone(payload), timeoutSeconds });
    return this.verdict;
  }
}

/** The edges of the Git path and the hooks, for tests that run the workflow but no webhook or hook. */
export function edgeTwins() {
  return {
    events: new RecordingEvents(),
    pushQueue: new RecordingPushQueue(),
    secrets: new FixedSecrets(),
    hooks: new RecordingHooks(),
  };
}
