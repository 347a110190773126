import type { LifecycleEvent } from '../../core/lifecycle-events.ts';
import type { EventPublisher } from '../../core/ports/events.ts';
import { lifecycleEntry } from '../aws/eventbridge-events.ts';
import type { LocalEventBus } from './local-event-bus.ts';

/** PutEvents takes at most 10 entries per call, on the embedded bus as on EventBridge. */
const MAX_ENTRIES = 10;

/**
 * Lifecycle events on the embedded bus, as the same PutEvents entries EventBridge gets. Never throws
 * (see the EventPublisher port): an entry the bus refuses is reported.
 */
export class LocalBusEvents implements EventPublisher {
  readonly #bus: LocalEventBus;
  readonly #reportFailure: (message: string, detail: object) => void;

  constructor(bus: LocalEventBus, reportFailure: (message: string, detail: object) => void) {
    this.#bus = bus;
    this.#reportFailure = reportFailure;
  }

  async publish(events: readonly LifecycleEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += MAX_ENTRIES) {
      const batch = events.slice(start, start + MAX_ENTRIES);
      try {
        const result = await this.#bus.putEvents(batch.map((event) => lifecycleEntry(event, this.#bus.name)));
        const failed = batch.filter((_, index) => result.Entries[index]?.ErrorCode !== undefined);
        if (failed.length > 0) {
          this.#reportFailure('lifecycle events not published', {
            eventIds: failed.map((event) => event.detail.eventId),
            reason: result.Entries.find((entry) => entry.ErrorCode)?.ErrorMessage,
          });
        }
      } catch (error) {
        this.#reportFailure('lifecycle events not published', {
          eventIds: batch.map((event) => event.detail.eventId),
          reason: (error as Error).message,
        });
      }
    }
  }
}
