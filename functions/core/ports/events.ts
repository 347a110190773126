import type { LifecycleEvent } from '../lifecycle-events.ts';

/**
 * Publishes Kiln's lifecycle events to its own event bus (EventBridge on AWS, the in-process bus
 * embedded). Best effort by design, and so it never throws: an event describes a change already
 * recorded, and failing to announce it must not fail or roll back that change. A publish that still
 * fails after the adapter's retries is logged as an error (alarmed on AWS). Every event carries a stable
 * id (`detail.eventId`): a task that runs again publishes the same event again, recognisably.
 */
export interface EventPublisher {
  publish(events: readonly LifecycleEvent[]): Promise<void>;
}
