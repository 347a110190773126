import type { LifecycleEvent } from '../../functions/core/lifecycle-events.ts';
import type { EventPublisher } from '../../functions/core/ports/events.ts';

/** An in-memory twin of the event bus for tests of the core: it keeps what was published, in order. */
export class RecordingEvents implements EventPublisher {
  readonly published: LifecycleEvent[] = [];

  async publish(events: readonly LifecycleEvent[]): Promise<void> {
    this.published.push(...structuredClone(events));
  }
}
